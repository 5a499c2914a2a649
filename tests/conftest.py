"""Shared fixtures: a local HTTP server and small sample files.

Keep this file small; fixtures used by one test module belong in that module.
"""

from __future__ import annotations

import resource
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from tests.fake_gemini import FakeGemini
from tests.http_server import LocalHTTPServer

pytest_plugins = ["tests.spark.fixtures"]  # the session's Spark cluster, started on first use


def pytest_configure(config: pytest.Config) -> None:
    # The whole suite runs in one process: VegaFusion's and vl-convert's runtimes,
    # worker pipes and test servers together pass the common 1024 soft limit on
    # open files. Raise the soft limit up to the hard one the machine allows.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 16384 if hard == resource.RLIM_INFINITY else min(hard, 16384)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@pytest.fixture
def sample_frame() -> pl.DataFrame:
    """Five rows covering the friendly types: Integer, Text, Decimal, Date, Timestamp, Boolean."""
    return pl.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "city": ["Oslo", "Lima", "Pune", "Kyiv", "Baku"],
            "price": [10.5, 3.25, 7.0, 1.75, 12.0],
            "day": [date(2024, 1, d) for d in range(1, 6)],
            "seen": [datetime(2024, 1, d, 12, 30) for d in range(1, 6)],
            "ok": [True, False, True, True, False],
        }
    )


@pytest.fixture
def parquet_file(tmp_path: Path, sample_frame: pl.DataFrame) -> Path:
    path = tmp_path / "sample.parquet"
    sample_frame.write_parquet(path)
    return path


@pytest.fixture
def csv_file(tmp_path: Path, sample_frame: pl.DataFrame) -> Path:
    path = tmp_path / "sample.csv"
    sample_frame.write_csv(path)
    return path


@pytest.fixture
def http_root(tmp_path: Path, sample_frame: pl.DataFrame) -> Path:
    """The folder the HTTP server serves: ``sample.parquet`` and ``not_parquet.parquet``."""
    root = tmp_path / "www"
    root.mkdir()
    sample_frame.write_parquet(root / "sample.parquet")
    (root / "not_parquet.parquet").write_text("id,city\n1,Oslo\n")
    return root


@pytest.fixture
def http_server(http_root: Path) -> Iterator[LocalHTTPServer]:
    """A threaded HTTP server on 127.0.0.1 serving :func:`http_root` (HEAD, GET, ranges)."""
    with LocalHTTPServer(http_root) as server:
        yield server


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's key or settings, or writes to their history file."""
    import os

    for name in list(os.environ):
        if name.startswith("CHATDF_") or name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CHATDF_DB_PATH", ":memory:")


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    """A started fake Gemini API on 127.0.0.1 with an empty script."""
    with FakeGemini() as fake:
        yield fake

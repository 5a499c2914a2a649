"""Fixtures for the engine tests: data files of every source kind and engines.

Engines here are real: real worker processes reading real files. Tests that
break workers get their own small engine (``make_engine``); tests that only
read share one per module to keep the suite fast.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
import pytest_asyncio
from _engine_helpers import SLOW_ROWS, people_frame, teams_frame  # type: ignore[import-not-found]

from chatdf.engine import Engine
from chatdf.models import TableSource
from chatdf.settings import load_settings


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """people as parquet, CSV (two files, read by a glob) and IPC; teams as parquet; slow."""
    root = tmp_path_factory.mktemp("engine-data")
    people = people_frame()
    people.write_parquet(root / "people.parquet")
    people.head(3).write_csv(root / "people-1.csv")
    people.tail(3).write_csv(root / "people-2.csv")
    people.write_ipc(root / "people.arrow", compression="uncompressed")
    teams_frame().write_parquet(root / "teams.parquet")
    pl.DataFrame({"x": range(SLOW_ROWS)}).write_parquet(root / "slow.parquet")
    return root


@pytest.fixture(scope="module")
def tables(data_dir: Path) -> dict[str, TableSource]:
    return {
        "people": TableSource(
            name="people", kind="parquet", location=str(data_dir / "people.parquet")
        ),
        "people_csv": TableSource(
            name="people_csv", kind="csv", location=str(data_dir / "people-*.csv")
        ),
        "people_ipc": TableSource(
            name="people_ipc", kind="ipc", location=str(data_dir / "people.arrow")
        ),
        "Teams": TableSource(
            name="Teams", kind="parquet", location=str(data_dir / "teams.parquet")
        ),
        "slow": TableSource(name="slow", kind="parquet", location=str(data_dir / "slow.parquet")),
    }


@pytest.fixture
def make_engine(tmp_path: Path) -> Iterator[Callable[..., Awaitable[Engine]]]:
    """Build engines with the given settings; every one is closed after the test."""
    engines: list[Engine] = []

    async def make(**settings: object) -> Engine:
        settings.setdefault("workers", 1)
        settings.setdefault("worker_memory_mb", 1024)
        engine = Engine(load_settings(**settings), tmp_path / f"work{len(engines)}")
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close_now()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_engine(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Engine]:
    engine = Engine(
        load_settings(workers=2, worker_memory_mb=1024), tmp_path_factory.mktemp("shared")
    )
    yield engine
    await engine.close()

"""Shared fixtures for the hostile corpora: secrets an attacker wants, and a leak check.

Every corpus here plays an attacker (a hostile model, a crafted widget message,
a malicious URL) against real parts. ``secrets`` holds files with a fake API
key and private rows; ``no_leak`` fails a test if any of their content shows up
in text that left chatdf (a function response, an answer, an error, a row).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

FAKE_KEY = "chatdf-FAKE-key-security-canary-7Q2x"
"""Shaped like a Gemini API key; must never leave the file it is written in."""

PRIVATE_ROW = "private-row-canary-5kV9"
"""A value only the secret files hold."""

PASSWD_LINE = "root:x:0:0"
"""The start of /etc/passwd's first line."""


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A folder of files no query may read: ``.env`` and private data in every format."""
    root = tmp_path_factory.mktemp("secrets")
    private = pl.DataFrame({"secret": [PRIVATE_ROW, FAKE_KEY], "n": [1, 2]})
    paths = {
        "env": root / ".env",
        "csv": root / "private.csv",
        "parquet": root / "private.parquet",
        "ipc": root / "private.arrow",
        "json": root / "private.ndjson",
    }
    paths["env"].write_text(f"GEMINI_API_KEY={FAKE_KEY}\nDB_PASSWORD={PRIVATE_ROW}\n")
    private.write_csv(paths["csv"])
    private.write_parquet(paths["parquet"])
    private.write_ipc(paths["ipc"])
    private.write_ndjson(paths["json"])
    return paths


@pytest.fixture(scope="module")
def no_leak() -> Callable[..., None]:
    """``no_leak(*things)`` fails if any secret's content appears in ``things``.

    Each thing may be text, bytes, a DataFrame or anything with a ``repr``.
    """

    def check(*things: Any) -> None:
        for text in _texts(things):
            for canary in (FAKE_KEY, "chatdf-FAKE-key", PRIVATE_ROW, PASSWD_LINE):
                assert canary not in text, f"{canary!r} leaked into: {text[:300]!r}"

    return check


def _texts(things: Iterable[Any]) -> Iterable[str]:
    for thing in things:
        if isinstance(thing, bytes):
            yield thing.decode("utf-8", "replace")
        elif isinstance(thing, pl.DataFrame):
            yield thing.write_csv()
        else:
            yield thing if isinstance(thing, str) else repr(thing)

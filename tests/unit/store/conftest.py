"""Fixtures of the store tests: a history file in tmp_path, a store on it, a fake clock."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from chatdf.store import Store

START = 1_750_000_000.0
"""An arbitrary fixed epoch second the fake clock starts at."""


class FakeClock:
    """An epoch-seconds clock that moves only when told to."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "history.db"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(db_path: Path, clock: FakeClock) -> AsyncIterator[Store]:
    opened = await Store.open(db_path, clock=clock)
    yield opened
    await opened.close()


@pytest.fixture
def raw(db_path: Path) -> Callable[..., list[tuple]]:
    """Query the history file with plain sqlite3, as another process would."""

    def query(sql: str, params: tuple = ()) -> list[tuple]:
        conn = sqlite3.connect(db_path)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    return query

"""Helpers the engine tests share (imported as a top-level module, like pytest does)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime

import polars as pl
import psutil

SLOW_ROWS = 200_000
"""Rows of the table whose self cross join keeps a worker busy for over a minute."""


def people_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6],
            "name": ["Ada", "Bo", "Cy", "Di", "Ed", None],
            "team": ["red", "blue", "red", "green", "blue", "red"],
            "score": [9.5, 7.25, 8.0, None, 6.5, 7.75],
            "born": [date(1990, 1, d) for d in range(1, 7)],
            "seen": [datetime(2024, 5, d, 8, 30) for d in range(1, 7)],
            "active": [True, False, True, True, None, False],
        }
    )


def teams_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {"team": ["red", "blue", "green", "black"], "city": ["Oslo", "Lima", "Pune", "Baku"]}
    )


SLOW_SQL = "SELECT COUNT(*) AS n FROM slow a CROSS JOIN slow b WHERE (a.x * b.x) % 7 = 3"
"""About 4e10 row pairs: streams in constant memory and runs far longer than any test waits."""


async def wait_until_gone(pids: list[int], seconds: float = 5.0) -> list[int]:
    """Wait for processes to exit; returns the ones still alive after ``seconds``."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        alive = [pid for pid in pids if is_alive(pid)]
        if not alive or asyncio.get_running_loop().time() > deadline:
            return alive
        await asyncio.sleep(0.05)


def is_alive(pid: int) -> bool:
    """True for a running process; an exited one that nobody reaped yet counts as gone."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False

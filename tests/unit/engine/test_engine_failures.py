"""Workers that hang, overeat, crash or lose their kernel: each ends cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest
from _engine_helpers import SLOW_SQL, is_alive, wait_until_gone  # type: ignore[import-not-found]

from chatdf.engine import Engine
from chatdf.errors import QueryError
from chatdf.models import TableSource

REPO = Path(__file__).resolve().parents[3]


async def busy_worker(engine: Engine, task: asyncio.Task) -> int:
    """The pid of the worker running ``task``'s query, once it is running."""
    for _ in range(400):
        pids = engine.worker_pids()
        if pids and not engine._idle and not task.done():
            await asyncio.sleep(0.2)  # let it get into the query itself
            return pids[0]
        await asyncio.sleep(0.025)
    raise AssertionError("the query never started")


async def test_timeout_kills_the_worker_and_the_next_query_works(
    make_engine, tables: dict[str, TableSource]
) -> None:
    engine = await make_engine(query_timeout=30)
    await engine.run("SELECT 1 AS warm", tables)
    [first] = engine.worker_pids()

    with pytest.raises(QueryError) as caught:
        await engine.run(SLOW_SQL, tables, timeout=1)
    assert caught.value.error_type == "timeout"
    assert "1 s" in caught.value.message
    assert await wait_until_gone([first]) == []

    result = await engine.run("SELECT COUNT(*) AS n FROM people", tables)
    assert result.data.item() == 6
    assert engine.worker_pids() != [first]


async def test_settings_timeout_applies_by_default(
    make_engine, tables: dict[str, TableSource]
) -> None:
    engine = await make_engine(query_timeout=1)
    with pytest.raises(QueryError) as caught:
        await engine.run(SLOW_SQL, tables)
    assert caught.value.error_type == "timeout"
    assert caught.value.details == {"timeout_s": 1.0}


async def test_memory_limit_stops_the_query_and_the_worker_is_replaced(
    make_engine, tables: dict[str, TableSource], tmp_path: Path
) -> None:
    pl.DataFrame({"x": range(1_000_000)}).write_parquet(tmp_path / "million.parquet")
    tables = {
        **tables,
        "million": TableSource(
            name="million", kind="parquet", location=str(tmp_path / "million.parquet")
        ),
    }
    engine = await make_engine(worker_memory_mb=300)
    # 60 million sorted keys (~1 GB with the sort's scratch space) cannot fit in 300 MB.
    hungry = (
        "SELECT a.x * 100 + b.x AS k FROM million a "
        "CROSS JOIN (SELECT x FROM million LIMIT 60) b ORDER BY k DESC"
    )
    with pytest.raises(QueryError) as caught:
        await engine.run(hungry, tables)
    assert caught.value.error_type == "memory"
    assert "300 MB" in caught.value.message
    # Small queries fit fine, on a fresh worker.
    result = await engine.run("SELECT COUNT(*) AS n FROM million", tables)
    assert result.data.item() == 1_000_000


async def test_a_worker_killed_mid_query_is_a_crash_and_is_replaced(
    make_engine, tables: dict[str, TableSource]
) -> None:
    engine = await make_engine()
    task = asyncio.ensure_future(engine.run(SLOW_SQL, tables))
    pid = await busy_worker(engine, task)
    os.kill(pid, signal.SIGKILL)

    with pytest.raises(QueryError) as caught:
        await task
    assert caught.value.error_type == "crashed"
    assert "SIGKILL" in caught.value.message and "restarted" in caught.value.message

    result = await engine.run("SELECT MAX(id) AS top FROM people", tables)
    assert result.data.item() == 6
    assert pid not in engine.worker_pids()


async def test_a_full_queue_answers_busy(make_engine, tables: dict[str, TableSource]) -> None:
    engine = await make_engine(queue_depth=1)
    running = asyncio.ensure_future(engine.run(SLOW_SQL, tables))
    await busy_worker(engine, running)
    waiting = asyncio.ensure_future(engine.run("SELECT 1 AS one", tables))
    await asyncio.sleep(0.05)

    with pytest.raises(QueryError) as caught:
        await engine.run("SELECT 2 AS two", tables)
    assert caught.value.error_type == "busy"
    assert caught.value.message == "Server busy, please retry"

    running.cancel()
    # The queued query gets the replacement worker and completes.
    assert (await waiting).data.item() == 1
    with pytest.raises(asyncio.CancelledError):
        await running


async def test_cancelling_the_caller_kills_the_running_query(
    make_engine, tables: dict[str, TableSource]
) -> None:
    engine = await make_engine()
    task = asyncio.ensure_future(engine.run(SLOW_SQL, tables))
    pid = await busy_worker(engine, task)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_until_gone([pid], seconds=3) == []
    assert (await engine.run("SELECT 3 AS three", tables)).data.item() == 3


async def test_cancelling_a_queued_query_leaves_the_pool_whole(
    make_engine, tables: dict[str, TableSource]
) -> None:
    engine = await make_engine()
    running = asyncio.ensure_future(engine.run("SELECT COUNT(*) AS n FROM people", tables))
    queued = asyncio.ensure_future(engine.run("SELECT 1 AS one", tables))
    await asyncio.sleep(0)
    queued.cancel()
    assert (await running).data.item() == 6
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert (await engine.run("SELECT 4 AS four", tables)).data.item() == 4
    assert len(engine.worker_pids()) == 1


async def test_close_leaves_no_worker_processes(
    make_engine, tables: dict[str, TableSource]
) -> None:
    engine = await make_engine(workers=2)
    running = asyncio.ensure_future(engine.run(SLOW_SQL, tables))
    await busy_worker(engine, running)
    # The second worker starts in the background; a loaded CI box takes more than 5 s to spawn it.
    for _ in range(600):
        if len(engine.worker_pids()) == 2:
            break
        await asyncio.sleep(0.05)
    pids = engine.worker_pids()
    assert len(pids) == 2

    await engine.close()
    with pytest.raises(QueryError) as caught:
        await running
    assert caught.value.error_type == "cancelled"
    assert [pid for pid in pids if is_alive(pid)] == []
    assert not engine._dir.exists()
    with pytest.raises(QueryError, match="closed"):
        await engine.run("SELECT 1", tables)


def test_close_now_from_sync_code_stops_workers(
    make_engine, tables: dict[str, TableSource]
) -> None:
    async def start() -> tuple[Engine, list[int]]:
        engine = await make_engine(workers=2)
        await engine.run("SELECT 1 AS one", tables)
        return engine, engine.worker_pids()

    engine, pids = asyncio.run(start())
    engine.close_now()
    assert [pid for pid in pids if is_alive(pid)] == []


@pytest.mark.slow
async def test_workers_exit_when_their_kernel_is_killed(
    tables: dict[str, TableSource], tmp_path: Path
) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, json, sys
        sys.path.insert(0, {str(REPO)!r})
        from chatdf.engine import Engine
        from chatdf.models import TableSource
        from chatdf.settings import load_settings

        async def main():
            tables = {{"slow": TableSource(name="slow", kind="parquet", location={tables["slow"].location!r})}}
            engine = Engine(load_settings(workers=2, worker_memory_mb=1024), {str(tmp_path)!r})
            await engine.run("SELECT 1 AS one", tables)
            query = asyncio.ensure_future(engine.run({SLOW_SQL!r}, tables))
            while len(engine.worker_pids()) < 2:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            print(json.dumps(engine.worker_pids()), flush=True)
            await query

        asyncio.run(main())
        """
    )
    kernel = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        line = await asyncio.wait_for(asyncio.to_thread(kernel.stdout.readline), 60)
        pids = json.loads(line)
        assert len(pids) == 2 and all(is_alive(pid) for pid in pids)
    finally:
        kernel.kill()
        kernel.wait()
        kernel.stdout.close()
    assert await wait_until_gone(pids, seconds=5) == []


async def test_the_event_loop_keeps_running_during_a_long_query(
    make_engine, tables: dict[str, TableSource]
) -> None:
    engine = await make_engine()
    await engine.run("SELECT 1 AS warm", tables)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.ensure_future(ticker())
    with pytest.raises(QueryError):
        await engine.run(SLOW_SQL, tables, timeout=1.5)
    ticking.cancel()
    # A blocked loop would have ticked once or twice; timing numbers live in bench/engine.py.
    assert ticks > 30


async def test_nothing_starts_before_the_first_query(make_engine) -> None:
    engine = await make_engine(workers=2)
    assert engine.worker_pids() == []
    assert not engine._dir.exists()

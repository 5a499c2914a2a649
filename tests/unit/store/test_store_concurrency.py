"""Two kernels writing to one history file at once: nothing lost, nothing "locked"."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from _store_writer import write_history  # type: ignore[import-not-found]

from chatdf.store import Store

WRITES = 300


@pytest.mark.slow
@pytest.mark.parametrize(
    "busy_timeout",
    [5.0, 0.0],
    ids=["busy-timeout", "retry-only"],  # 0: every collision goes through the store's retry
)
async def test_two_processes_write_concurrently_without_losing_rows(
    db_path: Path, busy_timeout: float
) -> None:
    await (await Store.open(db_path)).close()  # the schema exists, as after a first kernel
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(2), ctx.Queue()
    workers = [
        ctx.Process(
            target=write_history, args=(str(db_path), tag, WRITES, busy_timeout, start, out)
        )
        for tag in ("a", "b")
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)

    assert [r for r in results if r[0] != "ok"] == []
    store = await Store.open(db_path)
    try:
        for _, tag, conversation_id, _ in results:
            conversation = await store.get_conversation(conversation_id)
            assert [m.content for m in conversation.messages] == [
                f"{tag}-{i}" for i in range(WRITES)
            ]
            assert (await store.usage_summary(tag, 0)).used == 2 * WRITES
    finally:
        await store.close()

"""Target of the two-process test: one kernel writing to a shared history file.

A module of its own so ``multiprocessing`` (spawn) can import it in the child.
"""

from __future__ import annotations

import asyncio
from typing import Any


def write_history(
    path: str, tag: str, count: int, busy_timeout: float, start: Any, out: Any
) -> None:
    """Write ``count`` messages and ``count`` usage rows, then report the retries seen."""
    from chatdf.store import Store

    async def main() -> tuple[str, int]:
        store = await Store.open(path, busy_timeout=busy_timeout)
        try:
            conversation = await store.create_conversation(f"writer {tag}")
            start.wait(timeout=60)  # a Barrier: both processes hammer the file at once
            for i in range(count):
                await store.add_message(conversation.id, {"role": "user", "content": f"{tag}-{i}"})
                await store.record_usage(tag, conversation.id, "gemini-2.5-flash", 1, 1)
            return conversation.id, store.retries
        finally:
            await store.close()

    try:
        out.put(("ok", tag, *asyncio.run(main())))
    except BaseException as exc:  # noqa: BLE001 -- reported to the parent, which fails the test with it
        out.put(("error", tag, f"{type(exc).__name__}: {exc}", 0))

"""The background event loop that owns chatdf's async work.

Jupyter already runs an asyncio loop in the kernel's main thread, so a sync
call such as ``chat.sql(...)`` cannot ``asyncio.run`` there, and nest_asyncio
would patch that loop for every other library. Instead every ChatDF session
runs its engine, store and controller on one private loop in a daemon thread:
sync callers block on a future, async callers await it from their own loop,
and the kernel's loop is never blocked by chatdf's I/O.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from .errors import SessionClosedError

T = TypeVar("T")


class Runtime:
    """A daemon thread running one asyncio loop until :meth:`close`."""

    def __init__(self, name: str = "chatdf-runtime") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def closed(self) -> bool:
        return self.loop.is_closed() or not self._thread.is_alive()

    def in_runtime(self) -> bool:
        """True when called from the runtime's own thread."""
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the runtime loop from any thread; SessionClosedError once closed."""
        if self.closed:
            coro.close()
            raise SessionClosedError()
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the runtime and wait for it (for sync APIs)."""
        if self.in_runtime():
            coro.close()
            raise RuntimeError("Runtime.run() called from the runtime thread would deadlock.")
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except KeyboardInterrupt:
            # An interrupted cell cancels the work instead of leaving it running.
            future.cancel()
            raise

    async def run_async(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the runtime from another event loop (the kernel's)."""
        if self.in_runtime():
            return await coro
        future = self.submit(coro)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()
            raise

    def close(self, timeout: float = 5.0) -> None:
        if self.closed:
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()

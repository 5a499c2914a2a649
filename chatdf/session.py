"""One chatdf session: the parts a ChatDF object owns and their lifetime.

A session holds the dataset registry, the query engine and the results kept
for paging and export, and runs all of their async work on its private
:class:`~chatdf.runtime.Runtime` loop. ``ChatDF`` (the widget) is a thin
face over it; scripts and tests may use it through ``ChatDF`` without ever
displaying anything.
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
import weakref
from collections import OrderedDict
from pathlib import Path
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .controller import Controller, Exchange
from .datasets import DatasetRegistry
from .engine import Engine
from .errors import ChatDFError, QueryError
from .events import Event
from .llm.client import GeminiClient
from .models import Answer, QueryResult
from .runtime import Runtime
from .settings import Settings

# Results stay in the kernel so the grid can page them and the user can export
# them without re-running; the oldest are dropped past this many.
MAX_KEPT_RESULTS = 50

T = TypeVar("T")


class Session:
    """Registry, engine and kept results of one ChatDF, on one runtime loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.workdir = Path(tempfile.mkdtemp(prefix="chatdf-"))
        self.runtime = Runtime()
        self.registry = DatasetRegistry(settings, self.workdir)
        self.engine = Engine(settings, self.workdir)
        self.results: OrderedDict[str, QueryResult] = OrderedDict()
        self.llm = GeminiClient(settings)
        self.controller = Controller(settings, self.llm, self.registry, self.engine, self.keep)
        self.history: list[Exchange] = []
        self.listeners: list[Callable[[Event], None]] = []
        self._turn: asyncio.Task[Answer] | None = None
        self._finalizer = weakref.finalize(
            self, _release, self.runtime, self.engine, self.registry, self.llm, self.workdir
        )
        atexit.register(self._finalizer)

    # -- running work on the session loop --------------------------------------------

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the session loop and wait (for the sync API)."""
        return self.runtime.run(coro)

    async def call_async(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the session loop from another loop (the kernel's)."""
        return await self.runtime.run_async(coro)

    # -- queries ------------------------------------------------------------------

    async def run_sql(self, query: str) -> QueryResult:
        """Run one read-only query over the registered datasets and keep its result."""
        result = await self.engine.run(query, self.registry.tables())
        self.keep(result)
        return result

    # -- chat turns -------------------------------------------------------------------

    async def ask(self, question: str, emit: Callable[[Event], None] | None = None) -> Answer:
        """Answer one question (on the session loop); events go to listeners and ``emit``."""
        if self._turn is not None and not self._turn.done():
            raise ChatDFError("A question is already being answered: wait for it or call stop().")

        def fan_out(event: Event) -> None:
            for listener in [*self.listeners, *([emit] if emit else [])]:
                listener(event)

        self._turn = asyncio.current_task()
        try:
            answer, exchange = await self.controller.run_turn(question, self.history, fan_out)
        finally:
            self._turn = None
        self.history.append(exchange)
        return answer

    def stop(self) -> bool:
        """Cancel the running turn from any thread; False when nothing was running."""
        turn = self._turn
        if turn is None or turn.done():
            return False
        self.runtime.loop.call_soon_threadsafe(turn.cancel)
        return True

    def keep(self, result: QueryResult) -> None:
        self.results[result.id] = result
        while len(self.results) > MAX_KEPT_RESULTS:
            self.results.popitem(last=False)

    def result(self, result_id: str) -> QueryResult:
        try:
            return self.results[result_id]
        except KeyError:
            raise QueryError(
                f"Result {result_id!r} is no longer kept; run its SQL again.", "validation"
            ) from None

    # -- lifetime -----------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        """Stop workers, delete temp files and stop the runtime loop. Idempotent."""
        self._finalizer()


def _release(
    runtime: Runtime, engine: Engine, registry: DatasetRegistry, llm: GeminiClient, workdir: Path
) -> None:
    # A finalizer: must not reference the Session itself, or it would never be collected.
    try:
        if not runtime.closed:
            runtime.run(llm.aclose(), timeout=5)
            runtime.run(engine.close(), timeout=10)
    except Exception:
        engine.close_now()
    finally:
        registry.close()
        runtime.close()
        shutil.rmtree(workdir, ignore_errors=True)

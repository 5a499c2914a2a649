"""The engine interface every query engine implements (the Polars pool, Spark Connect).

Nothing above ``engine/`` needs to know which engine runs a query: the session
runs SQL and gets a :class:`~chatdf.models.QueryResult` back, the grid pages
it, export turns it into a frame. A result whose rows stay where the engine
is (a cluster) also implements :class:`RemoteRows`; the grid and export use
that instead of reading rows in the kernel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import polars as pl

from ..models import QueryResult, TableSource


class QueryEngine(Protocol):
    """Runs guarded, read-only SQL over registered tables and hands back results."""

    async def run(
        self,
        sql: str,
        tables: Mapping[str, TableSource],
        *,
        timeout: float | None = None,
        catalog: Mapping[str, Mapping[str, str]] | None = None,
    ) -> QueryResult:
        """Guard ``sql``, run it, return a handle on its result (``QueryError`` if refused)."""
        ...

    async def close(self) -> None:
        """Stop the engine's work and free what it holds. Idempotent."""
        ...

    def close_now(self) -> None:
        """:meth:`close` from a finalizer or another thread, without awaiting."""
        ...


@runtime_checkable
class RemoteRows(Protocol):
    """A result kept where it was computed; pages, counts and exports run there."""

    async def page_rows(
        self, offset: int, limit: int, sort: list[tuple[int, bool]], where: Any = None
    ) -> tuple[pl.DataFrame, int]:
        """Rows ``offset .. offset+limit`` in ``sort`` order, and the total row count."""
        ...

    def export(self, to: str) -> Any:
        """The rows as ``polars``/``pandas`` (capped), or the engine's own frame."""
        ...

    def code(self) -> str:
        """Standalone code that reproduces the result with the engine's own client."""
        ...

    def cancel(self) -> None:
        """Interrupt any operation still running for this result."""
        ...

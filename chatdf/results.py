"""The results a session keeps for paging and export, bounded by their total size.

Every result a session runs is kept so the grid can page it and the user can
export it without running it again. Kept results cost disk (their files) and,
as the grid or the user touch them, memory (their mapped pages), so the cache
holds at most ``max_bytes`` of them, oldest dropped first; the newest is always
kept, whatever its size (``CHATDF_MAX_RESULT_MB`` bounds that). A dropped result
deletes its file. Asking for it later gives a ``QueryError`` with
``details["reason"] == "evicted"`` that quotes the SQL to run again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping

from .errors import QueryError
from .models import QueryResult

REMEMBERED = 1000
"""Dropped results whose SQL is remembered for the error that says to run it again."""


class ResultCache(Mapping[str, QueryResult]):
    """Kept results by id, oldest first, at most ``max_bytes`` in total.

    Parameters
    ----------
    max_bytes
        Total size (:attr:`QueryResult.nbytes`) kept; the newest result is kept even above it.
    on_evict
        Called with each result dropped (after its file is deleted).
    """

    def __init__(
        self, max_bytes: int, on_evict: Callable[[QueryResult], None] | None = None
    ) -> None:
        self.max_bytes = max_bytes
        self._on_evict = on_evict
        self._results: OrderedDict[str, QueryResult] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._dropped: OrderedDict[str, str] = OrderedDict()  # id -> sql

    # -- Mapping ---------------------------------------------------------------------

    def __getitem__(self, result_id: str) -> QueryResult:
        return self._results[result_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._results)

    def __len__(self) -> int:
        return len(self._results)

    def __reversed__(self) -> Iterator[str]:
        """Ids newest first."""
        return reversed(self._results)

    # -- keeping -------------------------------------------------------------------------

    @property
    def total_bytes(self) -> int:
        return sum(self._sizes.values())

    def keep(self, result: QueryResult) -> list[QueryResult]:
        """Keep ``result`` as the newest; returns the results dropped to make room."""
        self._results[result.id] = result
        self._results.move_to_end(result.id)
        self._sizes[result.id] = result.nbytes
        dropped = []
        while len(self._results) > 1 and self.total_bytes > self.max_bytes:
            dropped.append(self._drop(next(iter(self._results))))
        return dropped

    def require(self, result_id: str) -> QueryResult:
        """The kept result ``result_id``.

        Raises
        ------
        QueryError
            ``validation``; ``details["reason"]`` is ``evicted`` (it was dropped
            to stay within the cache size; the message quotes its SQL) or
            ``unknown_result``.
        """
        kept = self._results.get(result_id)
        if kept is not None:
            return kept
        sql = self._dropped.get(result_id)
        if sql is not None:
            limit_mb = self.max_bytes // 2**20
            raise QueryError(
                f"Result {result_id} was dropped to keep the session's memory bounded "
                f"(results are kept up to CHATDF_RESULT_CACHE_MB={limit_mb} MB in total, "
                f"oldest first). Run its SQL again to page or export it:\n{sql}",
                "validation",
                details={"reason": "evicted", "result_id": result_id, "sql": sql},
            )
        raise QueryError(
            f"Result {result_id!r} is no longer kept in this session; run its SQL again.",
            "validation",
            details={"reason": "unknown_result", "result_id": result_id},
        )

    def clear(self) -> None:
        """Drop every result (deleting their files)."""
        for result_id in list(self._results):
            self._drop(result_id)

    def _drop(self, result_id: str) -> QueryResult:
        result = self._results.pop(result_id)
        del self._sizes[result_id]
        self._dropped[result_id] = result.sql
        while len(self._dropped) > REMEMBERED:
            self._dropped.popitem(last=False)
        result.release()
        if self._on_evict is not None:
            self._on_evict(result)
        return result

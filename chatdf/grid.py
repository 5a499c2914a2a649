"""Pages of kept query results for the grid, sorted where the data is, sent as Arrow IPC.

The browser never holds a whole result. It asks for ``limit`` rows at
``offset``, optionally sorted by one column; :class:`Pager` works out the
*row order* of the whole result once (its row numbers, filtered and sorted,
so page 2 of a sorted 10-million-row result is right), keeps it, and builds
each page by gathering ``limit`` rows: one uncompressed Arrow IPC stream for a
message buffer.

Where the order is worked out depends on the result's size on disk:

- up to ``KERNEL_ORDER_BYTES`` (64 MiB, about a million rows of a few
  columns): in the kernel, on a thread. It takes a few tens of milliseconds
  and a transient few hundred MB at most, and needs no free worker.
- beyond that: in a query worker (:meth:`chatdf.engine.Engine.order`), which
  reads the result's file and writes only the row numbers (4 bytes a row) that
  the kernel maps. The sort is bounded by the worker's memory limit and the
  query timeout; the kernel never sorts or copies a large result.

Filters (``where``, a boolean expression over the columns) take the same path;
the widget does not send them yet. Columns are always picked by position
(``pl.nth``): to ``pl.col``, a column named ``*`` or ``^.*$`` is a pattern.
Values the grid cannot show natively (dates, decimals, nested and binary data,
big 128-bit integers) are turned into text in the kernel, on the page only;
sorting still uses the original types.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import polars as pl

from .engine.base import RemoteRows
from .engine.ipc import ResultFile
from .engine.worker import row_order
from .errors import QueryError
from .limits import PAGE_ROWS
from .models import QueryResult

MAX_ORDERS = 6
"""Row orders kept, the most recently used first..."""
MAX_ORDER_BYTES = 512 * 2**20
"""...and at most this many bytes of them (4 bytes a row; the newest is always kept)."""
KERNEL_ORDER_BYTES = 64 * 2**20
"""Results up to this size on disk are sorted in the kernel; larger ones in a worker."""

_NATIVE = (
    pl.Int8,
    pl.Int16,
    pl.Int32,
    pl.Int64,
    pl.UInt8,
    pl.UInt16,
    pl.UInt32,
    pl.UInt64,
    pl.Float32,
    pl.Float64,
    pl.Boolean,
    pl.String,
)

Sort = tuple[str | int, bool]
"""``(column name or position, descending)``."""


class Orderer(Protocol):
    """Works out row orders of result files away from the kernel (the engine)."""

    async def order(
        self, file: ResultFile, sort: list[tuple[int, bool]], where: pl.Expr | None = None
    ) -> pl.Series: ...


@dataclass
class GridPage:
    """One page: where it starts, how many rows it has, and the IPC bytes."""

    result_id: str
    offset: int
    rows: int
    total_rows: int
    columns: list[dict[str, str]]
    ipc: bytes
    sort: dict[str, Any] | None = None

    def header(self) -> dict[str, Any]:
        """The JSON part of the reply (the rows go in the buffer)."""
        return {
            "result_id": self.result_id,
            "offset": self.offset,
            "rows": self.rows,
            "total_rows": self.total_rows,
            "columns": self.columns,
            "sort": self.sort,
            "bytes": len(self.ipc),
        }


class Pager:
    """Slices, sorts and filters kept results; use from one event loop.

    Parameters
    ----------
    engine
        Where large results are ordered; None orders everything in the kernel.
    max_orders, max_order_bytes
        How many row orders are kept, and their total bytes.
    kernel_order_bytes
        Results up to this size on disk are ordered in the kernel.
    """

    def __init__(
        self,
        engine: Orderer | None = None,
        *,
        max_orders: int = MAX_ORDERS,
        max_order_bytes: int = MAX_ORDER_BYTES,
        kernel_order_bytes: int = KERNEL_ORDER_BYTES,
    ) -> None:
        self.engine = engine
        self.max_orders = max_orders
        self.max_order_bytes = max_order_bytes
        self.kernel_order_bytes = kernel_order_bytes
        self._orders: OrderedDict[tuple[Any, ...], asyncio.Task[pl.Series]] = OrderedDict()

    async def page(
        self,
        result: QueryResult,
        offset: int = 0,
        limit: int = PAGE_ROWS,
        sort: Sort | None = None,
        where: pl.Expr | None = None,
    ) -> GridPage:
        """Rows ``offset`` .. ``offset + limit`` of ``result``, filtered and sorted.

        Parameters
        ----------
        result
            A kept result.
        offset, limit
            The page; an offset past the end gives an empty page.
        sort
            ``(column, descending)``, the column by exact name or position, or
            None for the query's own order. Nulls sort last, ties keep that order.
        where
            A boolean expression the rows must satisfy (columns by ``pl.nth``), or None.

        Raises
        ------
        QueryError
            ``validation`` when the sort column does not exist or cannot be
            sorted; as :meth:`chatdf.engine.Engine.run` when a worker fails.
        """
        keys = [(self._position(result, sort[0]), bool(sort[1]))] if sort else []
        if isinstance(result, RemoteRows):  # the cluster sorts and pages it
            rows, total = await result.page_rows(offset, limit, keys, where)
            offset = max(0, min(offset, total))
        elif keys or where is not None:
            order = await self._order(result, keys, where)
            total = order.len()
            offset = max(0, min(offset, total))
            rows = await asyncio.to_thread(result.take, order.slice(offset, limit))
        else:
            total = result.total_rows
            offset = max(0, min(offset, total))
            rows = await asyncio.to_thread(result.slice, offset, limit)
        ipc = await asyncio.to_thread(to_ipc, rows)
        column = result.columns[keys[0][0]].name if keys else None
        return GridPage(
            result_id=result.id,
            offset=offset,
            rows=rows.height,
            total_rows=total,
            columns=[c.model_dump() for c in result.columns],
            ipc=ipc,
            sort={"column": column, "descending": keys[0][1]} if keys else None,
        )

    async def order(self, result: QueryResult, sort: Sort | None, where: pl.Expr | None) -> pl.Series:
        """The row numbers of ``result`` filtered by ``where`` and sorted, as pages use them."""
        keys = [(self._position(result, sort[0]), bool(sort[1]))] if sort else []
        return await self._order(result, keys, where)

    def forget(self, result_id: str) -> None:
        """Drop the row orders of a result that is no longer kept."""
        for key in [k for k in self._orders if k[0] == result_id]:
            del self._orders[key]

    # -- row orders ------------------------------------------------------------------

    @staticmethod
    def _position(result: QueryResult, column: str | int) -> int:
        names = [c.name for c in result.columns]
        if isinstance(column, int) and not isinstance(column, bool):
            if 0 <= column < len(names):
                return column
        elif column in names:
            return names.index(column)
        raise QueryError(
            f"Cannot sort by {column!r}: the result has no such column.",
            "validation",
            details={"reason": "unknown_column", "column": column},
        )

    async def _order(
        self, result: QueryResult, keys: list[tuple[int, bool]], where: pl.Expr | None
    ) -> pl.Series:
        condition = where.meta.serialize(format="binary") if where is not None else None
        key = (result.id, tuple(keys), condition)
        task = self._orders.get(key)
        if task is None or (task.done() and (task.cancelled() or task.exception())):
            # One task per order: page requests arriving while it runs share it.
            task = asyncio.ensure_future(self._compute(result, keys, where))
            self._orders[key] = task
        self._orders.move_to_end(key)
        try:
            order = await asyncio.shield(task)
        except BaseException:
            if task.done() and self._orders.get(key) is task:
                del self._orders[key]  # a failure is not kept: the next request tries again
            raise
        self._trim()
        return order

    async def _compute(
        self, result: QueryResult, keys: list[tuple[int, bool]], where: pl.Expr | None
    ) -> pl.Series:
        engine, file = self.engine, result.file
        try:
            if engine is not None and file is not None and result.nbytes > self.kernel_order_bytes:
                return await engine.order(file, keys, where)
            return await asyncio.to_thread(_kernel_order, result, keys, where)
        except pl.exceptions.PolarsError as exc:
            raise self._unsortable(result, keys, str(exc)) from None
        except QueryError as exc:
            if exc.error_type != "sql":
                raise
            raise self._unsortable(result, keys, exc.message) from None

    @staticmethod
    def _unsortable(result: QueryResult, keys: list[tuple[int, bool]], why: str) -> QueryError:
        first = why.strip().splitlines()[0] if why.strip() else "Polars refused"
        if not keys:
            return QueryError(f"Cannot filter this result: {first}", "validation")
        column = result.columns[keys[0][0]]
        return QueryError(
            f"Cannot sort by {column.name!r} ({column.dtype}): {first}",
            "validation",
            details={"reason": "unsortable", "column": column.name},
        )

    def _trim(self) -> None:
        """Drop the least recently used orders past the count or byte budget (keeps the newest)."""

        def size(task: asyncio.Task[pl.Series]) -> int:
            if not task.done() or task.cancelled() or task.exception() is not None:
                return 0
            return int(task.result().estimated_size())

        while len(self._orders) > 1 and (
            len(self._orders) > self.max_orders
            or sum(size(t) for t in self._orders.values()) > self.max_order_bytes
        ):
            # A task still running is left to finish; nothing will wait for it.
            self._orders.popitem(last=False)


def _kernel_order(
    result: QueryResult, keys: list[tuple[int, bool]], where: pl.Expr | None
) -> pl.Series:
    # The file's mapping, or a transient copy for types it cannot map: not cached on the result.
    frame = result.file.read() if result.file is not None else result.data
    return row_order(pl, frame.lazy(), keys, where).collect().to_series()


def to_ipc(frame: pl.DataFrame) -> bytes:
    """One Arrow IPC stream of ``frame`` with display-ready columns, uncompressed.

    Numbers, booleans and text keep their types (the grid right-aligns numbers
    and copies them exactly); everything else becomes its text form.
    """
    display = frame.select(
        _display(position, name, dtype) for position, (name, dtype) in enumerate(frame.schema.items())
    )
    sink = io.BytesIO()
    # Oldest compat level: plain (large) strings rather than string views, which
    # every Arrow reader understands.
    display.write_ipc_stream(sink, compression="uncompressed", compat_level=pl.CompatLevel.oldest())
    return sink.getvalue()


def _display(position: int, name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.nth(position)
    if dtype in _NATIVE:
        shown = column
    elif isinstance(dtype, pl.Datetime):
        shown = column.dt.to_string("%Y-%m-%d %H:%M:%S%.f")
    elif (
        dtype in (pl.Date, pl.Time, pl.Int128, pl.UInt128, pl.Null)
        or isinstance(dtype, (pl.Decimal, pl.Categorical, pl.Enum))
    ):
        shown = column.cast(pl.String)
    else:
        # Lists, structs, arrays, binary, durations, objects: text per value (a page is small).
        shown = column.map_elements(_text, return_dtype=pl.String, skip_nulls=True)
    return shown.alias(name)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex() if len(value) <= 64 else value[:64].hex() + "…"
    if isinstance(value, pl.Series):
        value = value.to_list()
    if not isinstance(value, (list, tuple, dict)):
        return str(value)
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)

"""Pages of kept query results for the grid: sorted in the kernel, sent as Arrow IPC.

The browser never holds a whole result. It asks for ``limit`` rows at
``offset``, optionally sorted by one column; :class:`Pager` sorts the *full*
result (so page 2 of a sorted 10-million-row result is right), slices the
page and encodes it as one uncompressed Arrow IPC stream for a message buffer.

Sorting computes a row permutation once (``arg_sort``) and keeps it, a few per
result, so paging through a sorted result costs a gather of ``limit`` rows, not
a sort. Values the grid cannot show natively (dates, decimals, nested and
binary data, big 128-bit integers) are turned into text in the kernel, on the
page only; sorting still uses the original types.
"""

from __future__ import annotations

import io
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from .errors import QueryError
from .models import QueryResult, friendly_type

PAGE_ROWS = 50
MAX_ORDERS = 6
"""Sort permutations kept (4 bytes per row each: 40 MB for 10 million rows)."""

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


@dataclass
class Pager:
    """Slices and sorts kept results; safe to call from several threads."""

    max_orders: int = MAX_ORDERS
    _orders: OrderedDict[tuple[str, str, bool], pl.Series] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def page(
        self,
        result: QueryResult,
        offset: int = 0,
        limit: int = PAGE_ROWS,
        sort: tuple[str, bool] | None = None,
    ) -> GridPage:
        """Rows ``offset`` .. ``offset + limit`` of ``result``, sorted by ``sort``.

        Parameters
        ----------
        result
            A kept result.
        offset, limit
            The page; an offset past the end gives an empty page.
        sort
            ``(column, descending)`` or None for the query's own order.

        Raises
        ------
        QueryError
            ``validation`` when the sort column does not exist or cannot be sorted.
        """
        frame = result.data
        offset = max(0, min(offset, frame.height))
        if sort is None:
            rows = frame.slice(offset, limit)
        else:
            order = self._order(result, *sort)
            rows = frame[order.slice(offset, limit)]
        return GridPage(
            result_id=result.id,
            offset=offset,
            rows=rows.height,
            total_rows=frame.height,
            columns=[
                {"name": name, "dtype": str(dtype), "friendly": friendly_type(dtype)}
                for name, dtype in frame.schema.items()
            ],
            ipc=to_ipc(rows),
            sort={"column": sort[0], "descending": sort[1]} if sort else None,
        )

    def forget(self, result_id: str) -> None:
        """Drop the permutations of a result that is no longer kept."""
        with self._lock:
            for key in [k for k in self._orders if k[0] == result_id]:
                del self._orders[key]

    def _order(self, result: QueryResult, column: str, descending: bool) -> pl.Series:
        key = (result.id, column, descending)
        with self._lock:
            order = self._orders.get(key)
            if order is not None:
                self._orders.move_to_end(key)
                return order
        frame = result.data
        if column not in frame.columns:
            raise QueryError(f"Cannot sort by {column!r}: the result has no such column.", "validation")
        try:
            # Sorted outside the lock: a slow sort must not hold up other pages.
            order = frame.select(
                pl.arg_sort_by(pl.col(column), descending=descending, nulls_last=True)
            ).to_series()
        except pl.exceptions.PolarsError as exc:
            dtype = frame.schema[column]
            raise QueryError(
                f"Cannot sort by {column!r} ({dtype}): {str(exc).splitlines()[0]}", "validation"
            ) from None
        with self._lock:
            self._orders[key] = order
            while len(self._orders) > self.max_orders:
                self._orders.popitem(last=False)
        return order


def to_ipc(frame: pl.DataFrame) -> bytes:
    """One Arrow IPC stream of ``frame`` with display-ready columns, uncompressed.

    Numbers, booleans and text keep their types (the grid right-aligns numbers
    and copies them exactly); everything else becomes its text form.
    """
    display = frame.select(_display(name, dtype) for name, dtype in frame.schema.items())
    sink = io.BytesIO()
    # Oldest compat level: plain (large) strings rather than string views, which
    # every Arrow reader understands.
    display.write_ipc_stream(sink, compression="uncompressed", compat_level=pl.CompatLevel.oldest())
    return sink.getvalue()


def _display(name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if dtype in _NATIVE:
        return column
    if isinstance(dtype, pl.Datetime):
        return column.dt.to_string("%Y-%m-%d %H:%M:%S%.f").alias(name)
    if dtype in (pl.Date, pl.Time) or isinstance(dtype, pl.Decimal):
        return column.cast(pl.String)
    if isinstance(dtype, (pl.Categorical, pl.Enum)) or dtype in (pl.Int128, pl.UInt128):
        return column.cast(pl.String)
    if dtype == pl.Null:
        return column.cast(pl.String)
    # Lists, structs, arrays, binary, durations, objects: text per value (a page is small).
    return column.map_elements(_text, return_dtype=pl.String, skip_nulls=True).alias(name)


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

"""What the grid asks of a whole kept result beyond pages: filters, column
summaries, "Copy all" and downloads.

Everything here runs where the data is and never on the event loop: the result's
file is scanned lazily (a Polars streaming scan) on a thread, so a column summary
of ten million rows costs a pass over one column, not a copy of the result. Only
aggregates, clipboard text (at most ``copy_max_rows`` rows) and download chunks
cross to the browser.

Filters are ``(column, op, value)`` triples from the browser, turned into one
Polars expression over columns by position (``pl.nth``; a column named ``*`` is
a pattern to ``pl.col``). The grid's :class:`chatdf.grid.Pager` applies it like
a sort: in the kernel for small results, in a query worker for large ones.
Values are checked against the column's type first, so a bad filter is a clear
``QueryError`` (``details.reason == "bad_filter"``), not a Polars message.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl

from .errors import QueryError
from .grid import Pager, Sort, _display
from .models import QueryResult

FilterOp = Literal["contains", "eq", "ne", "gt", "ge", "lt", "le", "is_null", "not_null"]
"""What a per-column filter may ask; ``contains`` is case-insensitive text search."""

HISTOGRAM_BINS = 12
TOP_VALUES = 5
DOWNLOAD_CHUNK = 4 * 2**20
"""Bytes of a download sent in one reply: the file streams to the browser in chunks."""
MAX_DOWNLOADS = 4
"""Download files kept between chunk requests (the oldest is deleted past this)."""

_ORDERED_OPS = {"gt", "ge", "lt", "le"}


@dataclass(frozen=True)
class ColumnFilter:
    """One per-column filter as the browser sends it."""

    column: str
    op: FilterOp
    value: str | float | int | bool | None = None


def where_for(result: QueryResult, filters: list[ColumnFilter]) -> pl.Expr | None:
    """One boolean expression for all ``filters`` (AND), or None for none.

    Raises
    ------
    QueryError
        ``validation`` with ``details.reason``: ``unknown_column`` when a column is
        not in the result, ``bad_filter`` when the value does not fit the column's
        type or the comparison does not apply to it.
    """
    conditions = [_condition(result, f) for f in filters]
    if not conditions:
        return None
    combined = conditions[0]
    for condition in conditions[1:]:
        combined = combined & condition
    return combined


def _condition(result: QueryResult, spec: ColumnFilter) -> pl.Expr:
    names = [c.name for c in result.columns]
    if spec.column not in names:
        raise QueryError(
            f"Cannot filter by {spec.column!r}: the result has no such column.",
            "validation",
            details={"reason": "unknown_column", "column": spec.column},
        )
    position = names.index(spec.column)
    column = pl.nth(position)
    dtype = _dtypes(result)[position]
    if spec.op == "is_null":
        return column.is_null()
    if spec.op == "not_null":
        return column.is_not_null()
    if spec.value is None or spec.value == "":
        raise _bad(spec, "give a value to compare with")
    if spec.op == "contains":
        text = column if dtype == pl.String else _display(position, spec.column, dtype)
        needle = str(spec.value).lower()
        return text.str.to_lowercase().str.contains(needle, literal=True).fill_null(False)
    if spec.op in _ORDERED_OPS and not (dtype.is_numeric() or dtype.is_temporal() or dtype == pl.String):
        raise _bad(spec, f"{dtype} values cannot be compared with < or >")
    value = _typed(spec, dtype)
    literal = pl.lit(value, dtype=dtype)
    compare = {
        "eq": column.eq(literal),
        "ne": column.ne(literal),
        "gt": column.gt(literal),
        "ge": column.ge(literal),
        "lt": column.lt(literal),
        "le": column.le(literal),
    }[spec.op]
    return compare.fill_null(False)


def _typed(spec: ColumnFilter, dtype: pl.DataType) -> Any:
    """The filter's value as one value of the column's type, or a clear error."""
    try:
        # Text from the filter box, or a number: Polars parses it as the column's type.
        raw = pl.Series([spec.value])
        if isinstance(dtype, pl.Datetime):
            return raw.cast(pl.String).str.to_datetime(time_unit=dtype.time_unit, time_zone=dtype.time_zone).item()
        if dtype == pl.Date:
            return raw.cast(pl.String).str.to_date().item()
        return raw.cast(dtype, strict=True).item()
    except (pl.exceptions.PolarsError, TypeError, ValueError):
        raise _bad(spec, f"{str(spec.value)!r} is not a {dtype} value") from None


def _bad(spec: ColumnFilter, why: str) -> QueryError:
    return QueryError(
        f"Cannot filter {spec.column!r}: {why}.",
        "validation",
        details={"reason": "bad_filter", "column": spec.column, "op": spec.op},
    )


def _dtypes(result: QueryResult) -> list[pl.DataType]:
    file = result.file
    schema = file.schema if file is not None else result.data.schema
    return list(schema.values())


def _lazy(result: QueryResult) -> pl.LazyFrame:
    """The whole result as a lazy scan of its file (read only as far as a query needs)."""
    file = result.file
    if file is not None and not file.removed:
        return pl.scan_ipc(file.path)
    return result.data.lazy()


# -- column summaries ----------------------------------------------------------------


async def summarize(result: QueryResult, column: str, where: pl.Expr | None = None) -> dict[str, Any]:
    """A column's summary over the whole (filtered) result, computed off the loop:
    rows, nulls, distinct values, min/max, and a histogram (numbers) or the top values.

    Raises
    ------
    QueryError
        ``validation`` with ``details.reason == "unknown_column"``.
    """
    names = [c.name for c in result.columns]
    if column not in names:
        raise QueryError(
            f"Cannot summarize {column!r}: the result has no such column.",
            "validation",
            details={"reason": "unknown_column", "column": column},
        )
    position = names.index(column)
    info = result.columns[position]
    return await asyncio.to_thread(_summary, _lazy(result), position, info.name, info.dtype, where)


def _summary(
    frame: pl.LazyFrame, position: int, name: str, dtype_text: str, where: pl.Expr | None
) -> dict[str, Any]:
    if where is not None:
        frame = frame.filter(where)
    values = frame.select(pl.nth(position).alias("v"))
    dtype = values.collect_schema()["v"]
    orderable = dtype.is_numeric() or dtype.is_temporal() or dtype in (pl.String, pl.Boolean)
    hashable = not isinstance(dtype, (pl.List, pl.Array, pl.Struct, pl.Object))
    stats = [pl.len().alias("rows"), pl.col("v").null_count().alias("nulls")]
    if hashable:
        stats.append(pl.col("v").n_unique().alias("distinct"))
    if orderable:
        stats += [pl.col("v").min().alias("min"), pl.col("v").max().alias("max")]
    row = values.select(stats).collect().row(0, named=True)
    summary: dict[str, Any] = {
        "column": name,
        "dtype": dtype_text,
        "rows": row["rows"],
        "nulls": row["nulls"],
        "distinct": row.get("distinct"),
        "min": _json_value(row.get("min")),
        "max": _json_value(row.get("max")),
        "histogram": None,
        "top": None,
    }
    low, high = row.get("min"), row.get("max")
    if dtype.is_numeric() and low is not None and high is not None and _finite(low, high):
        summary["histogram"] = _histogram(values, float(low), float(high))
    elif hashable:
        top = (
            values.drop_nulls()
            .group_by("v")
            .agg(pl.len().alias("count"))
            .sort(["count", "v"], descending=[True, False], nulls_last=True)
            .head(TOP_VALUES)
            .collect()
        )
        summary["top"] = [
            {"value": _json_value(v), "count": c} for v, c in zip(top["v"].to_list(), top["count"].to_list(), strict=True)
        ]
    return summary


def _finite(*numbers: Any) -> bool:
    return all(math.isfinite(float(n)) for n in numbers)


def _histogram(values: pl.LazyFrame, low: float, high: float) -> dict[str, Any]:
    """Counts in ``HISTOGRAM_BINS`` equal bins from ``low`` to ``high`` (one bin when they are equal)."""
    bins = HISTOGRAM_BINS if high > low else 1
    width = (high - low) / bins if high > low else 1.0
    index = ((pl.col("v").cast(pl.Float64) - low) / width).floor().clip(0, bins - 1).cast(pl.Int32)
    counted = (
        values.filter(pl.col("v").is_not_null() & pl.col("v").cast(pl.Float64).is_finite())
        .select(index.alias("bin"))
        .group_by("bin")
        .agg(pl.len().alias("count"))
        .collect()
    )
    counts = [0] * bins
    for b, c in zip(counted["bin"].to_list(), counted["count"].to_list(), strict=True):
        counts[b] = c
    return {"low": low, "high": high, "counts": counts}


def _json_value(value: Any) -> Any:
    """A value JSON carries exactly: numbers that fit a double stay numbers, the rest is text."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


# -- whole-result rows: copy and download --------------------------------------------


async def view_rows(
    pager: Pager, result: QueryResult, sort: Sort | None, where: pl.Expr | None, limit: int | None
) -> tuple[pl.DataFrame, int]:
    """The result as the grid shows it (filtered, sorted), its first ``limit`` rows, and
    how many rows the whole view has."""
    if sort is None and where is None:
        total = result.total_rows
        rows = await asyncio.to_thread(result.slice, 0, total if limit is None else limit)
        return rows, total
    order = await pager.order(result, sort, where)
    chosen = order if limit is None else order.head(limit)
    return await asyncio.to_thread(result.take, chosen), order.len()


def to_tsv(frame: pl.DataFrame) -> str:
    """Tab-separated text with a header line, values exact (no grouping, all decimals);
    tabs and newlines inside a value become spaces, nulls empty. Pastes into spreadsheets."""
    text = frame.select(
        _display(i, name, dtype) for i, (name, dtype) in enumerate(frame.schema.items())
    ).select(
        pl.nth(i).cast(pl.String).str.replace_all(r"[\t\r\n]+", " ").alias(name)
        for i, name in enumerate(frame.columns)
    )
    header = "\t".join(_tsv_field(name) for name in frame.columns)
    body = text.write_csv(separator="\t", include_header=False, quote_style="never", null_value="")
    return header + "\n" + body.rstrip("\n")


def _tsv_field(text: str) -> str:
    return " ".join(text.replace("\t", " ").splitlines())


@dataclass
class _Download:
    path: Path
    size: int
    filename: str


class Downloads:
    """Download files written once per (result, format, view) and sent in chunks.

    A chunk request names the offset; the file is deleted after its last chunk is
    sent, when the result is forgotten, or when more than ``MAX_DOWNLOADS`` wait.
    """

    def __init__(self) -> None:
        self._files: OrderedDict[tuple[Any, ...], _Download] = OrderedDict()
        self._folder: tempfile.TemporaryDirectory[str] | None = None  # made on the first download
        self._count = 0

    async def chunk(
        self, key: tuple[Any, ...], offset: int, write: Any, filename: str
    ) -> tuple[dict[str, Any], bytes]:
        """Bytes ``offset`` .. ``offset + DOWNLOAD_CHUNK`` of the file ``write(path)`` makes."""
        found = self._files.get(key)
        if found is None:
            if self._folder is None:
                self._folder = tempfile.TemporaryDirectory(prefix="chatdf-downloads-")
            self._count += 1
            path = Path(self._folder.name) / f"download-{self._count}"
            await write(path)
            found = _Download(path, path.stat().st_size, filename)
            self._files[key] = found
            while len(self._files) > MAX_DOWNLOADS:
                self._drop(next(iter(self._files)))
        if offset > found.size:
            raise QueryError(
                f"Download offset {offset} is past the end ({found.size} bytes).",
                "validation",
                details={"reason": "bad_offset"},
            )
        with found.path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read(DOWNLOAD_CHUNK)
        done = offset + len(data) >= found.size
        if done:
            self._drop(key)
        header = {"offset": offset, "size": found.size, "bytes": len(data), "done": done, "filename": filename}
        return header, data

    def forget(self, result_id: str) -> None:
        for key in [k for k in self._files if k[0] == result_id]:
            self._drop(key)

    def _drop(self, key: tuple[Any, ...]) -> None:
        found = self._files.pop(key, None)
        if found is not None:
            found.path.unlink(missing_ok=True)

    def close(self) -> None:
        self._files.clear()
        if self._folder is not None:
            self._folder.cleanup()


def write_download(frame: pl.DataFrame, path: Path, fmt: Literal["csv", "parquet"]) -> None:
    """The rows as CSV (nested values as JSON text) or parquet (types kept)."""
    if fmt == "parquet":
        frame.write_parquet(path, compression="zstd")
        return
    shown = frame.select(_display(i, n, d) for i, (n, d) in enumerate(frame.schema.items()))
    shown.write_csv(path)


def write_lazy(result: QueryResult, path: Path, fmt: Literal["csv", "parquet"]) -> None:
    """The whole unfiltered result streamed from its file to ``path``, never all in memory."""
    frame = _lazy(result)
    if fmt == "parquet":
        frame.sink_parquet(path, compression="zstd")
        return
    schema = frame.collect_schema()
    frame.select(_display(i, n, d) for i, (n, d) in enumerate(schema.items())).sink_csv(path)


# -- the widget's requests -------------------------------------------------------------


class ResultTools:
    """Answers the grid's whole-result requests for one session (see ``chatdf/messages.py``).

    The widget only dispatches here; this holds the download files between chunks.
    """

    def __init__(self, session: Any) -> None:
        self._session = session
        self.downloads = Downloads()

    def _view(self, request: Any) -> tuple[QueryResult, Sort | None, pl.Expr | None]:
        result = self._session.result(request.result_id)
        sort = getattr(request, "sort", None)
        filters = [ColumnFilter(f.column, f.op, f.value) for f in request.filters]
        return result, (sort.column, sort.descending) if sort else None, where_for(result, filters)

    def where(self, request: Any) -> pl.Expr | None:
        """The page request's filters as one expression (checked against the result)."""
        return self._view(request)[2]

    async def summary(self, request: Any) -> dict[str, Any]:
        result, _, where = self._view(request)
        return await summarize(result, request.column, where)

    async def copy_all(self, request: Any) -> dict[str, Any]:
        result, sort, where = self._view(request)
        limit = self._session.settings.copy_max_rows
        rows, total = await view_rows(self._session.pager, result, sort, where, limit)
        text = await asyncio.to_thread(to_tsv, rows)
        return {"text": text, "rows": rows.height, "total_rows": total, "truncated": total > rows.height, "limit": limit}

    async def download(self, request: Any) -> tuple[dict[str, Any], bytes]:
        result, sort, where = self._view(request)
        fmt = request.format
        key = (result.id, fmt, request.sort, tuple(request.filters))
        pager = self._session.pager

        async def write(path: Path) -> None:
            if sort is None and where is None:
                await asyncio.to_thread(write_lazy, result, path, fmt)
            else:
                rows, _ = await view_rows(pager, result, sort, where, None)
                await asyncio.to_thread(write_download, rows, path, fmt)

        return await self.downloads.chunk(key, request.offset, write, f"result-{result.id}.{fmt}")

    def forget(self, result_id: str) -> None:
        self.downloads.forget(result_id)

    def close(self) -> None:
        self.downloads.close()

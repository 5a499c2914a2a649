"""What the grid asks of a whole kept result beyond pages: filters, column
summaries, "Copy all" and downloads.

Everything here runs where the data is and never on the event loop. A column
summary is a job for a query worker (:meth:`chatdf.engine.Engine.summary`), which
scans the result's file lazily: ten million rows cost a pass over one column in
the worker, not a copy in the kernel. Copy and download scan the file on a thread. Only
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
import tempfile
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import polars as pl

from .engine import Engine
from .engine.worker import HISTOGRAM_BINS as HISTOGRAM_BINS  # the summary's sizes live with
from .engine.worker import TOP_VALUES as TOP_VALUES  # the code workers run; importable here too
from .engine.worker import column_summary
from .errors import QueryError
from .grid import Pager, Sort, _display
from .models import QueryResult

FilterOp = Literal["contains", "eq", "ne", "gt", "ge", "lt", "le", "is_null", "not_null"]
"""What a per-column filter may ask; ``contains`` is case-insensitive text search."""

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


@dataclass(frozen=True)
class CheckedFilter:
    """A filter checked against the result: its column's position and type, and the value
    parsed as that type. Each engine builds its own condition from these."""

    position: int
    column: str
    op: FilterOp
    dtype: pl.DataType
    value: Any = None


def check_filters(result: QueryResult, filters: list[ColumnFilter]) -> list[CheckedFilter]:
    """``filters`` checked against ``result``'s columns and types.

    Raises
    ------
    QueryError
        ``validation`` with ``details.reason``: ``unknown_column`` when a column is
        not in the result, ``bad_filter`` when the value does not fit the column's
        type or the comparison does not apply to it.
    """
    return [_check(result, f) for f in filters]


def where_for(result: QueryResult, filters: list[ColumnFilter]) -> pl.Expr | None:
    """One Polars boolean expression for all ``filters`` (AND), or None for none
    (errors as :func:`check_filters`)."""
    conditions = [_condition(f) for f in check_filters(result, filters)]
    if not conditions:
        return None
    combined = conditions[0]
    for condition in conditions[1:]:
        combined = combined & condition
    return combined


def _check(result: QueryResult, spec: ColumnFilter) -> CheckedFilter:
    names = [c.name for c in result.columns]
    if spec.column not in names:
        raise QueryError(
            f"Cannot filter by {spec.column!r}: the result has no such column.",
            "validation",
            details={"reason": "unknown_column", "column": spec.column},
        )
    position = names.index(spec.column)
    dtype = _dtypes(result)[position]
    checked = CheckedFilter(position, spec.column, spec.op, dtype)
    if spec.op in ("is_null", "not_null"):
        return checked
    if spec.value is None or spec.value == "":
        raise _bad(spec, "give a value to compare with")
    if spec.op == "contains":
        return replace(checked, value=str(spec.value).lower())
    if spec.op in _ORDERED_OPS and not (dtype.is_numeric() or dtype.is_temporal() or dtype == pl.String):
        raise _bad(spec, f"{dtype} values cannot be compared with < or >")
    return replace(checked, value=_typed(spec, dtype))


def _condition(spec: CheckedFilter) -> pl.Expr:
    column = pl.nth(spec.position)
    if spec.op == "is_null":
        return column.is_null()
    if spec.op == "not_null":
        return column.is_not_null()
    if spec.op == "contains":
        text = column if spec.dtype == pl.String else _display(spec.position, spec.column, spec.dtype)
        return text.str.to_lowercase().str.contains(spec.value, literal=True).fill_null(False)
    literal = pl.lit(spec.value, dtype=spec.dtype)
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
    return list(result.polars_schema.values())


def _lazy(result: QueryResult) -> pl.LazyFrame:
    """The whole result as a lazy scan of its file (read only as far as a query needs)."""
    file = result.file
    if file is not None and not file.removed:
        return pl.scan_ipc(file.path)
    return result.data.lazy()


# -- column summaries ----------------------------------------------------------------


async def summarize(
    result: QueryResult, column: str, where: pl.Expr | None = None, *, engine: Engine | None = None
) -> dict[str, Any]:
    """A column's summary over the whole (filtered) result: rows, nulls, distinct values,
    min/max, and a histogram (numbers) or the top values.

    With an ``engine``, a query worker computes it from the result's file (the kernel
    only receives the aggregates). A result with no file (a frame held in memory)
    has nothing a worker could read, so the kernel scans it on a thread.

    Raises
    ------
    QueryError
        ``validation`` with ``details.reason``: ``unknown_column``, or ``unsummarizable``
        when Polars cannot summarize the column; as :meth:`chatdf.engine.Engine.run`
        when the worker fails.
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
    file = result.file
    try:
        if engine is not None and file is not None and not file.removed:
            summary = await engine.summary(file, position, where)
        else:
            summary = await asyncio.to_thread(column_summary, pl, _lazy(result), position, where)
    except pl.exceptions.PolarsError as exc:
        raise _unsummarizable(column, str(exc)) from None
    except QueryError as exc:
        if exc.error_type != "sql":
            raise
        raise _unsummarizable(column, exc.message) from None
    return {"column": info.name, "dtype": info.dtype, **summary}


def _unsummarizable(column: str, why: str) -> QueryError:
    first = why.strip().splitlines()[0] if why.strip() else "Polars refused"
    return QueryError(
        f"Cannot summarize {column!r}: {first}",
        "validation",
        details={"reason": "unsummarizable", "column": column},
    )


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


_REMOTE_ACTIONS = {"summary": "A column summary", "copy_all": "Copy all", "download": "Download"}


class ResultTools:
    """Answers the grid's whole-result requests for one session (see ``chatdf/messages.py``).

    The widget only dispatches here; this holds the download files between chunks.
    """

    def __init__(self, session: Any) -> None:
        self._session = session
        self.downloads = Downloads()

    def _view(self, request: Any) -> tuple[QueryResult, Sort | None, pl.Expr | None]:
        result = self._session.result(request.result_id)
        if result.remote and request.type != "page":
            # Only the first rows of a cluster's result are in the kernel: a summary,
            # copy or download of those would look whole and be wrong.
            raise QueryError(
                f"{_REMOTE_ACTIONS.get(request.type, 'This')} is not available for results "
                "that stay on the Spark cluster. Page, sort and filter them in the grid, aggregate "
                'with SQL, or bring them into the notebook with chat.export(name, result, to="polars").',
                "validation",
                details={"reason": "remote_result"},
            )
        sort = getattr(request, "sort", None)
        filters = [ColumnFilter(f.column, f.op, f.value) for f in request.filters]
        return result, (sort.column, sort.descending) if sort else None, where_for(result, filters)

    def where(self, request: Any) -> pl.Expr | list[CheckedFilter] | None:
        """The page request's filters, checked against the result: one Polars expression,
        or for a result on a cluster the checked filters its engine turns into its own."""
        result = self._session.result(request.result_id)
        if result.remote:
            return check_filters(result, [ColumnFilter(f.column, f.op, f.value) for f in request.filters])
        return self._view(request)[2]

    async def summary(self, request: Any) -> dict[str, Any]:
        result, _, where = self._view(request)
        return await summarize(result, request.column, where, engine=self._session.engine)

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

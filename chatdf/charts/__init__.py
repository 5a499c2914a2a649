"""Charts: a Vega-Lite spec, checked, bound to a result's rows, kept as an Altair chart.

The model draws with the ``create_chart`` tool and the user with
``chat.chart(spec, result=None)``; both come here. The spec names no data
source: it is checked (:mod:`chatdf.charts.spec`), then bound to the result:

* up to ``CHATDF_CHART_MAX_ROWS`` rows, the chart's data is the result itself
  (a Polars frame Altair serializes inline; above Altair's own 5,000-row
  guard, the rows inline as values, so a plain ``to_dict()`` works without
  switching on any data transformer);
* above it, the spec's own aggregate/bin/timeUnit/filter transforms run in the
  kernel with VegaFusion (:mod:`chatdf.charts.pretransform`) and only the
  reduced rows are bound, the encodings rewritten to match; if that is still
  too many, the model is told to aggregate in SQL first.

A :class:`Charts` per session keeps the charts it made (for the widget, for
``%chatdf chart NAME`` and the history) and runs the work off the event loop.
Altair loads on the first chart, VegaFusion on the first large one.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import polars as pl

from ..errors import ChartError, ChatDFError
from ..models import QueryResult, friendly_type
from . import pretransform
from .spec import check_safety, check_spec, view_kind

if TYPE_CHECKING:
    from ..results import ResultCache

__all__ = [
    "ALTAIR_MAX_ROWS",
    "ChartError",
    "ChartRecord",
    "Charts",
    "chart_from_dict",
    "chart_payload",
    "check_spec",
    "make_chart",
]

ALTAIR_MAX_ROWS = 5000
"""Altair's default data transformer refuses frames above this; bigger data goes inline."""
MAX_STORED_CHARS = 4_000_000
"""JSON characters of one chart (data included) kept in the history; larger ones keep no data."""
KEPT_CHARTS = 100

_CLASSES = {
    "unit": "Chart",
    "layer": "LayerChart",
    "hconcat": "HConcatChart",
    "vconcat": "VConcatChart",
    "concat": "ConcatChart",
    "repeat": "RepeatChart",
    "facet": "FacetChart",
}


@dataclass
class ChartRecord:
    """One chart a session made: the Altair chart and what it was made from."""

    id: str
    chart: Any
    """An ``altair.Chart`` (or a compound chart) with its data bound."""
    spec: dict[str, Any]
    """The checked spec, without data."""
    rows: int
    """Rows the chart carries."""
    source_rows: int
    """Rows of the result it was made from."""
    result_id: str | None = None
    title: str | None = None
    reduced: bool = False
    """True when the spec's transforms were evaluated in the kernel (a large result)."""
    elapsed_ms: float = 0.0
    stored: dict[str, Any] | None = field(default=None, repr=False)
    """The full spec with data, as the history keeps it (made on first use)."""

    @property
    def mark(self) -> str | None:
        mark = self.spec.get("mark")
        return mark.get("type") if isinstance(mark, dict) else mark

    def to_dict(self) -> dict[str, Any]:
        """The chart as a complete Vega-Lite spec, data inline."""
        if self.stored is None:
            self.stored = self.chart.to_dict()
        return self.stored

    def summary(self) -> dict[str, Any]:
        """What the transcript and the history list show: no data."""
        return {
            "id": self.id,
            "title": self.title,
            "mark": self.mark,
            "rows": self.rows,
            "source_rows": self.source_rows,
            "result_id": self.result_id,
            "reduced": self.reduced,
        }

    def for_history(self) -> dict[str, Any]:
        """What a saved conversation keeps: the summary and the full spec (its data if small)."""
        full = self.to_dict()
        small = len(json.dumps(full, default=str)) <= MAX_STORED_CHARS
        return {**self.summary(), "spec": full if small else self.spec, "has_data": small}


def make_chart(
    spec: Any,
    source: QueryResult | pl.DataFrame,
    *,
    max_rows: int,
    title: str | None = None,
) -> ChartRecord:
    """Check ``spec`` and bind it to ``source``'s rows (see the module docstring).

    Raises
    ------
    ChartError
        The spec is invalid or unsafe, names a field that is not a column, or
        would carry more than ``max_rows`` rows even after its transforms.
    """
    frame_schema = _schema(source)
    friendly = {name: friendly_type(dtype) for name, dtype in frame_schema.items()}
    checked = check_spec(spec, friendly)
    if title:
        checked["title"] = title
    total = source.total_rows if isinstance(source, QueryResult) else source.height
    result_id = source.id if isinstance(source, QueryResult) else None
    if total <= max_rows:
        data = _plottable(source.data if isinstance(source, QueryResult) else source, checked)
        chart = _bind(checked, {None: data})
        return ChartRecord(_new_id(), chart, checked, data.height, total, result_id, _title(checked))
    if not pretransform.available():
        raise ChartError(
            f"The result has {total:,} rows, more than a chart carries "
            f"(CHATDF_CHART_MAX_ROWS={max_rows:,}). Aggregate in SQL first (GROUP BY, DATE_TRUNC) "
            "and chart that result. (Installing chatdf[charts] lets a spec's own "
            "aggregate or bin run in the kernel.)",
            details={"reason": "too_many_rows", "max_rows": max_rows, "rows": total},
        )
    reduced = pretransform.reduce_spec(checked, _table_reader(source), frame_schema, max_rows)
    frames = {key: _plottable(frame, reduced.spec) for key, frame in reduced.frames.items()}
    chart = _bind(reduced.spec, frames)
    return ChartRecord(
        _new_id(),
        chart,
        checked,
        sum(f.height for f in frames.values()),
        total,
        result_id,
        _title(checked),
        reduced=True,
        elapsed_ms=reduced.elapsed_ms,
    )


def chart_from_dict(spec: dict[str, Any]) -> Any:
    """An Altair chart of the class the spec's shape says, built without validating again.

    (``alt.Chart.from_dict`` picks the class by trying each under validation; the
    spec was validated already, and unvalidated it would take the first class.)
    """
    import altair as alt

    cls = getattr(alt, _CLASSES[view_kind(spec)])
    if cls is alt.Chart:
        return super(alt.Chart, alt.Chart).from_dict(spec, validate=False)
    return cls.from_dict(spec, validate=False)


def chart_payload(record: ChartRecord) -> dict[str, Any]:
    """What the model reads after a successful ``create_chart``."""
    payload: dict[str, Any] = {
        "chart_id": record.id,
        "mark": record.mark,
        "rows_plotted": record.rows,
        "result_rows": record.source_rows,
        "note": (
            "The chart is shown to the user under your answer, above the result table. "
            "Refer to it briefly; do not describe it as an image or repeat its numbers."
        ),
    }
    if record.reduced:
        payload["note"] += (
            f" Its {record.source_rows:,} rows were reduced to {record.rows:,} by the spec's "
            "transforms in the kernel."
        )
    return payload


# -- binding data -------------------------------------------------------------------------


def _schema(source: Any) -> dict[str, pl.DataType]:
    if isinstance(source, QueryResult):
        return dict(source.polars_schema)  # reads no rows, even on a cluster
    return dict(source.schema)


def _table_reader(source: QueryResult | pl.DataFrame) -> Any:
    """``read(names)``: a pyarrow Table of those columns, without copying a mapped result."""

    def read(names: list[str]) -> Any:
        import pyarrow as pa
        import pyarrow.ipc

        if isinstance(source, QueryResult) and source.file is not None:
            try:
                with pa.memory_map(str(source.file.path)) as mapped:
                    return pa.ipc.open_file(mapped).read_all().select(names)
            except pa.ArrowException:  # a type pyarrow cannot map: read just these columns
                return pl.scan_ipc(source.file.path).select(names).collect().to_arrow()
            except OSError:
                raise ChartError(
                    f"Result {source.id} is no longer kept; run its SQL again.",
                    details={"reason": "no_result", "result_id": source.id},
                ) from None
        frame = source.data if isinstance(source, QueryResult) else source
        return frame.select(names).to_arrow()

    return read


def _plottable(frame: pl.DataFrame, spec: dict[str, Any]) -> pl.DataFrame:
    """``frame`` with values a browser can read from JSON: NaN and infinities become
    nulls, decimals floats, categories text; columns of lists or bytes are dropped
    (the spec was checked not to plot them... unless it names them: then refused)."""
    text = json.dumps(spec)
    fixes: list[pl.Expr] = []
    dropped: list[str] = []
    for name, dtype in frame.schema.items():
        if dtype.is_float():
            fixes.append(pl.when(pl.col(name).is_finite()).then(pl.col(name)).otherwise(None).alias(name))
        elif dtype.is_decimal() or dtype in (pl.Int128, pl.UInt128):
            fixes.append(pl.col(name).cast(pl.Float64))
        elif isinstance(dtype, (pl.Categorical, pl.Enum)) or dtype in (pl.Time, pl.Binary, pl.Object):
            fixes.append(pl.col(name).cast(pl.String, strict=False))
        elif isinstance(dtype, pl.Duration):
            fixes.append(pl.col(name).dt.total_milliseconds().cast(pl.Float64) / 1000)
        elif dtype.is_nested() or dtype == pl.Null:
            if json.dumps(name) in text:
                raise ChartError(
                    f"The column {name!r} holds {dtype}, which a chart cannot plot; select "
                    "plain numbers, text or dates in SQL (e.g. unnest the list) first.",
                    details={"reason": "unsupported", "field": name},
                )
            dropped.append(name)
    if fixes:
        frame = frame.with_columns(fixes)
    return frame.drop(dropped) if dropped else frame


def _bind(spec: dict[str, Any], frames: dict[str | None, pl.DataFrame]) -> Any:
    """The Altair chart for ``spec`` with ``frames`` as its data (key None: the top level)."""
    import altair as alt
    import narwhals.stable.v1 as nw

    chart = chart_from_dict(spec)
    named = {}
    for key, frame in frames.items():
        if key is None:
            chart.data = frame if frame.height <= ALTAIR_MAX_ROWS else alt.InlineData(values=_values(frame, nw))
        else:
            named[key] = _values(frame, nw)
    if named:
        chart.datasets = named
    return chart


def _values(frame: pl.DataFrame, nw: Any) -> list[dict[str, Any]]:
    from altair.utils.data import to_values

    values = to_values(nw.from_native(frame, eager_only=True))["values"]
    return cast("list[dict[str, Any]]", values)


def _title(spec: dict[str, Any]) -> str | None:
    title = spec.get("title")
    if isinstance(title, dict):
        title = title.get("text")
    if isinstance(title, list):
        title = " ".join(str(t) for t in title)
    return title if isinstance(title, str) else None


def _new_id() -> str:
    return uuid.uuid4().hex[:12]


# -- the session's charts --------------------------------------------------------------------


class Charts:
    """The charts of one session, newest last, at most ``KEPT_CHARTS``.

    Parameters
    ----------
    max_rows
        ``CHATDF_CHART_MAX_ROWS``.
    results
        The session's kept results: where result ids are looked up, and the
        default (the newest) when no result is given.
    """

    def __init__(self, max_rows: int, results: ResultCache) -> None:
        self.max_rows = max_rows
        self.results = results
        self._charts: OrderedDict[str, ChartRecord] = OrderedDict()

    async def create(
        self, spec: Any, result: str | QueryResult | Any = None, title: str | None = None
    ) -> ChartRecord:
        """Make and keep a chart of ``result`` (an id, a QueryResult, a DataFrame; None:
        the newest kept result). The work runs on a thread, off the event loop."""
        source = self.source(result)
        record = await asyncio.to_thread(
            make_chart, spec, source, max_rows=self.max_rows, title=title
        )
        self.keep(record)
        return record

    def source(self, result: Any) -> QueryResult | pl.DataFrame:
        """The rows ``result`` names (see :meth:`create`)."""
        if result is None:
            newest = next(reversed(self.results), None)
            if newest is None:
                raise ChartError(
                    "There is no result to chart yet: run a query (execute_sql) first.",
                    details={"reason": "no_result"},
                )
            return self.results[newest]
        if isinstance(result, str):
            try:
                return self.results.require(result)
            except ChatDFError as exc:
                raise ChartError(exc.message, details={**exc.details, "reason": "no_result"}) from None
        if isinstance(result, (QueryResult, pl.DataFrame)):
            return result
        frame = _frame_of(result)
        if frame is None:
            raise ChartError(
                f"Cannot chart a {type(result).__name__}: give a result id, a QueryResult or a "
                "DataFrame (polars, pandas or Arrow).",
                details={"reason": "no_result"},
            )
        return frame

    def keep(self, record: ChartRecord) -> None:
        self._charts[record.id] = record
        self._charts.move_to_end(record.id)
        while len(self._charts) > KEPT_CHARTS:
            self._charts.popitem(last=False)

    def find(self, chart_id: str) -> ChartRecord | None:
        return self._charts.get(chart_id)

    def get(self, chart_id: str) -> ChartRecord:
        """A kept chart; ChartError ``unknown_chart`` when there is none by that id."""
        record = self._charts.get(chart_id)
        if record is None:
            raise ChartError(
                f"Chart {chart_id!r} is not kept in this session; ask for it again.",
                details={"reason": "unknown_chart", "chart_id": chart_id},
            )
        return record

    @property
    def last(self) -> ChartRecord | None:
        return self._charts[next(reversed(self._charts))] if self._charts else None

    def restore(self, stored: dict[str, Any]) -> ChartRecord | None:
        """Keep again a chart read back from the history (None when it kept no data)."""
        if not stored.get("has_data") or not isinstance(stored.get("spec"), dict):
            return None
        try:
            check_safety(stored["spec"])  # a hand-edited history must not smuggle in a URL
            chart = chart_from_dict(stored["spec"])
        except Exception:  # noqa: BLE001 - a damaged or unsafe record: the message keeps its text
            return None
        record = ChartRecord(
            id=str(stored.get("id") or _new_id()),
            chart=chart,
            spec={k: v for k, v in stored["spec"].items() if k not in ("data", "datasets")},
            rows=int(stored.get("rows") or 0),
            source_rows=int(stored.get("source_rows") or 0),
            result_id=stored.get("result_id"),
            title=stored.get("title"),
            reduced=bool(stored.get("reduced")),
            stored=stored["spec"],
        )
        self.keep(record)
        return record


def _frame_of(value: Any) -> pl.DataFrame | None:
    """A polars frame of a pandas DataFrame or an Arrow table, else None."""
    module = type(value).__module__.split(".")[0]
    try:
        if module == "pandas":
            return pl.from_pandas(value)
        if module == "pyarrow":
            frame = pl.from_arrow(value)
            return frame if isinstance(frame, pl.DataFrame) else None
    except Exception:  # noqa: BLE001 - not convertible: the caller says what it accepts
        return None
    return None

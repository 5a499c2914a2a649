"""Charting a result too large to send: the spec's data transforms run in the kernel.

A chart of a 10M-row result must not carry 10M rows into the notebook or the
browser. Most such charts reduce the rows themselves (a bar of a sum per
category, a histogram, a line per month), so the reduction runs here, with
VegaFusion (Rust, over Arrow) instead of in the browser:

1. **Lift.** Each view's encoding-level ``timeUnit``, ``bin`` and ``aggregate``
   become explicit Vega-Lite transforms whose outputs get names chosen here
   (``sum_price``, ``price_bin``/``price_bin_end``, ``yearmonth_day``), after
   the spec's own transforms. With an aggregate, every other encoded field
   is a group key, as Vega-Lite would make it.
2. **Evaluate.** A data-only Vega-Lite spec holding those transforms is
   compiled to Vega (vl-convert) and VegaFusion evaluates it over the result's
   Arrow table: the mapped result file, only the columns the transforms read,
   no copy.
3. **Rewrite.** The view's encodings now name the lifted fields, with no
   aggregate and ``bin: {"binned": true}`` plus an ``x2``/``y2`` for the bin's end, and
   titles as Vega-Lite would have written them; the view's transforms are
   gone. So ``chart.to_dict()`` is an ordinary spec over the small table, and
   the browser draws the same picture from it.

A view that does not reduce the rows below the cap is refused with words that
tell the model to aggregate in SQL. Unit, layer, concat and facet-operator
specs are handled; ``repeat`` specs over large results are refused the same way.
Naive timestamps are truncated by their wall-clock fields, as the browser would.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ..errors import ChartError
from .spec import COMPOSITE_KEYS, escape_field, unescape_field, view_kind

__all__ = ["Reduced", "available", "reduce_spec"]

SOURCE = "source"
POSITION = {"x": "x2", "y": "y2", "theta": "theta2", "radius": "radius2"}
_UNSAFE_NAME = re.compile(r"[^0-9A-Za-z_]+")


def available() -> bool:
    """Whether VegaFusion and vl-convert (the ``charts`` extra) are installed."""
    try:
        import vegafusion  # noqa: F401
        import vl_convert  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class Reduced:
    """A spec rewritten over reduced data.

    ``spec`` has no transforms left in its views; each reduced view's data is
    ``{"name": key}`` with ``key`` in ``frames`` (a single-view chart's key is
    ``None``: its frame is the chart's own data).
    """

    spec: dict[str, Any]
    frames: dict[str | None, pl.DataFrame]
    input_rows: int
    elapsed_ms: float = 0.0

    @property
    def rows(self) -> int:
        return sum(frame.height for frame in self.frames.values())


@dataclass
class _View:
    """One view's data work: the transforms to evaluate and the columns to keep."""

    transforms: list[dict[str, Any]]
    keep: list[str]
    """Output columns to keep; with ``uses``, also any output column it mentions."""
    origins: dict[str, str] = field(default_factory=dict)
    """Output field -> the column it was computed from (for time zones)."""
    reduces: bool = False
    uses: str = ""
    """The rewritten view as JSON, when the outputs are not all known beforehand."""


def reduce_spec(spec: dict[str, Any], table: Any, columns: dict[str, pl.DataType], max_rows: int) -> Reduced:
    """Evaluate the data transforms of ``spec`` over ``table`` (a pyarrow Table of the result).

    Parameters
    ----------
    spec
        A spec checked by :func:`~chatdf.charts.spec.check_spec`.
    table
        A callable ``table(names)`` giving a pyarrow Table of those columns.
    columns
        The result's columns and dtypes.
    max_rows
        Rows the reduced data of the whole chart may have.

    Raises
    ------
    ChartError
        ``too_many_rows`` (aggregate in SQL first), ``unsupported`` or ``unavailable``.
    """
    started = time.perf_counter()
    views: dict[str | None, _View] = {}
    rewritten = _reduce_view(spec, [], {}, [], views, columns, top=True)
    frames: dict[str | None, pl.DataFrame] = {}
    input_rows = 0
    for key, view in views.items():
        if not view.reduces and not view.transforms:
            raise _too_many(None, max_rows)
        frame, input_rows = _evaluate(view, table, columns, max_rows - sum(f.height for f in frames.values()))
        frames[key] = frame
    return Reduced(rewritten, frames, input_rows, round((time.perf_counter() - started) * 1000, 1))


# -- lifting encodings into transforms -----------------------------------------------------


def _reduce_view(
    view: dict[str, Any],
    transforms: list[dict[str, Any]],
    encoding: dict[str, Any],
    extra_groupby: list[str],
    views: dict[str | None, _View],
    columns: dict[str, pl.DataType],
    *,
    top: bool = False,
) -> dict[str, Any]:
    kind = view_kind(view)
    view = {k: v for k, v in view.items() if k != "data"}
    transforms = transforms + list(view.pop("transform", None) or [])
    if kind == "repeat":
        raise ChartError(
            "A repeat chart over this many rows cannot be reduced in the kernel. Aggregate in "
            "SQL first (GROUP BY the fields you plot), then chart the smaller result.",
            details={"reason": "unsupported"},
        )
    if kind == "facet":
        facet = view["facet"]
        defs = [facet] if "field" in facet else [d for d in facet.values() if isinstance(d, dict)]
        if any(set(d) & {"bin", "timeUnit", "aggregate"} for d in defs):
            raise ChartError(
                "Binned or time-unit facets over this many rows are not supported; make the facet "
                "field in SQL (e.g. DATE_TRUNC) first.",
                details={"reason": "unsupported"},
            )
        inner = view["spec"]
        if view_kind(inner) != "unit":
            raise _too_many_layers()
        key = None if top else f"chatdf_view_{len(views)}"
        groupby = extra_groupby + [d["field"] for d in defs if isinstance(d.get("field"), str)]
        view["spec"], work = _reduce_unit(inner, transforms, encoding, groupby, columns)
        views[key] = work
        if key is not None:
            view["data"] = {"name": key}
        return view
    if kind == "unit":
        key = None if top else f"chatdf_view_{len(views)}"
        rewritten, work = _reduce_unit(view, transforms, encoding, extra_groupby, columns)
        views[key] = work
        if key is not None:
            rewritten["data"] = {"name": key}
        return rewritten
    if kind == "layer":
        encoding = {**encoding, **(view.pop("encoding", None) or {})}
    for composite in COMPOSITE_KEYS:
        if composite in view:
            view[composite] = [
                _reduce_view(child, transforms, encoding, extra_groupby, views, columns)
                for child in view[composite]
            ]
    return view


def _too_many_layers() -> ChartError:
    return ChartError(
        "A faceted layer chart over this many rows is not supported; aggregate in SQL first.",
        details={"reason": "unsupported"},
    )


def _reduce_unit(
    view: dict[str, Any],
    transforms: list[dict[str, Any]],
    inherited: dict[str, Any],
    extra_groupby: list[str],
    columns: dict[str, pl.DataType],
) -> tuple[dict[str, Any], _View]:
    encoding = {**inherited, **(view.get("encoding") or {})}
    lift = _Lift(columns, encoding)
    new_encoding: dict[str, Any] = {}
    for channel, value in encoding.items():
        if isinstance(value, list):
            new_encoding[channel] = [lift.definition(channel, item) for item in value]
        else:
            new_encoding[channel] = lift.definition(channel, value)
    for channel, end in lift.ends.items():
        new_encoding.setdefault(channel, end)
    lifted = transforms + lift.transforms
    rewritten = {k: v for k, v in view.items() if k not in ("encoding", "transform")}
    rewritten["encoding"] = new_encoding
    if lift.aggregates:
        lifted += lift.sort_transforms()
        groupby = list(dict.fromkeys(lift.groupby + extra_groupby))
        lifted.append({"aggregate": lift.aggregates, "groupby": groupby})
        keep = [unescape_field(g) for g in groupby] + [a["as"] for a in lift.aggregates]
        return rewritten, _View(lifted, keep, lift.origins, reduces=True)
    # No aggregate in the encoding: keep every column the rewritten view names (the
    # spec's own transforms may make or drop columns, so this is settled on the output).
    text = json.dumps(rewritten)
    keep = [unescape_field(g) for g in extra_groupby]
    return rewritten, _View(lifted, keep, lift.origins, uses=text)


class _Lift:
    """Turns one view's encoding-level transforms into explicit ones."""

    def __init__(self, columns: dict[str, pl.DataType], encoding: dict[str, Any]) -> None:
        self.columns = columns
        self.encoding = encoding
        self.transforms: list[dict[str, Any]] = []
        self.aggregates: list[dict[str, Any]] = []
        self.groupby: list[str] = []
        self.ends: dict[str, dict[str, Any]] = {}
        self.origins: dict[str, str] = {}
        self._sorts: list[tuple[str, dict[str, Any]]] = []
        self._names: set[str] = set(columns)

    def fresh(self, base: str) -> str:
        name = _UNSAFE_NAME.sub("_", base).strip("_") or "field"
        while name in self._names:
            name += "_"
        self._names.add(name)
        return name

    def definition(self, channel: str, item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        item = dict(item)
        condition = item.get("condition")
        if isinstance(condition, dict) and "field" in condition:
            item["condition"] = self.definition(channel, condition)
        elif isinstance(condition, list):
            item["condition"] = [self.definition(channel, c) if "field" in c else c for c in condition]
        if "field" not in item and item.get("aggregate") != "count":
            return item
        source = item.get("field")
        if source is not None and not isinstance(source, str):
            raise ChartError(
                "This spec refers to fields indirectly (repeat); over this many rows aggregate in "
                "SQL first.",
                details={"reason": "unsupported"},
            )
        plain = unescape_field(source) if source else ""
        if "timeUnit" in item:
            unit = item["timeUnit"]
            unit_name = unit.get("unit", "time") if isinstance(unit, dict) else unit
            name = self.fresh(f"{unit_name}_{plain}")
            self.transforms.append({"timeUnit": unit, "field": source, "as": name})
            self.origins[name] = plain
            item.setdefault("title", f"{plain} ({unit_name})")
            item.setdefault("type", "temporal")
            item["field"] = source = name  # the time unit stays: applied again it changes nothing
        bin_params = item.get("bin")
        if bin_params and bin_params != "binned" and not (isinstance(bin_params, dict) and bin_params.get("binned")):
            start, end = self.fresh(f"{plain}_bin"), self.fresh(f"{plain}_bin_end")
            self.transforms.append({"bin": bin_params, "field": source, "as": [start, end]})
            item.setdefault("title", f"{plain} (binned)")
            item.setdefault("type", "quantitative")
            item["field"] = start
            if channel in POSITION:
                step = bin_params.get("step") if isinstance(bin_params, dict) else None
                item["bin"] = {"binned": True, **({"step": step} if step else {})}
                if POSITION[channel] not in self.encoding:
                    self.ends[POSITION[channel]] = {"field": end}
            else:
                del item["bin"]
                item["type"] = "ordinal"
            self.groupby += [start, end]
            source = start
        op = item.get("aggregate")
        if op is not None:
            if not isinstance(op, str):
                raise ChartError(
                    "argmin/argmax encodings over this many rows are not supported; aggregate in "
                    "SQL first.",
                    details={"reason": "unsupported"},
                )
            name = self.fresh(f"{op}_{plain}" if plain else op)
            self.aggregates.append({"op": op, **({"field": source} if source else {}), "as": name})
            item.setdefault("title", "Count of Records" if op == "count" and not plain else f"{op.title()} of {plain}")
            if "type" not in item:
                temporal = plain in self.columns and self.columns[plain].is_temporal()
                item["type"] = "temporal" if temporal and op in ("min", "max", "median") else "quantitative"
            del item["aggregate"]
            item["field"] = name
            return item
        if isinstance(source, str) and source not in self.groupby:
            self.groupby.append(source)
        sort = item.get("sort")
        if isinstance(sort, dict) and isinstance(sort.get("field"), str):
            item["sort"] = dict(sort)
            self._sorts.append((source, item["sort"]))
        return item

    def sort_transforms(self) -> list[dict[str, Any]]:
        """Sorting by an aggregate of a raw field: that aggregate, computed per sorted
        group before the main aggregation, becomes a group key the sort can use."""
        transforms = []
        for grouped, sort in self._sorts:
            op = sort.get("op", "min")
            name = self.fresh(f"{op}_{unescape_field(sort['field'])}_sort")
            transforms.append(
                {"joinaggregate": [{"op": op, "field": sort["field"], "as": name}], "groupby": [grouped]}
            )
            order = sort.get("order")
            sort.clear()
            sort.update({"field": name, "op": "min", **({"order": order} if order else {})})
            self.groupby.append(name)
        return transforms


def _mentions(text: str, name: str) -> bool:
    return json.dumps(name) in text or json.dumps(escape_field(name)) in text or bool(
        re.search(rf"datum\s*(\.{re.escape(name)}\b|\[\s*\\?['\"]{re.escape(name)}\\?['\"])", text)
    )


# -- evaluation -------------------------------------------------------------------------------


def _evaluate(view: _View, table: Any, columns: dict[str, pl.DataType], max_rows: int) -> tuple[pl.DataFrame, int]:
    import vegafusion as vf
    import vl_convert as vlc

    text = json.dumps(view.transforms)
    needed = [c for c in columns if c in view.keep or _mentions(text + view.uses, c)]
    source = _chartable(table(needed), columns)
    transforms = [_in_utc(t) for t in view.transforms]
    data_spec = {"data": {"url": f"vegafusion+dataset://{SOURCE}"}, "transform": transforms, "mark": "point"}
    try:
        vega = vlc.vegalite_to_vega(data_spec, vl_version=_vl_version(vlc))
        name = vega["marks"][0]["from"]["data"]
        [out], _warnings = vf.runtime.pre_transform_datasets(
            vega,
            [name],
            local_tz="UTC",  # naive times are wall-clock times: truncate their own fields
            default_input_tz="UTC",
            row_limit=max_rows + 1,
            inline_datasets={SOURCE: source},
            dataset_format="pyarrow",
        )
    except ValueError as exc:
        raise ChartError(
            f"The chart's transforms could not be evaluated over {source.num_rows:,} rows in the "
            f"kernel ({_first_line(exc)}). Aggregate in SQL first (GROUP BY the fields you plot), "
            "then chart the smaller result.",
            details={"reason": "unsupported"},
        ) from None
    finally:
        vf.runtime.clear_cache()  # cached task values can be large; a chart is computed once
    if out.num_rows > max_rows:
        raise _too_many(out.num_rows, max_rows, reduced=view.reduces)
    frame = pl.from_arrow(out)
    assert isinstance(frame, pl.DataFrame)
    keep = [c for c in frame.columns if c in view.keep or (view.uses and _mentions(view.uses, c))]
    return _restore_times(frame.select(keep), columns, view.origins), source.num_rows


def _in_utc(transform: dict[str, Any]) -> dict[str, Any]:
    """A timeUnit transform in its UTC form: the same result here, where the local time
    zone is UTC, and about twice as fast in VegaFusion."""
    unit = transform.get("timeUnit")
    if isinstance(unit, str) and not unit.startswith("utc"):
        return {**transform, "timeUnit": f"utc{unit}"}
    if isinstance(unit, dict) and isinstance(unit.get("unit"), str) and not unit["unit"].startswith("utc"):
        return {**transform, "timeUnit": {**unit, "unit": f"utc{unit['unit']}"}}
    return transform


def _chartable(table: Any, columns: dict[str, pl.DataType]) -> Any:
    """``table`` with the column types VegaFusion reads (dictionary and decimal cast)."""
    import pyarrow as pa

    fields = []
    for column in table.schema:
        kind = column.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
            if pa.types.is_string(kind) or pa.types.is_string_view(kind) or pa.types.is_large_string(kind):
                kind = pa.large_string()
        elif pa.types.is_decimal(kind) or pa.types.is_float16(kind):
            kind = pa.float64()
        elif pa.types.is_time(kind) or pa.types.is_binary(kind) or pa.types.is_binary_view(kind):
            kind = pa.large_string()
        elif pa.types.is_nested(kind) or pa.types.is_duration(kind):
            raise ChartError(
                f"The column {column.name!r} holds {column.type}, which a chart cannot plot over "
                "this many rows; select plain numbers, text or dates in SQL first.",
                details={"reason": "unsupported", "field": column.name},
            )
        fields.append(pa.field(column.name, kind))
    schema = pa.schema(fields)
    return table if schema == table.schema else table.cast(schema)


def _restore_times(frame: pl.DataFrame, columns: dict[str, pl.DataType], origins: dict[str, str]) -> pl.DataFrame:
    """VegaFusion gives UTC timestamps; put back naive times and dates as the source had them."""
    fixes = []
    for name, dtype in frame.schema.items():
        if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
            continue
        source = columns.get(origins.get(name, name))
        if isinstance(source, pl.Datetime) and source.time_zone:
            fixes.append(pl.col(name).dt.convert_time_zone(source.time_zone).dt.cast_time_unit("ms"))
        elif source == pl.Date and name in columns:
            fixes.append(pl.col(name).dt.replace_time_zone(None).dt.date())
        else:
            fixes.append(pl.col(name).dt.replace_time_zone(None).dt.cast_time_unit("ms"))
    return frame.with_columns(fixes) if fixes else frame


def _vl_version(vlc: Any) -> str:
    import altair as alt

    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    versions = vlc.get_vegalite_versions()
    return wanted if wanted in versions else versions[-1]


def _too_many(rows: int | None, max_rows: int, *, reduced: bool = False) -> ChartError:
    what = (
        f"After the spec's aggregation the chart would still plot {rows:,}+ rows"
        if reduced and rows is not None
        else "This chart would plot every row of the result"
        if rows is None
        else f"After the spec's transforms the chart would plot {rows:,}+ rows"
    )
    return ChartError(
        f"{what}; charts carry at most {max_rows:,} (CHATDF_CHART_MAX_ROWS). Aggregate in SQL "
        "first (GROUP BY the categories or DATE_TRUNC the time you plot, with COUNT/SUM/AVG), "
        "or bin or aggregate in the spec's encoding, then call create_chart again.",
        details={"reason": "too_many_rows", "max_rows": max_rows, "rows": rows},
    )


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]

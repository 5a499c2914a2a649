"""Spec checks: what the model reads when a spec is wrong, and what a right one becomes."""

from __future__ import annotations

import pytest

from chatdf.charts.spec import check_spec
from chatdf.errors import ChartError, ChatDFError

COLUMNS = {"city": "Text", "total": "Decimal", "day": "Date", "orders": "Integer", "a.b": "Integer"}


def refused(spec: object, columns: dict = COLUMNS) -> ChartError:
    with pytest.raises(ChartError) as caught:
        check_spec(spec, columns)
    assert isinstance(caught.value, ChatDFError)
    return caught.value


def test_an_unknown_field_names_it_the_closest_column_and_all_columns() -> None:
    error = refused({"mark": "bar", "encoding": {"x": {"field": "cty"}, "y": {"field": "total"}}})
    assert error.details == {"reason": "unknown_field", "field": "cty"}
    assert "`encoding.x.field` uses the field 'cty'" in error.message
    assert "Did you mean 'city'?" in error.message
    assert "city (Text), total (Decimal), day (Date), orders (Integer), a.b (Integer)" in error.message


def test_a_bad_mark_lists_the_valid_marks() -> None:
    error = refused({"mark": "bars", "encoding": {"x": {"field": "city"}}})
    assert error.details["reason"] == "invalid_spec"
    assert '`mark` is "bars", which is not a mark.' in error.message
    for mark in ("bar", "line", "point", "area", "arc", "boxplot"):
        assert mark in error.message
    assert "image" not in error.message  # refused anyway: it loads URLs
    assert "Failed validating" not in error.message  # not the validator's raw text


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (
            {"mark": "bar", "encoding": {"x": {"field": "city", "type": "categorical"}}},
            ['`encoding.x.type` is "categorical"', '"quantitative", "ordinal", "temporal", "nominal"'],
        ),
        (
            {"mark": "bar", "encoding": {"colour": {"field": "city", "type": "nominal"}}},
            ["`encoding` has no channel 'colour' (did you mean 'color'?)", "Channels: angle, color"],
        ),
        (
            {"mark": "bar", "encoding": {"x": {"field": "city", "typ": "nominal"}}},
            ["`encoding.x` has no property 'typ' (did you mean 'type'?)"],
        ),
        (
            {"mark": {"type": "bar", "colr": "red"}},
            ["`mark` has no property 'colr' (did you mean 'color'?)"],
        ),
        (
            {"mark": "bar", "encoding": {"y": {"field": "total", "aggregate": "summ"}}},
            ['`encoding.y.aggregate` is "summ"', '"sum"', '"mean"'],
        ),
        (
            {"mark": "bar", "encoding": {"x": {"field": "total", "bin": {"maxbins": "ten"}}}},
            ['`encoding.x.bin.maxbins` must be a number, not "ten"'],
        ),
        (
            {"layer": [{"mark": "poit", "encoding": {"x": {"field": "city"}}}]},
            ['`layer[0].mark` is "poit", which is not a mark.'],
        ),
    ],
)
def test_schema_errors_say_where_what_and_what_may_be_there(spec: dict, words: list[str]) -> None:
    error = refused(spec)
    assert error.details["reason"] == "invalid_spec"
    assert error.message.startswith("The spec is not valid Vega-Lite: ")
    for word in words:
        assert word in error.message


def test_a_field_dropped_by_an_aggregate_transform_is_named_so() -> None:
    spec = {
        "mark": "bar",
        "transform": [{"aggregate": [{"op": "sum", "field": "total", "as": "sum"}], "groupby": ["city"]}],
        "encoding": {"x": {"field": "city"}, "y": {"field": "day"}},
    }
    error = refused(spec)
    assert error.details["reason"] == "unknown_field"
    assert "aggregate transform earlier in the spec dropped" in error.message
    assert "city, sum" in error.message


def test_fields_made_by_transforms_may_be_plotted() -> None:
    spec = {
        "mark": "line",
        "transform": [
            {"calculate": "datum.total / datum.orders", "as": "per_order"},
            {"timeUnit": "yearmonth", "field": "day", "as": "month"},
            {"fold": ["total", "orders"]},
        ],
        "encoding": {
            "x": {"field": "month", "type": "temporal"},
            "y": {"field": "per_order", "type": "quantitative"},
            "color": {"field": "key", "type": "nominal"},
        },
    }
    assert check_spec(spec, COLUMNS)["encoding"]["y"]["field"] == "per_order"


def test_transform_fields_are_checked_too() -> None:
    spec = {"mark": "bar", "transform": [{"filter": {"field": "cost", "gt": 3}}], "encoding": {}}
    assert "`transform[0].filter.field` uses the field 'cost'" in refused(spec).message


def test_types_come_from_the_columns_and_dotted_names_are_escaped() -> None:
    spec = {
        "mark": "point",
        "encoding": {
            "x": {"field": "day"},
            "y": {"field": "a.b"},
            "color": {"field": "city"},
            "size": {"field": "orders", "type": "ordinal"},  # given: kept
            "tooltip": [{"field": "total"}],
        },
    }
    encoding = check_spec(spec, COLUMNS)["encoding"]
    assert encoding["x"] == {"field": "day", "type": "temporal"}
    assert encoding["y"] == {"field": "a\\.b", "type": "quantitative"}
    assert encoding["color"]["type"] == "nominal"
    assert encoding["size"]["type"] == "ordinal"
    assert encoding["tooltip"] == [{"field": "total", "type": "quantitative"}]


def test_a_name_only_data_and_schema_are_dropped_and_the_input_is_not_changed() -> None:
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "data": {"name": "result"},
        "mark": "bar",
        "encoding": {"x": {"field": "city"}},
    }
    checked = check_spec(spec, COLUMNS)
    assert "$schema" not in checked and "data" not in checked
    assert spec["encoding"]["x"] == {"field": "city"}  # the caller's dict is untouched


def test_a_spec_as_json_text_or_an_altair_chart() -> None:
    import altair as alt

    assert check_spec('{"mark": "bar", "encoding": {"x": {"field": "city"}}}', COLUMNS)["mark"] == "bar"
    chart = alt.Chart().mark_line().encode(x="day:T", y="total:Q")
    assert check_spec(chart, COLUMNS)["encoding"]["x"]["field"] == "day"


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("{not json", "not valid JSON"),
        (["bar"], "must be a Vega-Lite JSON object"),
        ({"mark": "bar", "width": float("nan")}, "only JSON values"),
        ({"mark": "bar", "description": "x" * 200_000}, "at most 100,000"),
    ],
)
def test_malformed_specs(spec: object, words: str) -> None:
    error = refused(spec)
    assert error.details["reason"] == "invalid_spec" and words in error.message

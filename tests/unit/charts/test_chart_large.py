"""Results above CHATDF_CHART_MAX_ROWS: the spec's transforms run in the kernel (VegaFusion).

Each chart's reduced data is compared with the same reduction done in Polars,
and its ``to_dict()`` must be an ordinary spec over those few rows.
"""

from __future__ import annotations

import datetime as dt
import json
import sys

import altair as alt
import comm
import polars as pl
import pytest

from chatdf import ChatDF
from chatdf.charts import make_chart
from chatdf.errors import ChartError
from tests.fake_gemini import TEST_API_KEY, FakeGemini, function_call, text_chunks
from tests.unit.widget._widget_helpers import Browser, RecordingComm

CAP = 100
N = 20_000


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    start = dt.datetime(2024, 1, 1)
    return pl.DataFrame(
        {
            "city": [("Oslo", "Lima", "Pune", "Kyiv")[i % 4] for i in range(N)],
            "price": [float((i * 37) % 1000) / 10 for i in range(N)],
            # Every 20 minutes from Jan 1: months end at 23:40 on their last day.
            "at": [start + dt.timedelta(minutes=20 * i) for i in range(N)],
        }
    )


def values(chart: alt.TopLevelMixin) -> tuple[dict, list[dict]]:
    spec = chart.to_dict()
    [rows] = spec["datasets"].values()
    return spec, rows


def test_an_aggregate_is_computed_in_the_kernel(frame: pl.DataFrame) -> None:
    spec = {"mark": "bar", "encoding": {"x": {"field": "city"}, "y": {"field": "price", "aggregate": "mean"}}}

    record = make_chart(spec, frame, max_rows=CAP)

    assert record.reduced and record.rows == 4 and record.source_rows == N
    expected = frame.group_by("city").agg(mean_price=pl.col("price").mean())
    got = record.chart.data
    assert got.sort("city").equals(expected.sort("city"))
    drawn, rows = values(record.chart)
    assert drawn["encoding"]["y"] == {"field": "mean_price", "title": "Mean of price", "type": "quantitative"}
    assert len(rows) == 4
    assert record.spec["encoding"]["y"]["aggregate"] == "mean"  # what was asked is kept
    assert alt.data_transformers.active == "default"  # nothing switched on for the user


def test_a_histogram_bins_in_the_kernel(frame: pl.DataFrame) -> None:
    spec = {"mark": "bar", "encoding": {"x": {"field": "price", "bin": {"maxbins": 20}}, "y": {"aggregate": "count"}}}

    record = make_chart(spec, frame, max_rows=CAP)

    drawn, rows = values(record.chart)
    assert drawn["encoding"]["x"]["bin"] == {"binned": True}
    assert drawn["encoding"]["x2"] == {"field": "price_bin_end"}
    assert drawn["encoding"]["y"]["title"] == "Count of Records"
    assert sum(r["count"] for r in rows) == N
    for row in rows:
        inside = frame.filter((pl.col("price") >= row["price_bin"]) & (pl.col("price") < row["price_bin_end"]))
        assert inside.height == row["count"]


def test_time_units_truncate_wall_clock_times(frame: pl.DataFrame) -> None:
    spec = {
        "mark": "line",
        "encoding": {
            "x": {"field": "at", "timeUnit": "yearmonth"},
            "y": {"field": "price", "aggregate": "sum"},
            "color": {"field": "city"},
        },
    }

    record = make_chart(spec, frame, max_rows=CAP)

    got = record.chart.data.sort("yearmonth_at", "city")
    expected = (
        frame.group_by(pl.col("at").dt.truncate("1mo").alias("yearmonth_at"), "city")
        .agg(sum_price=pl.col("price").sum())
        .sort("yearmonth_at", "city")
    )
    assert got.schema["yearmonth_at"] == pl.Datetime("ms")  # naive, as the source
    assert got.select("yearmonth_at", "city").equals(expected.select(pl.col("yearmonth_at").dt.cast_time_unit("ms"), "city"))
    assert got["sum_price"].to_list() == pytest.approx(expected["sum_price"].to_list())
    drawn, rows = values(record.chart)
    assert drawn["encoding"]["x"]["timeUnit"] == "yearmonth"  # applied again, it changes nothing
    assert rows[0]["yearmonth_at"] == "2024-01-01T00:00:00"


def test_sorting_by_an_aggregate_of_another_field_survives(frame: pl.DataFrame) -> None:
    spec = {
        "mark": "bar",
        "encoding": {
            "x": {"field": "city", "sort": {"field": "price", "op": "max", "order": "descending"}},
            "y": {"aggregate": "count"},
        },
    }
    record = make_chart(spec, frame, max_rows=CAP)
    drawn, rows = values(record.chart)
    key = drawn["encoding"]["x"]["sort"]["field"]
    assert drawn["encoding"]["x"]["sort"] == {"field": key, "op": "min", "order": "descending"}
    expected = dict(frame.group_by("city").agg(pl.col("price").max()).iter_rows())
    assert {r["city"]: r[key] for r in rows} == expected


def test_layers_and_facets_get_their_own_reduced_data(frame: pl.DataFrame) -> None:
    layered = {
        "layer": [
            {"mark": "bar", "encoding": {"x": {"field": "city"}, "y": {"field": "price", "aggregate": "mean"}}},
            {"mark": "rule", "encoding": {"y": {"field": "price", "aggregate": "mean"}}},
        ]
    }
    record = make_chart(layered, frame, max_rows=CAP)
    assert isinstance(record.chart, alt.LayerChart) and record.rows == 5
    spec = record.chart.to_dict()
    assert sorted(len(rows) for rows in spec["datasets"].values()) == [1, 4]

    faceted = {
        "facet": {"column": {"field": "city"}},
        "spec": {"mark": "bar", "encoding": {"x": {"field": "price", "bin": True}, "y": {"aggregate": "count"}}},
    }
    record = make_chart(faceted, frame, max_rows=CAP)
    assert isinstance(record.chart, alt.FacetChart)
    assert record.chart.data["count"].sum() == N and set(record.chart.data["city"]) == {"Oslo", "Lima", "Pune", "Kyiv"}


def test_a_filter_that_leaves_few_rows_is_enough(frame: pl.DataFrame) -> None:
    spec = {
        "mark": "point",
        "transform": [{"filter": "datum.price >= 99.5"}],
        "encoding": {"x": {"field": "at"}, "y": {"field": "price"}},
    }
    record = make_chart(spec, frame, max_rows=CAP)
    kept = record.chart.data
    assert sorted(kept.columns) == ["at", "price"]  # only what the chart plots
    assert kept.equals(frame.filter(pl.col("price") >= 99.5).select(kept.columns))
    assert "transform" not in record.chart.to_dict()


@pytest.mark.parametrize(
    ("spec", "reason", "words"),
    [
        ({"mark": "point", "encoding": {"x": {"field": "price"}, "y": {"field": "at"}}}, "too_many_rows", "would plot every row"),
        ({"mark": "point", "encoding": {"x": {"field": "at", "timeUnit": "yearmonthdatehours"}, "y": {"aggregate": "count"}}}, "too_many_rows", "still plot 101+ rows"),
        ({"repeat": ["price"], "spec": {"mark": "bar", "encoding": {"x": {"field": {"repeat": "repeat"}, "type": "quantitative"}, "y": {"aggregate": "count"}}}}, "unsupported", "Aggregate in SQL first"),
        ({"mark": "line", "transform": [{"loess": "price", "on": "at"}], "encoding": {"x": {"field": "at"}, "y": {"field": "price"}}}, "unsupported", "could not be evaluated over 20,000 rows"),
    ],
)
def test_what_cannot_be_reduced_says_to_aggregate_in_sql(frame: pl.DataFrame, spec: dict, reason: str, words: str) -> None:
    with pytest.raises(ChartError) as caught:
        make_chart(spec, frame, max_rows=CAP)
    assert caught.value.details["reason"] == reason
    assert words in caught.value.message and "SQL" in caught.value.message


def test_without_the_charts_extra_the_model_is_told_to_aggregate(
    frame: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "vegafusion", None)  # as if not installed
    spec = {"mark": "bar", "encoding": {"x": {"field": "city"}, "y": {"aggregate": "count"}}}
    with pytest.raises(ChartError) as caught:
        make_chart(spec, frame, max_rows=CAP)
    assert caught.value.details["reason"] == "too_many_rows"
    assert "Aggregate in SQL first" in caught.value.message and "chatdf[charts]" in caught.value.message
    assert make_chart(spec, frame.head(CAP), max_rows=CAP).rows == CAP  # small ones still work


@pytest.mark.slow
def test_ten_million_rows_charted_with_an_aggregate_send_only_the_aggregated_rows(
    fake_gemini: FakeGemini, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(comm, "create_comm", RecordingComm)  # play the browser too
    rows = 10_000_000
    big = tmp_path / "big.parquet"
    pl.select(
        grp=(pl.int_range(rows) % 7).cast(pl.String),
        price=(pl.int_range(rows) % 1000).cast(pl.Float64),
    ).write_parquet(big)
    chat = ChatDF(api_key=TEST_API_KEY, gemini_base_url=fake_gemini.url, workers=1)
    try:
        chat.add(str(big), name="big")
        fake_gemini.add_stream([function_call("execute_sql", {"query": "SELECT grp, price FROM big"})])
        spec = {"mark": "bar", "encoding": {"x": {"field": "grp"}, "y": {"field": "price", "aggregate": "mean"}}}
        fake_gemini.add_stream([function_call("create_chart", {"spec": spec})])
        fake_gemini.add_stream(text_chunks("All groups average about 500."))

        answer = chat.ask("Average price per group, as a chart")

        assert chat._session.result(answer.result_id).total_rows == rows
        sent = fake_gemini.requests[-1].function_responses()[-1]["response"]
        assert sent["rows_plotted"] == 7 and sent["result_rows"] == rows
        assert answer.chart.data.height == 7
        expected = pl.scan_parquet(big).group_by("grp").agg(mean_price=pl.col("price").mean()).collect()
        assert answer.chart.data.sort("grp").equals(expected.sort("grp"))
        # What the browser gets for the chart: the spec and the 7 rows, nothing more.
        reply, buffers = Browser(chat).request("chart", chart_id=answer.chart_id)
        assert reply["result"]["rows"] == 7 and reply["result"]["source_rows"] == rows
        [body] = buffers
        assert len(body) < 4000 and reply["result"]["bytes"] == len(body)
        drawn = json.loads(bytes(body))
        assert [len(v) for v in drawn["datasets"].values()] == [7]
    finally:
        chat.close()


def test_the_specs_own_aggregate_transform_reduces_too(frame: pl.DataFrame) -> None:
    spec = {
        "mark": "bar",
        "transform": [
            {"filter": {"field": "city", "oneOf": ["Oslo", "Lima"]}},
            {"aggregate": [{"op": "max", "field": "price", "as": "top"}], "groupby": ["city"]},
        ],
        "encoding": {"x": {"field": "city"}, "y": {"field": "top", "type": "quantitative"}},
    }
    record = make_chart(spec, frame, max_rows=CAP)
    expected = frame.filter(pl.col("city").is_in(["Oslo", "Lima"])).group_by("city").agg(top=pl.col("price").max())
    assert record.chart.data.sort("city").equals(expected.sort("city"))

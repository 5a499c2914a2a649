"""``chat.chart(spec, result=None)``: the same charts from Python, the same words on errors."""

from __future__ import annotations

import altair as alt
import polars as pl
import pytest

from chatdf import ChartError, ChatDF, ChatDFError, SessionClosedError
from tests.fake_gemini import TEST_API_KEY, FakeGemini

BAR = {"mark": "bar", "encoding": {"x": {"field": "city"}, "y": {"field": "price"}}}


@pytest.fixture
def chat(fake_gemini: FakeGemini):
    chat = ChatDF(api_key=TEST_API_KEY, gemini_base_url=fake_gemini.url, workers=1)
    chat.add(pl.DataFrame({"city": ["Oslo", "Lima", "Pune"], "price": [10.5, 3.25, 7.0]}), name="cities")
    yield chat
    chat.close()


def test_the_last_result_by_default_an_id_or_a_frame(chat: ChatDF) -> None:
    first = chat.sql("SELECT city, price FROM cities ORDER BY price")
    drawn = chat.chart(BAR)
    assert isinstance(drawn, alt.Chart) and drawn.data.equals(first)
    assert chat.last_chart is drawn

    last = chat.sql("SELECT city, price * 2 AS price FROM cities")
    first_id = next(iter(chat._session.results))
    assert chat.chart(BAR, first_id).data.equals(first)
    assert chat.chart(BAR).data.equals(last)

    frame = pl.DataFrame({"city": ["A"], "price": [1.0]})
    assert chat.chart(BAR, frame).data.equals(frame)
    assert chat.chart(BAR, frame.to_pandas()).data.equals(frame)
    assert chat.chart(BAR, frame.to_arrow(), title="From Arrow").to_dict()["title"] == "From Arrow"


def test_a_bad_spec_raises_chart_error_with_the_models_words(chat: ChatDF) -> None:
    chat.sql("SELECT city, price FROM cities")
    with pytest.raises(ChartError) as caught:
        chat.chart({"mark": "bar", "encoding": {"x": {"field": "town"}}})
    error = caught.value
    assert isinstance(error, ChatDFError) and error.details["reason"] == "unknown_field"
    assert "'town', which is not a column of the result" in error.message
    assert "city (Text), price (Decimal)" in error.message
    assert chat.last_chart is None


def test_nothing_to_chart_and_a_result_no_longer_kept(chat: ChatDF) -> None:
    with pytest.raises(ChartError) as caught:
        chat.chart(BAR)
    assert caught.value.details["reason"] == "no_result" and "run a query" in caught.value.message
    with pytest.raises(ChartError) as caught:
        chat.chart(BAR, "0123456789ab")
    assert caught.value.details["reason"] == "no_result" and "run its SQL again" in caught.value.message
    with pytest.raises(ChartError) as caught:
        chat.chart(BAR, result=42)
    assert "result id, a QueryResult or a DataFrame" in caught.value.message


def test_a_large_frame_is_reduced_by_the_specs_aggregate(chat: ChatDF) -> None:
    frame = pl.DataFrame({"city": ["Oslo", "Lima"] * 5000, "price": [float(i) for i in range(10_000)]})
    drawn = chat.chart({**BAR, "encoding": {**BAR["encoding"], "y": {"field": "price", "aggregate": "sum"}}}, frame)
    assert drawn.data.height == 2
    assert drawn.data.sort("city")["sum_price"].to_list() == [
        frame.filter(pl.col("city") == c)["price"].sum() for c in ("Lima", "Oslo")
    ]


def test_displaying_a_chart_renders_it(chat: ChatDF) -> None:
    chat.sql("SELECT city, price FROM cities")
    bundle = chat.chart(BAR)._repr_mimebundle_()  # what a cell shows, with Altair's renderer
    bundle = bundle[0] if isinstance(bundle, tuple) else bundle
    shown = str(bundle)
    assert all(city in shown for city in ("Oslo", "Lima", "Pune"))


def test_after_close(chat: ChatDF) -> None:
    chat.close()
    with pytest.raises(SessionClosedError):
        chat.chart(BAR)


def test_above_altairs_own_row_guard_the_rows_go_inline(fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATDF_CHART_MAX_ROWS", "20000")
    chat = ChatDF(api_key=TEST_API_KEY, gemini_base_url=fake_gemini.url, workers=1)
    try:
        frame = pl.DataFrame({"i": range(12_000), "v": [i % 7 for i in range(12_000)]})
        drawn = chat.chart({"mark": "point", "encoding": {"x": {"field": "i"}, "y": {"field": "v"}}}, frame)
        spec = drawn.to_dict()  # Altair's default transformer stops frames above 5,000 rows
        [rows] = spec["datasets"].values()
        assert rows == frame.to_dicts()
    finally:
        chat.close()

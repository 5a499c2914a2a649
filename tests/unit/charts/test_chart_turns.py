"""Charts in whole turns: the real SDK talks HTTP to the fake Gemini, queries run in workers."""

from __future__ import annotations

import altair as alt
import polars as pl
import pytest

from chatdf import ChatDF
from chatdf.events import AnswerEvent, ToolCallFinished
from tests.fake_gemini import TEST_API_KEY, FakeGemini, function_call, text_chunks

TOTALS = "SELECT city, SUM(price) AS total, COUNT(*) AS n FROM sales GROUP BY city ORDER BY city"
BAR = {
    "mark": "bar",
    "encoding": {
        "x": {"field": "city", "type": "nominal", "sort": "-y"},
        "y": {"field": "total", "type": "quantitative"},
    },
}


@pytest.fixture
def chat(fake_gemini: FakeGemini):
    chat = ChatDF(api_key=TEST_API_KEY, gemini_base_url=fake_gemini.url, workers=1)
    chat.add(
        pl.DataFrame(
            {
                "city": ["Oslo", "Lima", "Pune", "Oslo", "Lima", "Kyiv"],
                "price": [10.5, 3.25, 7.0, 2.0, 1.0, 4.5],
            }
        ),
        name="sales",
    )
    yield chat
    chat.close()


def sql(query: str) -> list[dict]:
    return [function_call("execute_sql", {"query": query})]


def chart(spec: object, **args: object) -> list[dict]:
    return [function_call("create_chart", {"spec": spec, **args})]


def chart_responses(fake: FakeGemini) -> list[dict]:
    """What the model read back from each create_chart call, in order."""
    last = fake.requests[-1]
    return [r["response"] for r in last.function_responses() if r["name"] == "create_chart"]


def test_question_sql_chart_answer(chat: ChatDF, fake_gemini: FakeGemini) -> None:
    fake_gemini.add_stream(sql(TOTALS))
    fake_gemini.add_stream(chart(BAR, title="Sales by city"))
    fake_gemini.add_stream(text_chunks("Oslo sells the most."))
    transformer = alt.data_transformers.active

    answer = chat.ask("Chart sales by city")

    assert answer.text == "Oslo sells the most."
    assert isinstance(answer.chart, alt.Chart)
    assert answer.chart.data.equals(answer.result)  # the result itself, all its columns
    spec = answer.chart.to_dict()  # plain to_dict, no data transformer switched on
    assert alt.data_transformers.active == transformer == "default"
    assert spec["mark"] == "bar" and spec["title"] == "Sales by city"
    assert spec["encoding"]["x"] == {"field": "city", "type": "nominal", "sort": "-y"}
    assert spec["datasets"][spec["data"]["name"]] == answer.result.to_dicts()
    [sent] = chart_responses(fake_gemini)
    assert sent["chart_id"] == answer.chart_id and sent["rows_plotted"] == 4
    # The model learns each result's id, so a later turn can chart it.
    query = fake_gemini.requests[1].function_responses()[0]["response"]
    assert query["result_id"] == answer.result_id
    system = fake_gemini.requests[0].system_text()
    assert "create_chart" in system and "single number" in system


def test_an_invalid_spec_is_corrected_on_the_second_try(chat: ChatDF, fake_gemini: FakeGemini) -> None:
    wrong = {"mark": "bars", "encoding": {"x": {"field": "town"}, "y": {"field": "total"}}}
    fake_gemini.add_stream(sql(TOTALS))
    fake_gemini.add_stream(chart(wrong))
    fake_gemini.add_stream(chart({**wrong, "mark": "bar"}))
    fake_gemini.add_stream(chart(BAR))
    fake_gemini.add_stream(text_chunks("Done."))
    events = list(chat.iter_events("Chart sales by city"))
    answer = events[-1]

    bad_mark, bad_field, drawn = chart_responses(fake_gemini)
    assert bad_mark["error_type"] == "chart" and "create_chart again" in bad_mark["hint"]
    assert '`mark` is "bars", which is not a mark. Valid marks: arc, area, bar' in bad_mark["message"]
    assert "'town', which is not a column" in bad_field["message"]
    assert "city (Text), total (Decimal), n (Integer)" in bad_field["message"]
    assert drawn["rows_plotted"] == 4
    assert isinstance(answer, AnswerEvent) and answer.chart_id is not None
    assert isinstance(chat.last_chart, alt.Chart) and chat.last_chart.to_dict()["mark"] == "bar"
    finished = [e for e in events if isinstance(e, ToolCallFinished) and e.name == "create_chart"]
    assert [e.error is not None for e in finished] == [True, True, False]
    assert finished[-1].chart_id == answer.chart_id


def test_a_hostile_spec_is_refused_and_nothing_is_fetched(
    chat: ChatDF, fake_gemini: FakeGemini, http_server
) -> None:
    url = http_server.url("/sample.parquet")
    fake_gemini.add_stream(sql(TOTALS))
    fake_gemini.add_stream(chart({**BAR, "data": {"url": url}}))
    fake_gemini.add_stream(chart({"mark": "image", "encoding": {"url": {"value": url}}}))
    fake_gemini.add_stream(text_chunks("I could not draw it."))

    answer = chat.ask("Chart it")

    data_url, image = chart_responses(fake_gemini)
    assert data_url["error_type"] == "chart" and "nothing was fetched" in data_url["message"]
    assert "Refused" in image["message"]
    assert answer.chart is None and answer.chart_id is None
    assert http_server.requests == []


def test_charts_count_against_the_tool_call_limit(chat: ChatDF, fake_gemini: FakeGemini) -> None:
    fake_gemini.add_stream(sql(TOTALS))
    for _ in range(5):
        fake_gemini.add_stream(chart(BAR))

    answer = chat.ask("Chart forever")

    assert "stopped after 5 tool calls" in answer.text
    assert len(fake_gemini.requests) == 5 and fake_gemini.pending == 1
    assert isinstance(answer.chart, alt.Chart)  # the last good one stays


def test_invalid_specs_count_against_the_retry_budget(chat: ChatDF, fake_gemini: FakeGemini) -> None:
    fake_gemini.add_stream(sql("SELECT nope FROM sales"))
    fake_gemini.add_stream(sql(TOTALS))
    for _ in range(3):
        fake_gemini.add_stream(chart({"mark": "bar", "encoding": {"x": {"field": "nope"}}}))
    fake_gemini.add_stream(text_chunks("never sent"))

    answer = chat.ask("Break it")

    assert "stopped after 4 failed queries and chart specs" in answer.text
    assert answer.chart is None and fake_gemini.pending == 1


def test_too_many_rows_tells_the_model_to_aggregate_in_sql(
    fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATDF_CHART_MAX_ROWS", "10")
    chat = ChatDF(api_key=TEST_API_KEY, gemini_base_url=fake_gemini.url, workers=1)
    try:
        chat.add(pl.DataFrame({"i": range(50), "v": [float(i) for i in range(50)]}), name="t")
        fake_gemini.add_stream(sql("SELECT * FROM t"))
        fake_gemini.add_stream(chart({"mark": "point", "encoding": {"x": {"field": "i"}, "y": {"field": "v"}}}))
        fake_gemini.add_stream(text_chunks("Too many points."))

        answer = chat.ask("Plot every row")

        [refused] = chart_responses(fake_gemini)
        assert "at most 10 (CHATDF_CHART_MAX_ROWS)" in refused["message"]
        assert "Aggregate in SQL" in refused["message"] and "execute_sql" in refused["hint"]
        assert answer.chart is None
    finally:
        chat.close()


def test_a_later_turn_charts_an_earlier_result(chat: ChatDF, fake_gemini: FakeGemini) -> None:
    fake_gemini.add_stream(sql(TOTALS))
    fake_gemini.add_stream(text_chunks("Four cities."))
    first = chat.ask("Sales by city?")
    fake_gemini.add_stream(sql("SELECT COUNT(*) AS n FROM sales"))
    fake_gemini.add_stream(chart(BAR, result_id=first.result_id))
    fake_gemini.add_stream(text_chunks("Here it is."))

    second = chat.ask("Now chart the totals")

    assert second.result.to_dicts() == [{"n": 6}]
    assert second.chart.data.equals(first.result)


def test_the_chart_is_saved_and_restored_with_the_conversation(
    chat: ChatDF, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_stream(sql(TOTALS))
    fake_gemini.add_stream(chart(BAR))
    fake_gemini.add_stream(text_chunks("Oslo leads."))
    answer = chat.ask("Chart sales by city")
    drawn = answer.chart.to_dict()
    conversation_id = chat.conversation_id
    chat.new()
    chat._session.charts._charts.clear()  # as in a new session: only the history has it

    conversation = chat.open_conversation(conversation_id)

    [assistant] = [m for m in conversation.messages if m.role == "assistant"]
    assert isinstance(assistant.chart, alt.Chart)
    assert assistant.chart.to_dict() == drawn
    ref = chat._messages[-1]["chart"]
    assert ref["id"] == answer.chart_id and ref["mark"] == "bar" and ref["rows"] == 4
    assert chat._session.charts.get(ref["id"]).chart.to_dict() == drawn  # the widget may ask


def test_a_spec_sent_as_json_text_and_a_chart_before_any_query(chat: ChatDF, fake_gemini: FakeGemini) -> None:
    import json

    fake_gemini.add_stream(chart(BAR))  # nothing to chart yet
    fake_gemini.add_stream(sql(TOTALS))
    fake_gemini.add_stream(chart(json.dumps(BAR)))  # some models send the object as text
    fake_gemini.add_stream(text_chunks("Done."))

    answer = chat.ask("Chart sales by city")

    first = fake_gemini.requests[1].function_responses()[0]["response"]
    assert "no result to chart yet: run a query (execute_sql) first" in first["message"]
    assert answer.chart.to_dict()["encoding"]["y"]["field"] == "total"

"""The widget's chart request: the transcript names the chart, its data comes as a buffer."""

from __future__ import annotations

import json

import polars as pl
from _widget_helpers import Browser  # type: ignore[import-not-found]

from chatdf import ChatDF
from tests.fake_gemini import FakeGemini, function_call, text_chunks

SPEC = {"mark": "line", "encoding": {"x": {"field": "i"}, "y": {"field": "v"}}}


def test_a_chart_is_a_reference_in_state_and_its_rows_come_on_request(
    chat: ChatDF, browser: Browser, fake_gemini: FakeGemini
) -> None:
    chat.add(pl.DataFrame({"i": range(4000), "v": [i % 97 for i in range(4000)]}), name="t")
    fake_gemini.add_stream([function_call("execute_sql", {"query": "SELECT i, v FROM t"})])
    fake_gemini.add_stream([function_call("create_chart", {"spec": SPEC, "title": "v by i"})])
    fake_gemini.add_stream(text_chunks("A saw tooth."))

    answer = chat.ask("Plot v")

    ref = chat._messages[-1]["chart"]
    assert ref == {
        "id": answer.chart_id,
        "title": "v by i",
        "mark": "line",
        "rows": 4000,
        "source_rows": 4000,
        "result_id": answer.result_id,
        "reduced": False,
    }
    assert len(json.dumps(chat.get_state())) < 6_000  # 4,000 rows are not in synced state
    reply, [body] = browser.request("chart", chart_id=answer.chart_id)
    assert reply["result"]["bytes"] == len(body)
    spec = json.loads(bytes(body))
    assert spec["title"] == "v by i" and spec["encoding"]["x"] == {"field": "i", "type": "quantitative"}
    [rows] = spec["datasets"].values()
    assert rows == answer.result.to_dicts()


def test_an_unknown_chart_is_a_clear_error(browser: Browser) -> None:
    error = browser.error("chart", chart_id="nope")
    assert error["details"]["reason"] == "unknown_chart" and "nope" in error["message"]


def test_the_users_own_chart_of_a_result_needs_no_model(chat: ChatDF, browser: Browser, fake_gemini: FakeGemini) -> None:
    # "Chart this" and "Edit spec" send a spec over a kept result; the kernel checks and binds it.
    chat.add(pl.DataFrame({"city": ["Oslo", "Lima", "Oslo"], "n": [1, 2, 3]}), name="t")
    result_id = browser.result("run_sql", sql="SELECT city, SUM(n) AS n FROM t GROUP BY city ORDER BY city")["id"]
    spec = {"mark": {"type": "bar", "tooltip": True}, "encoding": {"x": {"field": "city"}, "y": {"field": "n"}}}

    reply, [body] = browser.request("draw_chart", result_id=result_id, spec=spec)

    header = reply["result"]
    assert header["mark"] == "bar" and header["result_id"] == result_id and header["rows"] == 2
    assert header["spec"]["encoding"]["x"] == {"field": "city", "type": "nominal"}  # no data in the header
    assert "data" not in header["spec"] and "datasets" not in header["spec"]
    [rows] = json.loads(bytes(body))["datasets"].values()
    assert rows == [{"city": "Lima", "n": 2}, {"city": "Oslo", "n": 4}]
    assert fake_gemini.requests == []


def test_a_bad_user_spec_is_refused_with_the_models_words(chat: ChatDF, browser: Browser) -> None:
    chat.add(pl.DataFrame({"city": ["Oslo"], "n": [1]}), name="t")
    result_id = browser.result("run_sql", sql="SELECT * FROM t")["id"]
    error = browser.error("draw_chart", result_id=result_id, spec={"mark": "bar", "encoding": {"x": {"field": "town"}}})
    assert "town" in error["message"] and "city" in error["message"]
    hostile = {"mark": "bar", "data": {"url": "http://127.0.0.1:9/x.csv"}, "encoding": {"x": {"field": "city"}}}
    assert "url" in browser.error("draw_chart", result_id=result_id, spec=hostile)["message"].lower()


def test_the_editor_and_the_chart_renderer_come_over_the_comm_on_demand(chat: ChatDF, browser: Browser) -> None:
    browser.send({"type": "bundle", "id": "c-1", "chunk": "chart"})
    chart, _ = browser.comm.reply("c-1")
    assert "vega" in chart["result"]["js"].lower() and chart["result"]["css"] == ""
    browser.send({"type": "bundle", "id": "c-2", "chunk": "editor"})
    editor, _ = browser.comm.reply("c-2")
    assert "cm-content" in editor["result"]["js"]
    # The UI itself carries neither.
    browser.send({"type": "bundle", "id": "c-3"})
    ui, _ = browser.comm.reply("c-3")
    assert "cm-content" not in ui["result"]["js"] and "vega-lite" not in ui["result"]["js"]
    assert len(ui["result"]["js"]) + len(ui["result"]["css"]) <= 300 * 1024
    browser.send({"type": "bundle", "id": "c-4", "chunk": "../widget"})
    bad, _ = browser.comm.reply("c-4")
    assert "no such part" in bad["error"]["message"]


def test_the_users_chart_is_saved_with_its_answer_and_closing_gives_the_old_one_back(
    chat: ChatDF, browser: Browser, fake_gemini: FakeGemini
) -> None:
    # "Chart this" under an answer: the chart the user drew is the one the reopened
    # conversation shows; closing the builder puts back the answer's earlier chart.
    chat.add(pl.DataFrame({"city": ["Oslo", "Lima", "Oslo"], "n": [1, 2, 3]}), name="t")
    fake_gemini.add_stream([function_call("execute_sql", {"query": "SELECT city, SUM(n) AS n FROM t GROUP BY city"})])
    fake_gemini.add_stream([function_call("create_chart", {"spec": {"mark": "bar", "encoding": {"x": {"field": "city"}, "y": {"field": "n"}}}})])
    fake_gemini.add_stream(text_chunks("Oslo leads."))
    answer = chat.ask("Sales by city?")
    message_id = chat._messages[-1]["id"]
    model_chart = chat._messages[-1]["chart"]["id"]
    conversation_id = chat.conversation_id

    users = {"mark": "arc", "encoding": {"theta": {"field": "n"}, "color": {"field": "city"}}}
    reply, _ = browser.request("draw_chart", result_id=answer.result_id, spec=users, message_id=message_id)
    assert chat._messages[-1]["chart"]["id"] == reply["result"]["id"]  # the transcript shows it

    chat.new()
    conversation = chat.open_conversation(conversation_id)
    [assistant] = [m for m in conversation.messages if m.role == "assistant"]
    assert "arc" in json.dumps(assistant.chart.to_dict()["mark"])  # the restored Altair chart is the user's
    assert chat._messages[-1]["chart"]["mark"] == "arc"
    assert chat._messages[-1]["id"] == message_id  # the widget's id for the answer is the stored one

    # Closing the builder gives the model's chart back, in view and in the saved copy.
    browser.result("set_answer_chart", message_id=message_id, chart_id=model_chart)
    chat.new()
    chat.open_conversation(conversation_id)
    assert chat._messages[-1]["chart"]["id"] == model_chart and chat._messages[-1]["chart"]["mark"] == "bar"
    # ...or none, when the answer had none: nothing is drawn after reopening.
    browser.result("set_answer_chart", message_id=message_id, chart_id=None)
    chat.new()
    chat.open_conversation(conversation_id)
    assert chat._messages[-1]["chart"] is None


def test_a_chart_drawn_while_the_answer_streams_is_the_one_saved(
    chat: ChatDF, browser: Browser, fake_gemini: FakeGemini
) -> None:
    # The grid shows as soon as the query finishes, before the prose ends and the turn is
    # stored: a chart drawn then must not be lost when the turn is saved.
    chat.add(pl.DataFrame({"city": ["Oslo", "Lima", "Oslo"], "n": [1, 2, 3]}), name="t")
    fake_gemini.add_stream([function_call("execute_sql", {"query": "SELECT city, SUM(n) AS n FROM t GROUP BY city"})])
    fake_gemini.add_stream(text_chunks("Oslo leads, Lima follows.", n=4, delay=0.2))
    drawn = None
    for event in chat.iter_events("Sales by city?"):
        if event.type == "tool_call_finished" and drawn is None:
            message_id = chat._messages[-1]["id"]
            spec = {"mark": "arc", "encoding": {"theta": {"field": "n"}, "color": {"field": "city"}}}
            reply, _ = browser.request("draw_chart", result_id=event.result_id, spec=spec, message_id=message_id)
            drawn = reply["result"]["id"]
    assert drawn is not None and chat._messages[-1]["chart"]["id"] == drawn
    conversation_id = chat.conversation_id
    chat.new()
    chat.open_conversation(conversation_id)
    assert chat._messages[-1]["chart"]["mark"] == "arc"

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

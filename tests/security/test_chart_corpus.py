"""Hostile chart specs: the spec is data, never a way to load, link or run anything.

Every spec below names a local server that records what it is asked for. Each
is refused with a ``ChartError`` whose reason is ``unsafe`` (it would load,
link or run something) or ``data_in_spec`` (it brings data of its own), from
Python (``chat.chart``) and, for a sample, from the model (``create_chart``),
and the server is asked for nothing. After each refusal the session still
charts a plain spec. ``$schema`` is accepted and dropped unread.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest

from chatdf import ChatDF
from chatdf.errors import ChartError
from tests.fake_gemini import TEST_API_KEY, FakeGemini, function_call, text_chunks
from tests.http_server import LocalHTTPServer

BAR = {"mark": "bar", "encoding": {"x": {"field": "city"}, "y": {"field": "total"}}}
EVIL = "{url}"  # replaced by the local server's address


def corpus(url: str) -> list[tuple[str, dict, str]]:
    """``(name, spec, reason)``: each a way a spec could reach out or smuggle data in."""
    return [
        ("data url", {**BAR, "data": {"url": url}}, "unsafe"),
        ("data url with a format", {**BAR, "data": {"url": url, "format": {"type": "csv"}}}, "unsafe"),
        ("file url", {**BAR, "data": {"url": "file:///etc/passwd"}}, "unsafe"),
        ("layer data url", {"layer": [{**BAR, "data": {"url": url}}]}, "unsafe"),
        ("concat data url", {"hconcat": [BAR, {**BAR, "data": {"url": url}}]}, "unsafe"),
        (
            "lookup from a url",
            {**BAR, "transform": [{"lookup": "city", "from": {"data": {"url": url}, "key": "city"}}]},
            "unsafe",
        ),
        (
            "lookup from another dataset",
            {**BAR, "transform": [{"lookup": "city", "from": {"data": {"name": "other"}, "key": "city"}}]},
            "data_in_spec",
        ),
        ("image mark", {"mark": "image", "encoding": {"url": {"value": url}}}, "unsafe"),
        ("url channel", {"mark": "point", "encoding": {"url": {"field": "city"}}}, "unsafe"),
        ("href channel", {**BAR, "encoding": {**BAR["encoding"], "href": {"value": "javascript:alert(1)"}}}, "unsafe"),
        ("href on the mark", {**BAR, "mark": {"type": "bar", "href": url}}, "unsafe"),
        ("vega-embed options", {**BAR, "usermeta": {"embedOptions": {"actions": True, "ast": False}}}, "unsafe"),
        ("a loader's base url", {**BAR, "config": {"loader": {"baseURL": url}}}, "unsafe"),
        ("css url in the background", {**BAR, "background": f"url({url})"}, "unsafe"),
        ("css url in a fill", {**BAR, "mark": {"type": "bar", "fill": f"URL ( '{url}#g' )"}}, "unsafe"),
        ("css url in the config", {**BAR, "config": {"view": {"fill": f"url({url})"}}}, "unsafe"),
        (
            "constructor escape",
            {**BAR, "transform": [{"calculate": "datum.constructor.constructor('fetch(1)')()", "as": "x"}]},
            "unsafe",
        ),
        ("window in a filter", {**BAR, "transform": [{"filter": f"window.location = '{url}'"}]}, "unsafe"),
        ("prototype in a param", {**BAR, "params": [{"name": "p", "expr": "datum.__proto__"}]}, "unsafe"),
        (
            "document in a label expression",
            {**BAR, "encoding": {**BAR["encoding"], "x": {"field": "city", "axis": {"labelExpr": "document.cookie"}}}},
            "unsafe",
        ),
        (
            "fetch in a condition test",
            {**BAR, "encoding": {**BAR["encoding"], "color": {"condition": {"test": f"fetch('{url}')", "value": "red"}, "value": "blue"}}},
            "unsafe",
        ),
        (
            "an input bound into the page",
            {**BAR, "params": [{"name": "p", "value": 1, "bind": {"input": "range", "element": "#notebook"}}]},
            "unsafe",
        ),
        ("made-up values", {**BAR, "data": {"values": [{"city": "Oslo", "total": 1e9}]}}, "data_in_spec"),
        ("a generated sequence", {**BAR, "data": {"sequence": {"start": 0, "stop": 10}}}, "data_in_spec"),
        ("datasets", {**BAR, "datasets": {"d": [{"city": "Oslo", "total": 1}]}}, "data_in_spec"),
    ]


@pytest.fixture
def server(tmp_path) -> Iterator[LocalHTTPServer]:
    (tmp_path / "data.csv").write_text("city,total\nOslo,1\n")
    with LocalHTTPServer(tmp_path) as server:
        yield server


@pytest.fixture
def chat(fake_gemini: FakeGemini) -> Iterator[ChatDF]:
    chat = ChatDF(api_key=TEST_API_KEY, gemini_base_url=fake_gemini.url, workers=1, allow_private_urls=True)
    chat.add(pl.DataFrame({"city": ["Oslo", "Lima"], "total": [3.5, 1.25]}), name="sales")
    chat.sql("SELECT city, total FROM sales")
    yield chat
    chat.close()


def test_the_corpus_is_broad() -> None:
    assert len(corpus("http://x")) >= 15


@pytest.mark.parametrize("case", range(len(corpus("http://x"))), ids=[c[0] for c in corpus("http://x")])
def test_a_hostile_spec_is_refused_from_python(chat: ChatDF, server: LocalHTTPServer, case: int) -> None:
    name, spec, reason = corpus(server.url("/data.csv"))[case]

    with pytest.raises(ChartError) as caught:
        chat.chart(spec)

    assert caught.value.details["reason"] == reason, name
    assert server.requests == []
    assert chat.last_chart is None
    assert chat.chart(BAR).to_dict()["mark"] == "bar"  # the session still charts


def test_hostile_specs_from_the_model_are_refused_and_it_is_told_why(
    chat: ChatDF, fake_gemini: FakeGemini, server: LocalHTTPServer
) -> None:
    cases = corpus(server.url("/data.csv"))
    sample = [cases[0], cases[7], cases[16]]  # a fourth would end the turn (retry budget)
    for _name, spec, _reason in sample:
        fake_gemini.add_stream([function_call("create_chart", {"spec": spec})])
    fake_gemini.add_stream(text_chunks("I cannot draw that."))

    answer = chat.ask("Chart the sales")

    responses = [
        r["response"] for r in fake_gemini.requests[-1].function_responses() if r["name"] == "create_chart"
    ]
    assert len(responses) == 3
    for response in responses:
        assert response["error_type"] == "chart" and response["message"].startswith("Refused: ")
    assert answer.chart is None and server.requests == []


def test_a_schema_url_is_dropped_unread(chat: ChatDF, server: LocalHTTPServer) -> None:
    drawn = chat.chart({**BAR, "$schema": server.url("/schema.json")}).to_dict()
    assert server.url("/schema.json") not in str(drawn)
    assert server.requests == []


def test_markup_in_text_stays_text(chat: ChatDF) -> None:
    title = "<img src=x onerror=alert(1)>"
    drawn = chat.chart({**BAR, "title": title, "encoding": {**BAR["encoding"], "tooltip": [{"field": "city"}]}}).to_dict()
    assert drawn["title"] == title  # a string Vega renders as text, not markup


def test_oversized_and_deeply_nested_specs_are_refused(chat: ChatDF) -> None:
    deep: dict = {"a": 1}
    for _ in range(60):
        deep = {"a": deep}
    for spec, words in (({**BAR, "usermeta_": deep}, "nested more than"), ({**BAR, "description": "x" * 200_000}, "at most")):
        with pytest.raises(ChartError) as caught:
            chat.chart(spec)
        assert words in caught.value.message


def test_a_hand_edited_history_cannot_smuggle_a_url_to_the_browser(
    fake_gemini: FakeGemini, server: LocalHTTPServer, tmp_path
) -> None:
    # The history file is plain SQLite: a chart kept there is checked again when read back.
    import json
    import sqlite3

    db = tmp_path / "history.db"
    chat = ChatDF(api_key=TEST_API_KEY, gemini_base_url=fake_gemini.url, workers=1, db_path=str(db))
    try:
        chat.add(pl.DataFrame({"city": ["Oslo", "Lima"], "total": [3.5, 1.25]}), name="sales")
        fake_gemini.add_stream([function_call("execute_sql", {"query": "SELECT city, total FROM sales"})])
        fake_gemini.add_stream([function_call("create_chart", {"spec": BAR})])
        fake_gemini.add_stream(text_chunks("Oslo leads."))
        chat.ask("Chart the sales")
        conversation_id = chat.conversation_id
        chat.new()
        chat._session.charts._charts.clear()  # a new session: only the history has it

        url = server.url("/data.csv")
        with sqlite3.connect(db) as connection:
            rows = connection.execute("SELECT seq, tool_payload FROM messages WHERE tool_payload LIKE '%\"chart\"%'").fetchall()
            rows = [(seq, json.loads(text)) for seq, text in rows if "chart" in json.loads(text)]
            assert rows
            for seq, payload in rows:
                payload["chart"]["spec"]["layer"] = [{"mark": "point", "data": {"url": url}}]
                payload["chart"]["spec"]["encoding"]["href"] = {"value": url}
                connection.execute("UPDATE messages SET tool_payload = ? WHERE seq = ?", (json.dumps(payload), seq))

        conversation = chat.open_conversation(conversation_id)

        [assistant] = [m for m in conversation.messages if m.role == "assistant"]
        assert assistant.content == "Oslo leads." and assistant.chart is None
        assert chat._session.charts.last is None  # nothing the widget could ask for
        assert server.requests == []
    finally:
        chat.close()

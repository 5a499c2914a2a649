"""The widget's export asks before replacing, and every request is answered, even on a panic."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from _widget_helpers import Browser, arrow_page, wait_for  # type: ignore[import-not-found]

from chatdf import ChatDF
from chatdf.export import user_namespace
from chatdf.models import ColumnInfo, QueryResult
from tests.fake_gemini import FakeGemini, text_chunks


@pytest.fixture
def namespace(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The notebook's variables as the widget sees them, put back as they were afterwards."""
    variables = user_namespace()
    before = dict(variables)
    yield variables
    variables.clear()
    variables.update(before)


@pytest.fixture
def result_id(chat: ChatDF) -> str:
    chat.add(pl.DataFrame({"city": ["Oslo", "Lima"], "n": [2, 1]}), name="t")
    return chat._session.call(chat._session.run_sql("SELECT * FROM t ORDER BY n")).id


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("__builtins__", "private"),
        ("_x", "private"),
        ("print", "builtin"),
        ("len", "builtin"),
        ("class", "keyword"),
        ("\uff4cen", "not_normalized"),
    ],
)
def test_export_refuses_names_that_break_the_notebook_even_with_overwrite(
    browser: Browser, namespace: dict[str, Any], result_id: str, name: str, reason: str
) -> None:
    before = dict(namespace)
    for overwrite in (False, True):
        error = browser.error("export", name=name, result_id=result_id, overwrite=overwrite)
        assert error["error_type"] == "ExportError"
        assert error["details"]["reason"] == reason
        assert "choose another name" in error["message"].lower() or "type the name" in error["message"]
    assert namespace.keys() == before.keys()
    assert namespace.get("__builtins__") is before.get("__builtins__")
    print("still works")  # the reproduction: the next cell's print failed


def test_export_over_an_existing_variable_asks_first_then_replaces(
    browser: Browser, namespace: dict[str, Any], result_id: str
) -> None:
    namespace["os"] = os
    namespace["df"] = pl.DataFrame({"old": [1]})

    for name, holds in (("os", "module"), ("df", "polars DataFrame")):
        error = browser.error("export", name=name, result_id=result_id)
        assert error["details"] == {"reason": "exists", "name": name, "holds": holds}
        assert error["message"] == f"'{name}' holds a {holds}; replace it?"
    assert namespace["os"] is os and namespace["df"].columns == ["old"]

    assert browser.result("export", name="df", result_id=result_id, overwrite=True) == {"name": "df"}
    assert namespace["df"].to_dicts() == [{"city": "Lima", "n": 1}, {"city": "Oslo", "n": 2}]
    assert browser.result("export", name="fresh", result_id=result_id) == {"name": "fresh"}
    assert namespace["fresh"].height == 2


def test_overwrite_must_be_a_real_boolean(browser: Browser, result_id: str) -> None:
    error = browser.error("export", name="df", result_id=result_id, overwrite="yes")
    assert error["error_type"] == "validation" and "overwrite" in error["message"]


def test_an_unsortable_column_is_answered_and_the_widget_keeps_working(
    chat: ChatDF, browser: Browser
) -> None:
    # Sorting an Object column panics inside eager Polars (arg_sort is not implemented
    # for it; the panic is a BaseException). The grid sorts through the lazy engine,
    # which reports it as an error: the browser gets a reply that names the column.
    frame = pl.DataFrame({"n": [2, 1], "o": pl.Series([object(), object()], dtype=pl.Object)})
    with pytest.raises(BaseException, match="arg_sort") as raised:
        frame.select(pl.arg_sort_by("o"))
    assert not isinstance(raised.value, Exception)
    kept = QueryResult(
        sql="SELECT n, o FROM objects",
        columns=[ColumnInfo(name="n", dtype="Int64", friendly="Integer")],
        total_rows=2,
        data=frame.select("n", "o"),
    )
    chat._session.keep(kept)

    error = browser.error("page", result_id=kept.id, sort={"column": "o", "descending": False})

    assert error["error_type"] == "validation" and "'o'" in error["message"]
    assert "Traceback" not in error["message"]
    # The same result still pages, sorted by another column, and other requests work.
    _, buffers = browser.request("page", result_id=kept.id, sort={"column": "n", "descending": False})
    assert arrow_page(buffers)["n"].to_list() == [1, 2]
    assert browser.result("sync") == {"busy": False}


def test_a_column_named_like_a_regex_pages_and_sorts(chat: ChatDF, browser: Browser) -> None:
    chat.add(pl.DataFrame({"a": [3, 1, 2], "b": ["x", "y", "z"]}), name="t")
    ran = browser.result("run_sql", sql='SELECT a AS "^.*$", b FROM t')

    content, buffers = browser.request(
        "page", result_id=ran["id"], sort={"column": "^.*$", "descending": False}
    )

    assert "error" not in content, content
    page = arrow_page(buffers)
    assert page.columns == ["^.*$", "b"] and page["^.*$"].to_list() == [1, 2, 3]
    assert browser.result("sync") == {"busy": False}


def test_a_panic_during_a_question_ends_the_answer_with_an_error_not_the_widget(
    chat: ChatDF,
    browser: Browser,
    namespace: dict[str, Any],
    fake_gemini: FakeGemini,
    caplog: pytest.LogCaptureFixture,
) -> None:
    namespace["df_sales"] = pl.DataFrame({"amount": [1, 2]})
    chat.add_variable("df_sales", "sales")
    # The followed variable now holds a LazyFrame whose plan panics when run (arg_sort
    # of an Object column): the turn writes changed frames again before it starts.
    objects = pl.Series([object(), object()], dtype=pl.Object)
    namespace["df_sales"] = pl.LazyFrame({"o": objects}).select(pl.col("o").arg_sort())

    with caplog.at_level(logging.ERROR, logger="chatdf.widget"):
        message_id = browser.result("ask", question="Total sales?")["message_id"]
        wait_for(lambda: not chat._busy, what="the turn to end")

    [answer] = [m for m in chat._messages if m["id"] == message_id]
    assert answer["status"] == "error" and answer["error"]["details"] == {"reason": "panic"}
    assert "arg_sort" in answer["error"]["message"]
    assert any("the question failed" in r.getMessage() for r in caplog.records)

    namespace["df_sales"] = pl.DataFrame({"amount": [1, 2]})
    fake_gemini.add_stream(text_chunks("Three."))
    assert chat.ask("Total sales?").text == "Three."

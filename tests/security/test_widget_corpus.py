"""Hostile input through the widget's request path: export names, malformed
messages, and column names that look like patterns.

Each input goes in as the browser would send it (a custom comm message to a
real ChatDF with a worker process). Every message that carries a usable id gets
a reply: a clear error with a machine-readable reason, or the right result for
input that is legal. After each, the notebook's variables are as they were
(``print`` still prints), the API key is in no message, and the chat still
answers.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import comm
import polars as pl
import pytest

from chatdf import ChatDF
from chatdf.export import user_namespace
from tests.fake_gemini import TEST_API_KEY, FakeGemini
from tests.unit.widget._widget_helpers import Browser, RecordingComm, arrow_page


@dataclass
class Widget:
    chat: ChatDF
    browser: Browser
    result_id: str
    """A kept result of table ``t``: what the browser may legitimately page and export."""
    namespace: dict[str, Any]
    sent: int = 0

    def request(self, content: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
        self.sent += 1
        request_id = f"corpus-{self.sent}"
        self.browser.send({**content, "id": request_id})
        return self.browser.comm.reply(request_id)


def helper() -> str:
    return "kept"


@pytest.fixture(scope="module")
def widget() -> Iterator[Widget]:
    with pytest.MonkeyPatch.context() as patch, FakeGemini() as fake:
        patch.setattr(comm, "create_comm", RecordingComm)
        patch.setenv("CHATDF_DB_PATH", ":memory:")
        chat = ChatDF(api_key=TEST_API_KEY, gemini_base_url=fake.url, workers=1)
        variables = user_namespace()
        before = dict(variables)
        variables.update({"os": os, "helper": helper, "df": pl.DataFrame({"old": [1]})})
        try:
            chat.add(pl.DataFrame({"a": [3, 1, 2], "b": ["x", "y", "z"]}), name="t")
            result = chat._session.call(chat._session.run_sql("SELECT a, b FROM t ORDER BY a"))
            yield Widget(chat, Browser(chat), result.id, variables)
        finally:
            chat.close()
            variables.clear()
            variables.update(before)


@pytest.fixture(autouse=True)
def still_usable(widget: Widget) -> Iterator[None]:
    """After each input: variables untouched, no key in any message, the chat still works."""
    before = dict(widget.namespace)
    yield
    assert builtins.print is print and "print" not in widget.namespace
    assert widget.namespace["os"] is os and widget.namespace["helper"] is helper
    assert set(widget.namespace) - set(before) <= {"cyrillic_ok"}
    assert TEST_API_KEY not in json.dumps(widget.browser.comm.custom(), default=str)
    assert widget.browser.result("sync") == {"busy": False}
    _, buffers = widget.request({"type": "page", "result_id": widget.result_id})
    assert arrow_page(buffers)["a"].to_list() == [1, 2, 3]


# -- export names -----------------------------------------------------------------------


@dataclass(frozen=True)
class Name:
    name: Any
    reason: str
    """``details.reason`` of the refusal, or ``ok`` when the name is legal."""
    extra: dict[str, Any] = field(default_factory=dict)


EXPORT_NAMES = {
    "dunder-builtins": Name("__builtins__", "private"),
    "print": Name("print", "builtin"),
    "len": Name("len", "builtin"),
    "list": Name("list", "builtin"),
    "exec": Name("exec", "builtin"),
    "dunder-import": Name("__import__", "private"),
    "underscore": Name("_x", "private"),
    "ipython-output-cache": Name("_i1", "private"),
    "dunder-class": Name("__class__", "private"),
    "keyword-class": Name("class", "keyword"),
    "keyword-None": Name("None", "keyword"),
    "module-os": Name("os", "exists"),
    "module-os-overwrite-as-text": Name("os", "bad_message", {"overwrite": "true"}),
    "function": Name("helper", "exists"),
    "frame-asks-first": Name("df", "exists"),
    "fullwidth-print": Name("\uff50\uff52\uff49\uff4e\uff54", "not_normalized"),
    "ligature": Name("\ufb01le", "not_normalized"),  # "ﬁle" reads as "file"
    # A Cyrillic "р": a different name, not print's; harmless, so it is allowed.
    "cyrillic-lookalike": Name("cyrillic_ok", "ok"),
    "statement": Name("x; import os", "invalid_name"),
    "attribute": Name("os.system", "invalid_name"),
    "very-long": Name("a" * 300, "bad_message"),
    "empty": Name("", "bad_message"),
    "integer": Name(42, "bad_message"),
    "null": Name(None, "bad_message"),
    "list-of-names": Name(["df"], "bad_message"),
}


@pytest.mark.parametrize("case", EXPORT_NAMES.values(), ids=EXPORT_NAMES.keys())
def test_export_names(widget: Widget, case: Name) -> None:
    content = {"type": "export", "name": case.name, "result_id": widget.result_id, **case.extra}
    reply, _ = widget.request(content)

    if case.reason == "ok":
        assert reply["result"] == {"name": case.name}
        assert widget.namespace[case.name].height == 3
        return
    error = reply["error"]
    assert error["details"]["reason"] == case.reason, error
    assert len(error["message"]) < 400 and "Traceback" not in error["message"]
    if case.reason == "exists":
        assert error["message"].endswith("replace it?")
    elif case.reason != "bad_message":
        assert error["error_type"] == "ExportError"
        # Confirming does not lift a refusal of the name itself.
        again, _ = widget.request({**content, "overwrite": True})
        assert again["error"]["details"]["reason"] == case.reason


# -- malformed, oversized and wrong-typed messages -----------------------------------------


Message = Callable[[Widget], Any]

ANSWERED = {
    "unknown-type": (lambda w: {"type": "drop_everything"}, "bad_message"),
    "handler-name-as-type": (lambda w: {"type": "_on_export"}, "bad_message"),
    "dunder-type": (lambda w: {"type": "__init__"}, "bad_message"),
    "type-not-a-string": (lambda w: {"type": ["page"]}, "bad_message"),
    "no-type": (lambda w: {"result_id": w.result_id}, "bad_message"),
    "extra-field": (lambda w: {"type": "sync", "admin": True}, "bad_message"),
    "deeply-nested-extra": (
        lambda w: {"type": "sync", "x": json.loads("[" * 500 + "]" * 500)},
        "bad_message",
    ),
    "negative-offset": (lambda w: {"type": "page", "result_id": w.result_id, "offset": -1}, "bad_message"),
    "huge-limit": (lambda w: {"type": "page", "result_id": w.result_id, "limit": 10**9}, "bad_message"),
    "fractional-offset": (lambda w: {"type": "page", "result_id": w.result_id, "offset": 1.5}, "bad_message"),
    "sort-not-an-object": (lambda w: {"type": "page", "result_id": w.result_id, "sort": "a"}, "bad_message"),
    "sort-column-number": (
        lambda w: {"type": "page", "result_id": w.result_id, "sort": {"column": 1}},
        "bad_message",
    ),
    "sort-unknown-column": (
        lambda w: {"type": "page", "result_id": w.result_id, "sort": {"column": "nope"}},
        "validation",
    ),
    "unknown-result": (lambda w: {"type": "page", "result_id": "../../etc/passwd"}, "validation"),
    "question-too-long": (lambda w: {"type": "ask", "question": "x" * 5_000_000}, "bad_message"),
    "question-not-a-string": (lambda w: {"type": "ask", "question": {"$gt": ""}}, "bad_message"),
    "sql-too-long": (lambda w: {"type": "run_sql", "sql": "SELECT 1 " + " " * 200_000}, "bad_message"),
    "sql-that-writes": (lambda w: {"type": "run_sql", "sql": "DROP TABLE t"}, "validation"),
    "rename-to-bad-name": (
        lambda w: {"type": "rename_dataset", "old": "t", "new": "t; DROP"},
        "DatasetError",
    ),
    "unknown-conversation": (
        lambda w: {"type": "open_conversation", "conversation_id": "' OR 1=1 --"},
        "not_found",
    ),
    "title-too-long": (
        lambda w: {"type": "rename_conversation", "conversation_id": "c", "title": "t" * 10_000},
        "bad_message",
    ),
    "remove-unknown-dataset": (lambda w: {"type": "remove_dataset", "name": "__class__"}, "DatasetError"),
}


def reason_of(error: dict[str, Any]) -> str:
    return error.get("details", {}).get("reason") or error["error_type"]


@pytest.mark.parametrize("case", ANSWERED.values(), ids=ANSWERED.keys())
def test_bad_requests_are_answered_with_a_clear_error(
    widget: Widget, case: tuple[Message, str]
) -> None:
    make, expected = case
    reply, _ = widget.request(make(widget))

    error = reply["error"]
    assert expected in (reason_of(error), error["error_type"]), error
    assert 0 < len(error["message"]) < 400 and "Traceback" not in error["message"]


UNANSWERABLE = {
    "not-an-object": ["page", "t"],
    "a-string": "sync",
    "no-id": {"type": "page"},
    "id-too-long": {"id": "i" * 65, "type": "sync"},
    "id-a-number": {"id": 7, "type": "sync"},
    "cancel-unknown": {"id": "nobody", "type": "cancel"},
    "bundle-without-id": {"type": "bundle"},
}


@pytest.mark.parametrize("content", UNANSWERABLE.values(), ids=UNANSWERABLE.keys())
def test_messages_without_a_usable_id_are_logged_and_change_nothing(
    widget: Widget, content: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sent = len(widget.browser.comm.custom())
    with caplog.at_level(logging.WARNING, logger="chatdf.widget"):
        widget.browser.send(content)
    assert len(widget.browser.comm.custom()) == sent  # nobody to answer
    if not (isinstance(content, dict) and content.get("type") == "cancel"):
        assert any("ignored" in r.message for r in caplog.records)


# -- column names, paged and sorted -------------------------------------------------------

COLUMNS = {
    "regex-all": '"^.*$"',
    "star": '"*"',
    "regex-matching-another-column": '"^b$"',
    "empty": '""',
    "spaces": '"   "',
    "quotes-and-newline": '"it\'s ""quoted""\nline"',
    "sql-in-a-name": '"a""; DROP TABLE t; --"',
    "dotted": '"a.b"',
    "unicode": '"é😀"',
    "case-twin": '"B"',
    "very-long": '"' + "c" * 5000 + '"',
}


@pytest.mark.parametrize("alias", COLUMNS.values(), ids=COLUMNS.keys())
def test_column_names_page_and_sort(widget: Widget, alias: str) -> None:
    ran, _ = widget.request({"type": "run_sql", "sql": f"SELECT a AS {alias}, b FROM t"})
    assert "result" in ran, ran
    result = widget.chat._session.result(ran["result"]["id"])
    name = result.data.columns[0]
    expected = result.data.get_column(name)

    page, buffers = widget.request({"type": "page", "result_id": result.id})
    assert "result" in page, page["error"]
    assert arrow_page(buffers).columns == [name, "b"]

    for descending in (False, True):
        page, buffers = widget.request(
            {"type": "page", "result_id": result.id, "sort": {"column": name, "descending": descending}}
        )
        assert "result" in page, page["error"]
        rows = arrow_page(buffers)
        assert rows.columns == [name, "b"]
        assert rows.to_series(0).to_list() == expected.sort(descending=descending).to_list()


@pytest.mark.parametrize(
    "sql",
    ["SELECT a, a FROM t", "SELECT a AS x, b AS x FROM t"],
    ids=["same-column-twice", "same-alias-twice"],
)
def test_duplicate_column_names_are_a_clear_query_error(widget: Widget, sql: str) -> None:
    reply, _ = widget.request({"type": "run_sql", "sql": sql})
    error = reply["error"]
    assert error["error_type"] == "sql" and "duplicate" in error["message"]

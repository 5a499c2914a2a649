"""Browser requests against a real ChatDF: replies, buffers, synced state, logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import polars as pl
from _widget_helpers import Browser, arrow_page, wait_for  # type: ignore[import-not-found]

from chatdf import ChatDF
from tests.fake_gemini import FakeGemini, function_call, text_chunks


def saved_state_bytes(chat: ChatDF) -> int:
    """What a saved notebook keeps of the widget: its whole synced state as JSON,
    code (``_esm``, the loader) included."""
    return len(json.dumps(chat.get_state()))


def test_grid_pages_arrive_as_arrow_sorted_over_the_whole_result(chat: ChatDF, browser: Browser):
    frame = pl.DataFrame({"id": range(10_000), "v": [(i * 37) % 1000 for i in range(10_000)]})
    chat.add(frame, name="t")
    result = chat._session.call(chat._session.run_sql("SELECT * FROM t"))

    header, buffers = browser.request("page", result_id=result.id, offset=100, limit=50, sort={"column": "v", "descending": True})

    assert header["result"]["total_rows"] == 10_000
    assert header["result"]["rows"] == 50
    page = arrow_page(buffers)
    assert page.columns == ["id", "v"]
    assert page["v"].to_list() == frame["v"].sort(descending=True).slice(100, 50).to_list()
    # Rows are never in synced state: only the page's buffer carried them.
    assert saved_state_bytes(chat) < 5_000


def test_malformed_messages_are_logged_and_answered_without_a_traceback(chat: ChatDF, browser: Browser, caplog):
    with caplog.at_level(logging.WARNING, logger="chatdf.widget"):
        browser.send(["not", "an", "object"])
        browser.send({"type": "page"})  # no id: nobody to answer
        error = browser.error("drop_everything")
    assert error["error_type"] == "validation" and "drop_everything" in error["message"]
    assert len([r for r in caplog.records if "ignored a message" in r.getMessage()]) == 3
    # Still usable.
    assert browser.result("sync") == {"busy": False}


def test_unknown_result_is_a_clear_error(browser: Browser):
    error = browser.error("page", result_id="gone", offset=0)
    assert "no longer kept" in error["message"]


def test_bad_path_shows_an_error_card_and_retry_loads_it(chat: ChatDF, browser: Browser, tmp_path: Path):
    missing = tmp_path / "later.parquet"
    error = browser.error("add_dataset", source=str(missing))
    assert "later.parquet" in error["message"]
    [card] = chat._datasets
    assert card["status"] == "error" and card["error"]["message"] == error["message"]

    pl.DataFrame({"a": [1, 2, 3]}).write_parquet(missing)
    loaded = browser.result("add_dataset", source=str(missing), card=card["id"])

    assert loaded["status"] == "ready" and loaded["row_count"] == 3
    assert [(c["name"], c["status"]) for c in chat._datasets] == [("later", "ready")]


def test_sample_data_rename_refresh_and_remove(chat: ChatDF, browser: Browser):
    iris = browser.result("load_sample")
    assert (iris["name"], iris["row_count"], iris["column_count"]) == ("iris", 150, 5)
    assert "already exists" in browser.error("load_sample")["message"]
    duplicate = chat._datasets[-1]
    assert duplicate["status"] == "error"
    browser.result("remove_dataset", name=duplicate["id"])  # dismissing the failed card
    assert [c["status"] for c in chat._datasets] == ["ready"]

    renamed = browser.result("rename_dataset", old="iris", new="flowers")
    assert renamed["name"] == "flowers" and [d.name for d in chat.datasets] == ["flowers"]
    assert "bad name" in browser.error("rename_dataset", old="flowers", new="bad name")["message"]
    assert browser.result("refresh_dataset", name="flowers")["row_count"] == 150
    assert [c["name"] for c in browser.result("schema", name="flowers")["columns"]][:2] == ["sepal_length", "sepal_width"]

    browser.result("remove_dataset", name="flowers")
    assert chat.datasets == [] and chat._datasets == []


def test_a_question_streams_events_and_leaves_a_transcript(chat: ChatDF, browser: Browser, fake_gemini: FakeGemini):
    chat.add(pl.DataFrame({"city": ["Oslo", "Lima"], "price": [10.5, 3.25]}), name="cities")
    query = "SELECT city FROM cities ORDER BY price DESC"
    fake_gemini.add_stream([function_call("execute_sql", {"query": query})])
    fake_gemini.add_stream(text_chunks("Oslo is the **most** expensive.", n=3))

    message_id = browser.result("ask", question="Most expensive?")["message_id"]
    wait_for(lambda: not chat._busy and chat._conversations, what="the turn to finish")

    kinds = [e["type"] for e in browser.comm.events()]
    assert kinds[0] == "phase" and kinds[-1] == "answer"
    assert kinds.count("token") == 3 and "tool_call_finished" in kinds
    user, answer = chat._messages
    assert (user["role"], user["text"]) == ("user", "Most expensive?")
    assert answer["id"] == message_id and answer["status"] == "complete"
    assert answer["text"] == "Oslo is the **most** expensive." and answer["sql"] == [query]
    assert answer["result"]["total_rows"] == 2
    assert chat._conversation["title"] == "Most expensive?"
    assert chat._conversations[0]["message_count"] >= 2
    assert chat._usage["used"] > 0

    # "Run" in the SQL panel: edited SQL replaces the result under the same message.
    rerun = browser.result("run_sql", sql="SELECT city FROM cities WHERE price < 5", message_id=message_id)
    assert rerun["total_rows"] == 1
    assert chat._messages[1]["result"]["id"] == rerun["id"]
    assert chat._messages[1]["sql"] == ["SELECT city FROM cities WHERE price < 5"]
    assert browser.error("run_sql", sql="DELETE FROM cities")["error_type"] == "validation"


def test_a_failed_question_shows_its_error_in_the_transcript(
    chat: ChatDF, browser: Browser, fake_gemini: FakeGemini
):
    fake_gemini.add_error(429, "Quota exceeded", retry_delay=7)
    message_id = browser.result("ask", question="Anything?")["message_id"]
    wait_for(lambda: not chat._busy, what="the turn to end")
    answer = chat._messages[-1]
    assert answer["id"] == message_id and answer["status"] == "error"
    assert answer["error"]["error_type"] == "rate_limit"
    assert "Try again in about 7 s" in answer["error"]["message"]
    fake_gemini.add_stream(text_chunks("Back."))
    browser.result("ask", question="Again?")
    wait_for(lambda: not chat._busy and chat._messages[-1]["status"] == "complete", what="next turn")


def test_a_second_question_while_busy_is_refused(chat: ChatDF, browser: Browser, fake_gemini: FakeGemini):
    fake_gemini.add_hang(seconds=30, chunks=[{"text": "Partial"}])
    browser.result("ask", question="Slow one")
    wait_for(lambda: any(e["type"] == "token" for e in browser.comm.events()), what="first token")
    assert "already being answered" in browser.error("ask", question="Another")["message"]

    assert browser.result("stop") == {"stopped": True}
    wait_for(lambda: not chat._busy, what="stop")
    answer = chat._messages[-1]
    assert answer["status"] == "stopped" and answer["text"] == "Partial"
    assert len(chat._messages) == 2


def test_switching_conversations_restores_their_transcripts(chat: ChatDF, browser: Browser, fake_gemini: FakeGemini):
    fake_gemini.add_stream(text_chunks("First answer."))
    chat.ask("First question")
    first = chat._conversation["id"]
    browser.result("new_chat")
    assert chat._messages == [] and chat._conversation == {}
    fake_gemini.add_stream(text_chunks("Second answer."))
    chat.ask("Second question")
    wait_for(lambda: len(chat._conversations) == 2, what="two conversations")

    browser.result("open_conversation", conversation_id=first)
    assert [m["text"] for m in chat._messages] == ["First question", "First answer."]
    assert chat._conversation == {"id": first, "title": "First question"}

    browser.result("rename_conversation", conversation_id=first, title="Renamed")
    assert chat._conversation["title"] == "Renamed"
    browser.result("delete_conversation", conversation_id=first)
    assert chat._messages == [] and [c["title"] for c in chat._conversations] == ["Second question"]
    assert browser.result("clear_history") == {"removed": 1}
    assert chat._conversations == []


def test_saved_state_stays_small_after_large_results(chat: ChatDF, browser: Browser, fake_gemini: FakeGemini):
    chat.add(pl.DataFrame({"i": range(1_000_000), "s": ["x" * 20] * 1_000_000}), name="big")
    fake_gemini.add_stream([function_call("execute_sql", {"query": "SELECT * FROM big"})])
    fake_gemini.add_stream(text_chunks("Here are a million rows."))
    answer = chat.ask("Everything")
    assert answer.result.height == 1_000_000
    _header, buffers = browser.request("page", result_id=answer.result_id, offset=999_950)
    assert arrow_page(buffers)["i"].to_list()[-1] == 999_999
    assert saved_state_bytes(chat) < 100_000


def test_the_loader_gets_the_ui_bundle_over_the_comm(chat: ChatDF, browser: Browser):
    # Only the small loader is saved with the notebook; the UI arrives on request.
    assert len(chat.get_state()["_esm"]) < 4_000
    browser.send({"type": "bundle", "id": "b-1"})
    reply, _ = browser.comm.reply("b-1")
    assert reply["result"]["js"].startswith(("import", "var", "function", "const", "let", "(", "/*"))
    assert "export" in reply["result"]["js"] and ".chatdf" in reply["result"]["css"]
    assert len(reply["result"]["js"]) > 100_000

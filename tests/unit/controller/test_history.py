"""History and usage through the public API: real SQLite files, the fake Gemini, real workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatdf import ChatDF, LLMError
from chatdf.events import UsageWarningEvent
from chatdf.store import StoreWarning
from tests.fake_gemini import TEST_API_KEY, FakeGemini, function_call, text_chunks


def make_chat(fake: FakeGemini, db: Path | str, **settings) -> ChatDF:
    return ChatDF(api_key=TEST_API_KEY, gemini_base_url=fake.url, db_path=str(db), workers=1, **settings)


def test_conversation_round_trip_through_a_new_session(
    fake_gemini: FakeGemini, parquet_file: Path, tmp_path: Path
):
    db = tmp_path / "history.db"
    first = make_chat(fake_gemini, db)
    first.add(parquet_file, name="cities")
    query = "SELECT count(*) AS n FROM cities"
    fake_gemini.add_stream([function_call("execute_sql", {"query": query})])
    fake_gemini.add_stream(text_chunks("There are 5 cities."))
    first.ask("  How many cities are there?  ")
    conversation_id = first.conversation_id
    first.close()

    second = make_chat(fake_gemini, db)
    try:
        [summary] = second.conversations
        assert summary.id == conversation_id
        assert summary.title == "How many cities are there?"
        assert summary.message_count == 3  # question, tool call, answer

        conversation = second.open(conversation_id)
        assert [m.role for m in conversation.messages] == ["user", "tool", "assistant"]
        tool, answer = conversation.messages[1:]
        assert tool.sql_query == query and tool.content == "1 rows"
        assert answer.content == "There are 5 cities."
        assert answer.result_preview.rows == [[5]]
        assert [d.name for d in second.datasets] == ["cities"]  # re-registered from its file

        # The model sees the restored turn exactly, tool round included.
        fake_gemini.reset()
        fake_gemini.add_stream(text_chunks("Still 5."))
        second.ask("And now?")
        sent = fake_gemini.requests[0].contents()
        assert [c["role"] for c in sent] == ["user", "model", "user", "model", "user"]
        assert sent[1]["parts"][0]["functionCall"]["args"] == {"query": query}
        assert sent[2]["parts"][0]["functionResponse"]["response"]["total_rows"] == 1
        assert second.conversations[0].message_count == 5
    finally:
        second.close()


def test_history_operations(fake_gemini: FakeGemini, tmp_path: Path):
    chat = make_chat(fake_gemini, tmp_path / "h.db")
    try:
        for question in ("first question", "second question"):
            chat.new()
            fake_gemini.add_stream(text_chunks(f"answer to {question}"))
            chat.ask(question)
        titles = [c.title for c in chat.conversations]
        assert titles == ["second question", "first question"]  # newest first

        older = chat.conversations[1].id
        assert chat.rename_conversation(older, "Renamed").title == "Renamed"
        chat.delete_conversation(chat.conversation_id)
        assert [c.title for c in chat.conversations] == ["Renamed"]
        assert chat.conversation_id is None  # the deleted one was current

        assert chat.clear_history() == 1
        assert chat.conversations == []
    finally:
        chat.close()


def test_stopped_turn_is_stored_with_its_partial_text(fake_gemini: FakeGemini, tmp_path: Path):
    chat = make_chat(fake_gemini, tmp_path / "h.db")
    try:
        fake_gemini.add_hang([{"text": "Partial "}, {"text": "answer"}], seconds=20)
        seen: list[str] = []
        for event in chat.iter_events("long one"):
            if event.type == "token":
                seen.append(event.text)
                if len(seen) == 2:
                    chat.stop()
        [message] = [m for m in chat.open(chat.conversation_id).messages if m.role == "assistant"]
        assert message.status == "stopped"
        assert message.content == "Partial answer"
    finally:
        chat.close()


def test_usage_warning_then_limit_refuses_before_calling_gemini(
    fake_gemini: FakeGemini, tmp_path: Path, sample_frame
):
    chat = make_chat(fake_gemini, tmp_path / "h.db", token_limit=100)
    try:
        chat.add(sample_frame, name="cities")
        fake_gemini.add_stream(text_chunks("one", usage=(60, 25)))
        events = list(chat.iter_events("first"))
        [warning] = [e for e in events if isinstance(e, UsageWarningEvent)]
        assert warning.usage_percent == 85.0 and warning.remaining_tokens == 15

        fake_gemini.add_stream(text_chunks("two", usage=(10, 5)))
        chat.ask("second")  # 100 of 100 tokens now
        usage = chat.usage
        assert (usage.used, usage.limit, usage.remaining, usage.percent) == (100, 100, 0, 100.0)
        assert 0 < usage.resets_in_seconds <= 24 * 3600
        assert usage.per_model["gemini-2.5-flash"].input_tokens == 70

        calls_before = len(fake_gemini.requests)
        with pytest.raises(LLMError, match="Usage limit reached") as raised:
            chat.ask("third")
        assert raised.value.kind == "usage_limit"
        assert raised.value.details["resets_in_seconds"] > 0
        assert len(fake_gemini.requests) == calls_before  # nothing reached Gemini
        # Datasets and SQL keep working at the limit.
        assert chat.sql("SELECT count(*) AS n FROM cities").item() == 5
    finally:
        chat.close()


def test_api_key_never_reaches_the_database(fake_gemini: FakeGemini, tmp_path: Path, sample_frame):
    db = tmp_path / "h.db"
    chat = make_chat(fake_gemini, db)
    chat.add(sample_frame, name="cities")
    fake_gemini.add_error(400, f"API key not valid: {TEST_API_KEY}", reason="API_KEY_INVALID")
    with pytest.raises(LLMError):
        chat.ask(f"my key is not {TEST_API_KEY[:4]}")
    fake_gemini.add_stream(text_chunks("ok"))
    chat.ask("again")
    chat.close()
    for path in tmp_path.glob("h.db*"):
        assert TEST_API_KEY.encode() not in path.read_bytes(), path


def test_unwritable_history_location_falls_back_to_memory(fake_gemini: FakeGemini, tmp_path: Path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder should be")
    with pytest.warns(StoreWarning):
        chat = make_chat(fake_gemini, blocker / "h.db")
        try:
            fake_gemini.add_stream(text_chunks("works anyway"))
            assert chat.ask("hello").text == "works anyway"
            assert [c.title for c in chat.conversations] == ["hello"]
        finally:
            chat.close()


def test_theme_choice_is_kept_for_the_next_session(tmp_path: Path, monkeypatch):
    db = tmp_path / "prefs.db"
    first = ChatDF(db_path=str(db))
    assert first.theme == "system"
    first.theme = "dark"  # what the settings menu does
    first.close()

    second = ChatDF(db_path=str(db))
    assert second.theme == "dark"
    second.close()

    monkeypatch.setenv("CHATDF_THEME", "light")  # an explicit setting wins
    third = ChatDF(db_path=str(db))
    assert third.theme == "light"
    third.close()

"""The session owns a turn's state (chatdf/turn.py); the widget's traits only mirror it."""

from __future__ import annotations

import pytest

from chatdf import ChatDF, ChatDFError
from tests.fake_gemini import FakeGemini, text_chunks


def test_the_session_owns_the_transcript_and_the_one_running_flag(chat: ChatDF, fake_gemini: FakeGemini):
    fake_gemini.add_stream(text_chunks("There are five."))
    turns = chat._session.turns
    other_view: list[tuple[bool, list[str]]] = []  # a second view of the same session
    turns.watch(lambda: other_view.append((turns.running, [m["text"] for m in turns.messages])))

    events = chat.iter_events("How many?")
    next(events)
    assert turns.running and chat._busy  # one flag, mirrored
    with pytest.raises(ChatDFError, match="already being answered"):
        chat.ask("And another?")
    list(events)

    assert not turns.running and not chat._busy
    assert chat._messages == turns.messages
    assert [m["status"] for m in turns.messages] == ["complete", "complete"]
    assert other_view[0] == (True, ["How many?", ""])
    assert other_view[-1] == (False, ["How many?", "There are five."])

    chat.new()
    assert turns.messages == [] and chat._messages == [] and other_view[-1] == (False, [])

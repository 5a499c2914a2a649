"""ChatDF.iter_events: a turn's events on the caller's thread, without an event loop."""

from __future__ import annotations

import pytest

from chatdf import ChatDF, LLMError
from chatdf.events import AnswerEvent, ErrorEvent
from tests.fake_gemini import TEST_API_KEY, FakeGemini, text_chunks


@pytest.fixture
def chat(fake_gemini: FakeGemini):
    chat = ChatDF(api_key=TEST_API_KEY, gemini_base_url=fake_gemini.url, workers=1)
    yield chat
    chat.close()


def test_events_arrive_in_order_and_end_with_the_answer(chat: ChatDF, fake_gemini: FakeGemini):
    fake_gemini.add_stream(text_chunks("Five cities.", n=3))
    events = list(chat.iter_events("How many cities?"))
    assert "".join(e.text for e in events if e.type == "token") == "Five cities."
    assert isinstance(events[-1], AnswerEvent) and events[-1].text == "Five cities."


def test_a_failed_turn_yields_its_error_then_raises(chat: ChatDF, fake_gemini: FakeGemini):
    fake_gemini.add_error(400, "API key not valid", reason="API_KEY_INVALID")
    seen = []
    with pytest.raises(LLMError) as raised:
        for event in chat.iter_events("Anything"):
            seen.append(event)
    assert raised.value.kind == "invalid_key"
    assert isinstance(seen[-1], ErrorEvent)


def test_leaving_the_loop_early_stops_the_turn(chat: ChatDF, fake_gemini: FakeGemini):
    fake_gemini.add_hang([{"text": "Partial "}, {"text": "answer"}], seconds=20)
    for event in chat.iter_events("long one"):
        if event.type == "token":
            break
    fake_gemini.add_stream(text_chunks("Next."))
    assert chat.ask("And now?").text == "Next."  # the first turn ended: a new one may start


def test_exchange_lives_in_models_and_stays_importable_from_the_controller() -> None:
    from chatdf import controller, models

    assert controller.Exchange is models.Exchange

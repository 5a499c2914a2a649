"""A turn that fails raises; a partial one returns what it has, error included.

Every case goes through the real SDK over HTTP to the fake Gemini: 429 with
RetryInfo, 5xx past the retries, an invalid key, a safety block, an empty reply,
a connection cut mid-answer; and the refusals that send nothing (no key, the
usage limit), which leave no conversation behind.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
from IPython.core.formatters import DisplayFormatter

from chatdf import ChatDF, LLMError
from chatdf.events import ErrorEvent
from chatdf.llm.client import RetryPolicy
from tests.fake_gemini import TEST_API_KEY, FakeGemini, function_call, text_chunks

FAST_RETRY = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.05)


def make_chat(fake: FakeGemini, frame: pl.DataFrame, **settings) -> ChatDF:
    settings = {"api_key": TEST_API_KEY, **settings}
    chat = ChatDF(gemini_base_url=fake.url, workers=1, **settings)
    chat._session.llm.retry = FAST_RETRY
    chat.add(frame, name="cities")
    return chat


@pytest.fixture
def chat(fake_gemini: FakeGemini, sample_frame: pl.DataFrame) -> Iterator[ChatDF]:
    chat = make_chat(fake_gemini, sample_frame)
    yield chat
    chat.close()


def shown(value: object) -> str:
    """What a notebook shows for ``value``: its richest form (markdown, then HTML, then text)."""
    bundle, _ = DisplayFormatter().format(value)
    for mime in ("text/markdown", "text/html", "text/plain"):
        if mime in bundle:
            return bundle[mime]
    raise AssertionError(f"nothing to show: {bundle}")


# Each failure: the script, the kind, and words of the message that say what to do.
FAILURES: dict[str, tuple[Callable[[FakeGemini], object], str, str]] = {
    "429": (
        lambda f: f.add_error(429, "Quota exceeded", retry_delay=7),
        "rate_limit",
        "Try again in about 7 s",
    ),
    "5xx": (
        lambda f: [f.add_error(503, "overloaded") for _ in range(3)],
        "server",
        "Try again in a minute",
    ),
    "invalid-key": (
        lambda f: f.add_error(400, "API key not valid", reason="API_KEY_INVALID"),
        "invalid_key",
        "Check GEMINI_API_KEY",
    ),
    "safety": (lambda f: f.add_stream([{"block_reason": "SAFETY"}]), "safety", "Rephrase"),
    "empty": (lambda f: f.add_stream([{"finish_reason": "STOP"}]), "empty", "Try asking again"),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_a_failed_turn_raises_an_llm_error_that_says_what_to_do(
    chat: ChatDF, fake_gemini: FakeGemini, case: str
) -> None:
    script, kind, advice = FAILURES[case]
    script(fake_gemini)

    with pytest.raises(LLMError) as raised:
        chat.ask("Which city is cheapest?")

    error = raised.value
    assert error.kind == kind
    assert advice in error.message
    assert TEST_API_KEY not in str(error)
    if case == "429":
        assert error.retry_after == 7
    # The session keeps working after the failure.
    fake_gemini.reset()
    fake_gemini.add_stream(text_chunks("Kyiv."))
    assert chat.ask("Which city is cheapest?").text == "Kyiv."


def test_ask_async_raises_the_same(chat: ChatDF, fake_gemini: FakeGemini) -> None:
    fake_gemini.add_error(429, "Quota exceeded", retry_delay=3)
    with pytest.raises(LLMError) as raised:
        asyncio.run(chat.ask_async("Anything?"))
    assert (raised.value.kind, raised.value.retry_after) == ("rate_limit", 3)


def test_stream_yields_the_error_event_then_raises(chat: ChatDF, fake_gemini: FakeGemini) -> None:
    fake_gemini.add_stream([{"block_reason": "SAFETY"}])
    events = []

    async def consume() -> None:
        async for event in chat.stream("Anything?"):
            events.append(event)

    with pytest.raises(LLMError) as raised:
        asyncio.run(consume())
    assert raised.value.kind == "safety"
    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].error.error_type == "safety"
    assert events[-1].error.message == raised.value.message
    # The turn was saved before stream() raised: the next question starts at once.
    fake_gemini.add_stream(text_chunks("Fine."))
    assert chat.ask("Again?").text == "Fine."


def test_without_a_key_nothing_is_sent_and_nothing_is_stored(
    fake_gemini: FakeGemini, sample_frame: pl.DataFrame
) -> None:
    chat = make_chat(fake_gemini, sample_frame, api_key=None)
    try:
        events = []
        with pytest.raises(LLMError, match="No Gemini API key. Set GEMINI_API_KEY") as raised:
            for event in chat.iter_events("Hello?"):
                events.append(event)
        assert raised.value.kind == "missing_key"
        assert fake_gemini.requests == []
        assert chat.conversation_id is None
        assert chat.conversations == []
        assert [e.type for e in events] == ["error"]
        assert chat.sql("SELECT count(*) AS n FROM cities").item() == 5  # SQL needs no key
    finally:
        chat.close()


def test_at_the_usage_limit_nothing_is_sent_and_no_conversation_is_opened(
    fake_gemini: FakeGemini, sample_frame: pl.DataFrame, tmp_path: Path
) -> None:
    chat = make_chat(fake_gemini, sample_frame, token_limit=100, db_path=str(tmp_path / "h.db"))
    try:
        fake_gemini.add_stream(text_chunks("Used it all.", usage=(90, 20)))
        chat.ask("First question")
        [first] = chat.conversations
        chat.new()
        sent = len(fake_gemini.requests)

        with pytest.raises(LLMError, match="Usage limit reached") as raised:
            chat.ask("Second question")

        assert raised.value.kind == "usage_limit"
        assert raised.value.details["resets_in_seconds"] > 0
        assert len(fake_gemini.requests) == sent
        assert chat.conversation_id is None
        assert [c.id for c in chat.conversations] == [first.id]
    finally:
        chat.close()


def test_a_turn_that_fails_after_some_text_returns_it_with_the_error(
    chat: ChatDF, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_drop([{"text": "Kyiv is the "}, {"text": "cheapest"}])

    answer = chat.ask("Which city is cheapest?")

    assert answer.text == "Kyiv is the cheapest"
    assert answer.error is not None and answer.error["error_type"] == "server"
    assert not answer.stopped
    display = shown(answer)
    assert display.index("Kyiv is the cheapest") < display.index(answer.error["message"])


def test_a_turn_that_fails_after_a_result_returns_the_result(
    chat: ChatDF, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_stream([function_call("execute_sql", {"query": "SELECT count(*) AS n FROM cities"})])
    fake_gemini.add_error(429, "Quota exceeded", retry_delay=5)

    answer = chat.ask("How many cities?")

    assert answer.text == ""
    assert answer.result is not None and answer.result.item() == 5
    assert answer.error["error_type"] == "rate_limit"
    assert answer.error["details"]["retry_after"] == 5
    assert "Try again in about 5 s" in shown(answer)


def test_a_stopped_turn_returns_even_without_text(chat: ChatDF, fake_gemini: FakeGemini) -> None:
    fake_gemini.add_hang([], seconds=20)
    result: dict[str, object] = {}
    worker = threading.Thread(target=lambda: result.update(answer=chat.ask("Slow?")))
    worker.start()
    fake_gemini.wait_for_requests(1, timeout=10)
    assert chat.stop() is True
    worker.join(10)

    answer = result["answer"]
    assert answer.stopped and answer.text == "" and answer.error is None
    assert "stopped" in shown(answer)


def test_the_error_payload_never_holds_the_key(chat: ChatDF, fake_gemini: FakeGemini) -> None:
    fake_gemini.add_drop([{"text": "Partial"}])
    answer = chat.ask(f"is {TEST_API_KEY[:4]} a key?")
    assert TEST_API_KEY not in json.dumps(answer.error) + shown(answer)

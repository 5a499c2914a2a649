"""Whole chat turns: the real SDK talks HTTP to the fake Gemini, queries run in real workers."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import polars as pl
import pytest
from google.genai import types

from chatdf import ChatDF, LLMError
from chatdf.controller import TOO_LARGE_MESSAGE, Exchange
from chatdf.events import AnswerEvent, ToolCallFinished, UsageEvent
from chatdf.llm.client import RetryPolicy
from chatdf.net import Egress
from tests.egress_helpers import public_127_0_0_2
from tests.fake_gemini import TEST_API_KEY, FakeGemini, function_call, text_chunks
from tests.http_server import LocalHTTPServer

FAST_RETRY = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.05)


@pytest.fixture
def chat(fake_gemini: FakeGemini, sample_frame: pl.DataFrame):
    chat = ChatDF(api_key=TEST_API_KEY, gemini_base_url=fake_gemini.url, workers=1)
    chat._session.llm.retry = FAST_RETRY
    chat.add(sample_frame, name="cities")
    yield chat
    chat.close()


def sql_call(query: str, **kw) -> list[dict]:
    return [function_call("execute_sql", {"query": query}, **kw)]


def test_question_runs_sql_and_answers_with_its_rows(chat: ChatDF, fake_gemini: FakeGemini):
    query = "SELECT city, price FROM cities WHERE price > 5 ORDER BY price DESC"
    fake_gemini.add_stream(sql_call(query))
    fake_gemini.add_stream(text_chunks("Three cities cost more than 5.", n=4))

    answer = chat.ask("Which cities cost more than 5?")

    assert answer.text == "Three cities cost more than 5."
    assert answer.sql == [query]
    assert answer.error is None and not answer.stopped
    assert answer.result is not None
    assert answer.result.to_dicts() == [
        {"city": "Baku", "price": 12.0},
        {"city": "Oslo", "price": 10.5},
        {"city": "Pune", "price": 7.0},
    ]
    assert answer.usage.input_tokens == 20 and answer.usage.output_tokens == 10

    first, second = fake_gemini.requests
    assert first.declared_functions() == ["execute_sql", "load_dataset", "create_chart", "describe_table"]
    system = first.system_text()
    assert "cities" in system and "- price: float" in system
    [response] = second.function_responses()
    assert response["name"] == "execute_sql"
    sent = response["response"]
    assert sent["total_rows"] == 3
    assert sent["rows"].splitlines() == ["city,price", "Baku,12", "Oslo,10.5", "Pune,7"]


def test_model_fixes_its_sql_after_an_error(chat: ChatDF, fake_gemini: FakeGemini):
    fake_gemini.add_stream(sql_call("SELECT no_such_column FROM cities"))
    fake_gemini.add_stream(sql_call("SELECT count(*) AS n FROM cities"))
    fake_gemini.add_stream(text_chunks("There are 5 cities."))

    events = []
    chat._session.listeners.append(events.append)
    answer = chat.ask("How many cities?")

    assert answer.text == "There are 5 cities."
    assert answer.sql == ["SELECT no_such_column FROM cities", "SELECT count(*) AS n FROM cities"]
    assert answer.result.to_dicts() == [{"n": 5}]
    error_sent = fake_gemini.requests[1].function_responses()[0]["response"]
    assert error_sent["error_type"] == "sql"
    assert "no_such_column" in error_sent["message"]
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert finished[0].error is not None and finished[0].error.error_type == "sql"
    assert finished[1].error is None and finished[1].total_rows == 1


def test_tool_call_limit_ends_the_turn_with_a_message(chat: ChatDF, fake_gemini: FakeGemini):
    for i in range(6):
        fake_gemini.add_stream(sql_call(f"SELECT {i} AS n FROM cities LIMIT 1"))

    answer = chat.ask("Loop forever")

    assert len(answer.sql) == 5
    assert "stopped after 5 tool calls" in answer.text
    assert len(fake_gemini.requests) == 5  # no sixth model call
    assert fake_gemini.pending == 1
    # The next question still works and its request replays a valid history.
    fake_gemini.reset()
    fake_gemini.add_stream(text_chunks("Fine."))
    assert chat.ask("Just say fine").text == "Fine."
    roles = [c["role"] for c in fake_gemini.requests[0].contents()]
    assert roles[-1] == "user" and roles[-2] == "model"


def test_failed_sql_retry_limit(chat: ChatDF, fake_gemini: FakeGemini):
    for _ in range(5):
        fake_gemini.add_stream(sql_call("SELECT nope FROM cities"))

    answer = chat.ask("Break it")

    assert len(answer.sql) == 4  # the first try and three retries
    assert "stopped after 4 failed queries" in answer.text
    assert answer.result is None


def test_model_loads_a_dataset(chat: ChatDF, fake_gemini: FakeGemini, http_root: Path):
    # The model may only load public URLs: serve on 127.0.0.2, which this egress counts as public.
    chat._session.registry.egress = Egress(is_private=public_127_0_0_2)
    with LocalHTTPServer(http_root, host="127.0.0.2") as server:
        url = server.url("/sample.parquet")
        fake_gemini.add_stream([function_call("load_dataset", {"url": url})])
        fake_gemini.add_stream(sql_call("SELECT count(*) AS n FROM sample"))
        fake_gemini.add_stream(text_chunks("Loaded; it has 5 rows."))

        answer = chat.ask(f"Load {url} and count its rows")

        assert [d.name for d in chat.datasets] == ["cities", "sample"]  # named after its file
        assert chat._datasets[-1]["name"] == "sample"  # the widget's trait follows
        assert answer.result.to_dicts() == [{"n": 5}]
        loaded = fake_gemini.requests[1].function_responses()[0]["response"]
        assert loaded["name"] == "sample" and loaded["row_count"] == 5
        assert "sample" in fake_gemini.requests[1].system_text()


def test_model_cannot_load_private_urls_even_when_the_user_may(
    fake_gemini: FakeGemini, http_server: LocalHTTPServer, sample_frame: pl.DataFrame
):
    chat = ChatDF(
        api_key=TEST_API_KEY, gemini_base_url=fake_gemini.url, workers=1, allow_private_urls=True
    )
    try:
        url = http_server.url("/sample.parquet")
        fake_gemini.add_stream([function_call("load_dataset", {"url": url})])
        fake_gemini.add_stream(text_chunks("I could not load it."))

        chat.ask("Load it")

        refused = fake_gemini.requests[1].function_responses()[0]["response"]
        assert "private" in refused["message"].lower()
        assert chat.datasets == []
        assert chat.add(url).name == "sample"  # the user still may
    finally:
        chat.close()


def test_stop_mid_stream_keeps_the_partial_answer(chat: ChatDF, fake_gemini: FakeGemini):
    fake_gemini.add_hang([{"text": "The answer "}, {"text": "is"}], seconds=20)
    tokens: list[str] = []
    for event in chat.iter_events("Tell me"):
        if event.type == "token":
            tokens.append(event.text)
            if len(tokens) == 2:
                assert chat.stop() is True
        answer = event

    assert isinstance(answer, AnswerEvent)
    assert answer.stopped is True
    assert answer.text == "The answer is"
    assert fake_gemini.requests[0].disconnected or fake_gemini.wait_for_requests(1)
    # The session is usable at once, and the stopped turn is in the context.
    fake_gemini.add_stream(text_chunks("Next."))
    assert chat.ask("And now?").text == "Next."
    assert "The answer is" in fake_gemini.requests[1].texts("model")


def test_stop_kills_a_running_query(chat: ChatDF, fake_gemini: FakeGemini):
    chat.add(pl.DataFrame({"x": range(200_000)}), name="big")
    slow = "SELECT count(*) AS n FROM big a CROSS JOIN big b WHERE (a.x * b.x) % 7 = 3"
    fake_gemini.add_stream(sql_call(slow))
    for event in chat.iter_events("Slow please"):
        if event.type == "tool_call_started":
            time.sleep(0.3)
            chat.stop()
    assert isinstance(event, AnswerEvent) and event.stopped
    # The pool replaced the killed worker: a query works right away.
    assert chat.sql("SELECT count(*) AS n FROM cities").item() == 5


@pytest.mark.parametrize(
    ("script", "kind", "words"),
    [
        (lambda f: f.add_error(429, "Quota exceeded", retry_delay=7), "rate_limit", "7"),
        (lambda f: [f.add_error(500, "boom") for _ in range(3)], "server", "Gemini"),
        (lambda f: f.add_raw("this is not json"), "server", ""),
        (lambda f: f.add_stream([{"finish_reason": "STOP"}]), "empty", ""),
        (lambda f: f.add_stream([{"block_reason": "SAFETY"}]), "safety", ""),
        (lambda f: f.add_error(400, "API key not valid", reason="API_KEY_INVALID"), "invalid_key", "key"),
    ],
    ids=["429", "500s", "malformed", "empty", "safety", "invalid-key"],
)
def test_model_failures_end_the_turn_with_a_clear_error(chat, fake_gemini, script, kind, words):
    script(fake_gemini)
    events = []
    chat._session.listeners.append(events.append)

    with pytest.raises(LLMError) as raised:
        chat.ask("Anything")

    assert raised.value.kind == kind
    assert words in raised.value.message
    assert TEST_API_KEY not in json.dumps(raised.value.to_payload())
    assert isinstance(events[-1], AnswerEvent)  # listeners (the widget) still see the turn end
    assert events[-1].error is not None and events[-1].error.error_type == kind
    for event in events:
        assert TEST_API_KEY not in event.model_dump_json()
    # The session keeps working after the failure.
    fake_gemini.reset()
    fake_gemini.add_stream(text_chunks("Back."))
    assert chat.ask("Again").text == "Back."


def test_transient_500_is_retried_and_the_answer_arrives(chat, fake_gemini):
    fake_gemini.add_error(503, "overloaded")
    fake_gemini.add_stream(text_chunks("Made it."))
    assert chat.ask("Hello").text == "Made it."
    assert len(fake_gemini.requests) == 2


def test_missing_key_fails_before_any_request(fake_gemini: FakeGemini, sample_frame):
    chat = ChatDF(gemini_base_url=fake_gemini.url, workers=1)
    try:
        chat.add(sample_frame)
        with pytest.raises(LLMError, match="GEMINI_API_KEY") as raised:
            chat.ask("Hello?")
        assert raised.value.kind == "missing_key"
        assert fake_gemini.requests == []
        assert chat.sql("SELECT count(*) AS n FROM table1").item() == 5  # SQL needs no key
    finally:
        chat.close()


def _exchange(i: int, size: int) -> Exchange:
    question = f"question {i} " + "x" * size
    return Exchange(
        question=question,
        answer=f"answer {i}",
        contents=[
            types.Content(role="user", parts=[types.Part(text=question)]),
            types.Content(role="model", parts=[types.Part(text=f"answer {i}")]),
        ],
    )


def test_context_keeps_the_last_50_messages(chat: ChatDF, fake_gemini: FakeGemini):
    chat._session.history.extend(_exchange(i, 10) for i in range(40))
    fake_gemini.add_stream(text_chunks("ok"))
    chat.ask("latest")
    sent = fake_gemini.requests[0].contents()
    assert len(sent) == 51  # 25 earlier exchanges (50 messages) and the question
    assert sent[0]["parts"][0]["text"].startswith("question 15 ")


def test_context_drops_oldest_when_over_the_window(chat: ChatDF, fake_gemini: FakeGemini):
    # A small window: gemma models are assumed to have 131,072 tokens (about 524k characters).
    chat._session.llm.model = "gemma-3-test"
    chat._session.history.extend(_exchange(i, 100_000) for i in range(8))
    fake_gemini.add_stream(text_chunks("ok"))
    chat.ask("latest")
    sent = fake_gemini.requests[0].contents()
    questions = [c["parts"][0]["text"][:11] for c in sent if c["role"] == "user"]
    assert questions[-1] == "latest"
    assert len(questions) - 1 == 4  # 4 × 100k chars ≈ 100k tokens < 80% of 131k
    assert questions[0] == "question 4 "


def test_too_large_request_drops_ten_messages_then_gives_up(chat, fake_gemini):
    chat._session.history.extend(_exchange(i, 10) for i in range(8))
    fake_gemini.add_error(400, "The input token count (2000000) exceeds the maximum number of tokens")
    fake_gemini.add_stream(text_chunks("fits now"))
    assert chat.ask("q").text == "fits now"
    first, second = fake_gemini.requests
    assert len(first.contents()) == 17 and len(second.contents()) == 7

    fake_gemini.reset()
    for _ in range(2):
        fake_gemini.add_error(400, "The input token count (2000000) exceeds the maximum number of tokens")
    with pytest.raises(LLMError) as raised:
        chat.ask("q2")
    assert (raised.value.kind, raised.value.message) == ("context", TOO_LARGE_MESSAGE)


def test_usage_event_and_slow_event(chat: ChatDF, fake_gemini: FakeGemini):
    chat._session.controller.slow_after = 0.2
    fake_gemini.add_stream(text_chunks("slow answer", n=2, usage=(123, 45), delay=0.3))
    events = list(chat.iter_events("take your time"))
    kinds = [e.type for e in events]
    assert kinds[0] == "phase" and kinds[-1] == "answer"
    assert "slow" in kinds
    [used] = [e for e in events if isinstance(e, UsageEvent)]
    assert (used.input_tokens, used.output_tokens, used.model) == (123, 45, "gemini-2.5-flash")
    assert len({e.turn_id for e in events}) == 1


def test_stream_yields_events_in_order(chat: ChatDF, fake_gemini: FakeGemini):
    fake_gemini.add_stream(sql_call("SELECT count(*) AS n FROM cities"))
    fake_gemini.add_stream(text_chunks("Five.", n=2))

    async def collect():
        return [event async for event in chat.stream("count")]

    events = asyncio.run(collect())
    kinds = [e.type for e in events]
    assert kinds[:4] == ["phase", "tool_call_started", "phase", "tool_call_finished"]
    assert kinds[-2:] == ["usage", "answer"]
    assert "".join(e.text for e in events if e.type == "token") == "Five."


def test_ask_inside_a_running_event_loop_like_a_kernel(chat: ChatDF, fake_gemini: FakeGemini):
    fake_gemini.add_stream(text_chunks("from a loop"))
    fake_gemini.add_stream(text_chunks("async too"))
    ticks = []

    async def cell():
        # A notebook cell runs inside the kernel's loop: sync ask must not deadlock.
        sync_answer = chat.ask("sync")

        async def ticker():
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        async_answer = await chat.ask_async("async")
        task.cancel()
        return sync_answer, async_answer

    sync_answer, async_answer = asyncio.run(cell())
    assert sync_answer.text == "from a loop"
    assert async_answer.text == "async too"
    assert ticks  # the caller's loop kept running while the async turn went on


def test_empty_and_too_long_questions_are_refused(chat: ChatDF, fake_gemini: FakeGemini):
    from chatdf import ChatDFError

    with pytest.raises(ChatDFError, match="empty"):
        chat.ask("   ")
    with pytest.raises(ChatDFError, match="2,000 characters"):
        chat.ask("x" * 2001)
    assert fake_gemini.requests == []


def test_key_never_in_repr_or_settings_text(chat: ChatDF):
    assert TEST_API_KEY not in repr(chat)
    assert TEST_API_KEY not in repr(chat.settings)
    assert TEST_API_KEY not in repr(chat._session.llm)

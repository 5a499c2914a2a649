"""GeminiClient through the real SDK and real HTTP against the fake Gemini API."""

from __future__ import annotations

import asyncio
import json
import logging
import socket

import pytest
from google.genai import types

from chatdf.errors import LLMError
from chatdf.llm.client import (
    GeminiClient,
    ReplyBuilder,
    RetryPolicy,
    StreamChunk,
    context_window,
    estimate_tokens,
)
from chatdf.llm.prompts import system_prompt
from chatdf.llm.tools import TOOLS
from chatdf.models import ColumnInfo, Dataset
from chatdf.settings import Settings
from tests.fake_gemini import TEST_API_KEY as SECRET
from tests.fake_gemini import FakeGemini, function_call, text_chunks

FAST_RETRY = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.05)

QUESTION = [types.Content(role="user", parts=[types.Part(text="How many orders?")])]


async def stream_all(client: GeminiClient, **kw: object) -> list[StreamChunk]:
    kw.setdefault("system", "You are a test.")
    return [chunk async for chunk in client.stream(QUESTION, **kw)]


async def failure(client: GeminiClient) -> LLMError:
    with pytest.raises(LLMError) as info:
        await stream_all(client)
    return info.value


def assert_no_secret(error: LLMError) -> None:
    for text in (
        str(error),
        repr(error),
        error.message,
        json.dumps(error.to_payload(), default=str),
    ):
        assert SECRET not in text
        assert "SECRET123" not in text


# ------------------------------------------------------------ happy paths


async def test_stream_yields_text_as_it_arrives_then_usage(
    client: GeminiClient, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_stream(text_chunks("There are 42 orders.", n=3, usage=(120, 8)))
    chunks = await stream_all(client)
    assert [c.text for c in chunks] == ["There a", "re 42 o", "rders."]
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.input_tokens, chunks[-1].usage.output_tokens) == (120, 8)
    assert chunks[-1].finish_reason == "STOP"

    builder = ReplyBuilder()
    for chunk in chunks:
        builder.add(chunk)
    reply = builder.reply()
    assert reply.text == "There are 42 orders."
    # Streamed text is kept as one part in the history, not one part per chunk.
    assert reply.content.role == "model"
    assert [p.text for p in reply.content.parts] == ["There are 42 orders."]


async def test_function_calls_come_back_typed_and_are_not_run_by_the_sdk(
    client: GeminiClient, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_stream(
        [
            {"text": "Checking. "},
            function_call("execute_sql", {"query": "SELECT COUNT(*) FROM orders"}, id="call-1"),
        ]
    )
    chunks = await stream_all(client, tools=TOOLS)
    calls = [call for chunk in chunks for call in chunk.function_calls]
    assert len(calls) == 1
    assert calls[0].name == "execute_sql"
    assert calls[0].args == {"query": "SELECT COUNT(*) FROM orders"}
    assert calls[0].id == "call-1"
    # Automatic function calling is off: one request, nothing sent back on its own.
    await asyncio.sleep(0.05)
    assert len(fake_gemini.requests) == 1

    builder = ReplyBuilder()
    for chunk in chunks:
        builder.add(chunk)
    parts = builder.reply().content.parts
    assert parts[0].text == "Checking. "
    assert parts[1].function_call.name == "execute_sql"


async def test_request_declares_tools_and_sends_the_system_prompt(
    client: GeminiClient, fake_gemini: FakeGemini
) -> None:
    orders = Dataset(
        name="orders",
        source="https://example.com/orders.parquet",
        kind="url",
        row_count=1234,
        column_count=2,
        columns=[
            ColumnInfo(name="order_id", dtype="Int64", friendly="Integer"),
            ColumnInfo(name="Order Date", dtype="Date", friendly="Date"),
        ],
    )
    fake_gemini.add_stream(text_chunks("ok"))
    await stream_all(client, system=system_prompt([orders]), tools=TOOLS)
    (request,) = fake_gemini.requests
    assert request.declared_functions() == [
        "execute_sql", "load_dataset", "create_chart", "describe_table"
    ]
    declared = request.body["tools"][0]["functionDeclarations"]
    assert declared[3]["parameters"]["required"] == ["name"]
    assert declared[3]["parameters"]["properties"]["columns"]["type"] == "ARRAY"
    assert declared[0]["parameters"]["required"] == ["query"]
    assert declared[1]["parameters"]["required"] == ["url"]
    # A free-form spec object: JSON Schema, since an OBJECT `parameters` needs properties.
    # (The SDK sends the proto field name; the API's JSON parser takes either spelling.)
    chart = declared[2].get("parametersJsonSchema") or declared[2]["parameters_json_schema"]
    assert chart["required"] == ["spec"] and chart["properties"]["spec"] == {
        "type": "object",
        "description": chart["properties"]["spec"]["description"],
    }
    assert "parameters" not in declared[2]
    # SDKs before 2.x spell the inner field the proto way; the API takes either.
    assert request.body["toolConfig"] in (
        {"functionCallingConfig": {"mode": "AUTO"}},
        {"function_calling_config": {"mode": "AUTO"}},
    )
    system = request.system_text()
    assert "orders (1,234 rows" in system
    assert "- order_id: int" in system
    assert '- "Order Date": date' in system
    assert request.texts("user") == ["How many orders?"]
    assert request.model == "gemini-2.5-flash"


async def test_settings_model_and_base_url_are_used(
    fake_gemini: FakeGemini, settings: Settings
) -> None:
    other = GeminiClient(settings.model_copy(update={"model": "gemini-2.5-pro"}), retry=FAST_RETRY)
    fake_gemini.add_stream(text_chunks("pro"))
    assert "".join([c.text async for c in other.stream(QUESTION, system="s")]) == "pro"
    assert fake_gemini.requests[0].model == "gemini-2.5-pro"
    await other.aclose()


# ------------------------------------------------------------------ errors


async def test_missing_key_fails_before_any_request(
    fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "CHATDF_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    keyless = GeminiClient(Settings(gemini_base_url=fake_gemini.url, _env_file=None))
    fake_gemini.add_stream(text_chunks("never sent"))
    error = await failure(keyless)
    assert error.kind == "missing_key"
    assert "Set GEMINI_API_KEY or pass api_key=..." in error.message
    assert fake_gemini.requests == []
    assert "api_key=missing" in repr(keyless)


@pytest.mark.parametrize(
    ("status", "message", "reason"),
    [
        (400, "API key not valid. Please pass a valid API key.", "API_KEY_INVALID"),
        (401, "Request had invalid authentication credentials.", None),
        (403, "Permission denied: Consumer has been suspended.", None),
    ],
)
async def test_bad_keys_are_reported_not_retried(
    client: GeminiClient, fake_gemini: FakeGemini, status: int, message: str, reason: str | None
) -> None:
    fake_gemini.add_error(status, message, reason=reason)
    error = await failure(client)
    assert error.kind == "invalid_key"
    assert "GEMINI_API_KEY" in error.message
    assert len(fake_gemini.requests) == 1


async def test_wrong_key_against_a_key_checking_server(
    fake_gemini: FakeGemini, client: GeminiClient
) -> None:
    fake_gemini.api_key = "the-real-key"
    error = await failure(client)
    assert error.kind == "invalid_key"
    assert "API key not valid" in error.message
    assert_no_secret(error)


async def test_rate_limit_carries_the_retry_hint(
    client: GeminiClient, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_error(
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        retry_delay="37.5s",
    )
    error = await failure(client)
    assert error.kind == "rate_limit"
    assert error.retry_after == pytest.approx(37.5)
    assert "Try again in about 38 s" in error.message
    assert "quota" in error.message
    assert error.to_payload()["details"]["retry_after"] == pytest.approx(37.5)
    assert len(fake_gemini.requests) == 1  # a 429 is reported, not hammered


async def test_rate_limit_hint_from_retry_after_header(
    client: GeminiClient, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_error(429, "Too many requests", headers={"Retry-After": "12"})
    error = await failure(client)
    assert (error.kind, error.retry_after) == ("rate_limit", 12.0)


async def test_server_error_is_retried_then_succeeds(
    client: GeminiClient, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_error(500, "Internal error encountered.")
    fake_gemini.add_error(503, "The model is overloaded. Please try again later.")
    fake_gemini.add_stream(text_chunks("Third time lucky"))
    chunks = await stream_all(client)
    assert "".join(c.text for c in chunks) == "Third time lucky"
    assert len(fake_gemini.requests) == 3


async def test_server_errors_give_up_after_the_bounded_attempts(
    client: GeminiClient, fake_gemini: FakeGemini
) -> None:
    for _ in range(5):
        fake_gemini.add_error(503, "The model is overloaded.")
    error = await failure(client)
    assert error.kind == "server"
    assert "Gave up after 3 attempts" in error.message
    assert len(fake_gemini.requests) == 3
    assert fake_gemini.pending == 2


async def test_retries_back_off_exponentially() -> None:
    policy = RetryPolicy(attempts=5, initial_delay=1.0, max_delay=8.0)
    delays = [policy.delay(i) for i in range(5)]
    for got, base in zip(delays, [1, 2, 4, 8, 8]):
        assert 0.85 * base <= got <= 1.15 * base
    assert policy.delay(0, hint=5.0) >= 5.0 * 0.85  # the server's hint wins when longer


async def test_timeout_is_retried_then_reported(
    settings: Settings, fake_gemini: FakeGemini
) -> None:
    impatient = GeminiClient(
        settings, timeout=0.3, retry=RetryPolicy(attempts=2, initial_delay=0.01)
    )
    fake_gemini.add_hang(seconds=5)
    fake_gemini.add_hang(seconds=5)
    error = await failure(impatient)
    assert error.kind == "server"
    assert "did not answer within 0.3 s" in error.message
    assert len(fake_gemini.requests) == 2
    await impatient.aclose()


async def test_connection_refused_is_network_down(settings: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on ``port`` now.
    offline = GeminiClient(
        settings.model_copy(update={"gemini_base_url": f"http://127.0.0.1:{port}"}),
        retry=FAST_RETRY,
    )
    error = await failure(offline)
    assert error.kind == "network"
    assert f"127.0.0.1:{port}" in error.message
    assert "CHATDF_GEMINI_BASE_URL" in error.message
    assert_no_secret(error)


async def test_connection_cut_before_any_text_is_retried(
    client: GeminiClient, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_drop()
    fake_gemini.add_stream(text_chunks("after the cut"))
    chunks = await stream_all(client)
    assert "".join(c.text for c in chunks) == "after the cut"
    assert len(fake_gemini.requests) == 2


async def test_connection_cut_after_text_is_not_retried(
    client: GeminiClient, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_drop([{"text": "Half an ans"}])
    fake_gemini.add_stream(text_chunks("must not be used"))
    seen: list[str] = []
    with pytest.raises(LLMError) as info:
        async for chunk in client.stream(QUESTION, system="s"):
            seen.append(chunk.text)
    assert seen == ["Half an ans"]  # the consumer never gets text twice
    assert info.value.kind == "server"
    assert "connection to Gemini broke" in info.value.message
    assert len(fake_gemini.requests) == 1


async def test_error_event_mid_stream_is_mapped(
    client: GeminiClient, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_stream([{"text": "Part"}, {"error": {"status": 500, "message": "Internal"}}])
    with pytest.raises(LLMError) as info:
        await stream_all(client)
    assert info.value.kind == "server"
    assert len(fake_gemini.requests) == 1


async def test_malformed_json_is_reported(client: GeminiClient, fake_gemini: FakeGemini) -> None:
    fake_gemini.add_stream([{"raw_text": '{"candidates": [{"content": '}])
    error = await failure(client)
    assert error.kind == "server"
    assert "could not read" in error.message
    assert "CHATDF_GEMINI_BASE_URL" in error.message


async def test_malformed_error_body_still_maps_by_status(
    client: GeminiClient, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_raw("<html>Too Many Requests</html>", status=429, content_type="text/html")
    error = await failure(client)
    assert error.kind == "rate_limit"
    assert "Too Many Requests" in error.message


async def test_empty_candidates_are_an_empty_response(
    client: GeminiClient, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_stream([{"usage": (10, 0)}])
    error = await failure(client)
    assert error.kind == "empty"
    assert "empty response" in error.message


async def test_finish_without_content_names_the_reason(
    client: GeminiClient, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_stream([{"finish_reason": "MALFORMED_FUNCTION_CALL"}])
    error = await failure(client)
    assert error.kind == "empty"
    assert "MALFORMED_FUNCTION_CALL" in error.message


async def test_blocked_prompt_is_a_safety_error(
    client: GeminiClient, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_stream([{"block_reason": "SAFETY", "usage": (10, 0)}])
    error = await failure(client)
    assert error.kind == "safety"
    assert "SAFETY" in error.message and "Rephrase" in error.message
    fake_gemini.add_stream([{"block_reason": "PROHIBITED_CONTENT"}])
    assert (await failure(client)).kind == "safety"


async def test_answer_stopped_for_safety_keeps_the_text_before(
    client: GeminiClient, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_stream([{"text": "The first part"}, {"text": "", "finish_reason": "SAFETY"}])
    seen: list[str] = []
    with pytest.raises(LLMError) as info:
        async for chunk in client.stream(QUESTION, system="s"):
            seen.append(chunk.text)
    assert info.value.kind == "safety"
    assert seen[0] == "The first part"


async def test_request_too_large_is_a_context_error(
    client: GeminiClient, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_error(
        400,
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
    )
    error = await failure(client)
    assert error.kind == "context"
    assert len(fake_gemini.requests) == 1


async def test_unknown_model_says_which_setting_to_change(
    client: GeminiClient, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_error(404, "models/gemini-9 is not found for API version v1beta.")
    error = await failure(client)
    assert error.kind == "other"
    assert "CHATDF_MODEL" in error.message


async def test_the_key_never_appears_in_errors_or_logs(
    client: GeminiClient, fake_gemini: FakeGemini, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # A misbehaving proxy that echoes the key back must not leak it either.
    fake_gemini.add_error(400, f"API key not valid: {SECRET}", reason="API_KEY_INVALID")
    fake_gemini.add_error(403, f"Key {SECRET} is suspended")
    fake_gemini.add_error(429, f"quota for {SECRET}", retry_delay=3)
    for _ in range(3):
        fake_gemini.add_error(500, f"boom {SECRET}")
    fake_gemini.add_stream([{"block_reason": "SAFETY"}])
    fake_gemini.add_stream([{"usage": (1, 0)}])
    fake_gemini.add_raw(f"not json {SECRET}")
    errors = [await failure(client) for _ in range(6)]
    errors.append(await failure(client))
    kinds = [e.kind for e in errors]
    assert kinds == [
        "invalid_key",
        "invalid_key",
        "rate_limit",
        "server",
        "safety",
        "empty",
        "server",
    ]
    for error in errors:
        assert_no_secret(error)
        assert error.__context__ is None and error.__cause__ is None  # no chained SDK objects
    assert "[redacted]" in errors[0].message
    assert SECRET not in caplog.text
    assert SECRET not in repr(client)


# ------------------------------------------------------------------- stop


async def test_closing_the_stream_closes_the_connection(
    client: GeminiClient, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_hang([{"text": "Let me think"}], seconds=10)
    stream = client.stream(QUESTION, system="s")
    first = await stream.__anext__()
    assert first.text == "Let me think"
    await stream.aclose()  # what a stop does
    for _ in range(100):
        if fake_gemini.requests[0].disconnected:
            break
        await asyncio.sleep(0.02)
    assert fake_gemini.requests[0].disconnected


async def test_cancelling_the_consumer_task_stops_quickly(
    client: GeminiClient, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_hang([{"text": "Working"}], seconds=10)
    got: list[str] = []

    async def consume() -> None:
        async for chunk in client.stream(QUESTION, system="s"):
            got.append(chunk.text)

    task = asyncio.create_task(consume())
    while not got:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=2)
    assert got == ["Working"]


async def test_client_is_usable_after_errors(client: GeminiClient, fake_gemini: FakeGemini) -> None:
    fake_gemini.add_error(400, "Invalid JSON payload received.")
    assert (await failure(client)).kind == "other"
    fake_gemini.add_stream(text_chunks("fine again"))
    assert "".join(c.text for c in await stream_all(client)) == "fine again"


# ------------------------------------------------------------ budget helpers


def test_context_windows() -> None:
    assert context_window("gemini-2.5-flash") == 1_048_576
    assert context_window("models/gemini-1.5-pro-002") == 2_097_152
    assert context_window("gemini-2.5-flash-preview-09-2025") == 1_048_576
    assert context_window("gemini-7-ultra") == 1_048_576
    assert context_window("some-gateway-model") == 131_072


def test_token_estimate_counts_text_calls_and_responses() -> None:
    contents = [
        types.Content(role="user", parts=[types.Part(text="x" * 400)]),
        types.Content(
            role="model",
            parts=[
                types.Part(
                    function_call=types.FunctionCall(name="execute_sql", args={"query": "y" * 100})
                )
            ],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(name="execute_sql", response={"rows": "z" * 1000})
            ],
        ),
    ]
    estimate = estimate_tokens(contents, system="s" * 400)
    assert 450 <= estimate <= 500
    assert estimate_tokens([]) == 0

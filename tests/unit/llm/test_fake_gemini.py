"""The fake Gemini server speaks what the real google-genai SDK expects.

These tests drive the SDK itself (no chatdf code) against the fake, so a
wire-format mistake in the fake shows up here and not as a puzzling failure in
the controller tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.fake_gemini import TEST_API_KEY as SECRET
from tests.fake_gemini import FakeGemini, function_call, text_chunks, validate_reply

REPO = Path(__file__).resolve().parents[3]


def sdk_client(url: str, key: str = SECRET) -> genai.Client:
    return genai.Client(
        api_key=key,
        vertexai=False,
        http_options=types.HttpOptions(
            base_url=url, timeout=5000, retry_options=types.HttpRetryOptions(attempts=1)
        ),
    )


@pytest.fixture
async def sdk(fake_gemini: FakeGemini) -> AsyncIterator[genai.Client]:
    """A plain SDK client pointed at the fake, closed afterwards."""
    client = sdk_client(fake_gemini.url)
    yield client
    await client.aio.aclose()
    client.close()


def ask(text: str = "How many rows?") -> list[types.Content]:
    return [types.Content(role="user", parts=[types.Part(text=text)])]


async def collect(client: genai.Client, **config: object) -> list[types.GenerateContentResponse]:
    """Every chunk of one streamed call (the caller keeps ``client`` alive)."""
    stream = await client.aio.models.generate_content_stream(
        model="gemini-2.5-flash", contents=ask(), config=types.GenerateContentConfig(**config)
    )
    return [chunk async for chunk in stream]


async def test_streamed_text_arrives_as_separate_chunks_with_usage(
    fake_gemini: FakeGemini, sdk: genai.Client
) -> None:
    fake_gemini.add_stream(text_chunks("Hello world", n=3, usage=(12, 4)))
    chunks = await collect(sdk)
    assert [c.text for c in chunks] == ["Hell", "o wo", "rld"]
    last = chunks[-1]
    assert last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata.prompt_token_count == 12
    assert last.usage_metadata.candidates_token_count == 4
    assert last.usage_metadata.total_token_count == 16


async def test_streamed_function_call_is_parsed_by_the_sdk(
    fake_gemini: FakeGemini, sdk: genai.Client
) -> None:
    fake_gemini.add_stream(
        [{"text": "Let me check."}, function_call("execute_sql", {"query": "SELECT 1"}, id="c1")]
    )
    chunks = await collect(sdk)
    calls = chunks[-1].function_calls
    assert calls is not None and len(calls) == 1
    assert (calls[0].name, calls[0].args, calls[0].id) == (
        "execute_sql",
        {"query": "SELECT 1"},
        "c1",
    )


async def test_non_streaming_request_gets_the_chunks_merged(
    fake_gemini: FakeGemini, sdk: genai.Client
) -> None:
    fake_gemini.add_stream(text_chunks("Hello world", n=4, usage=(7, 3)))
    fake_gemini.add_response(
        "Two calls", function_calls=[function_call("execute_sql", {"query": "SELECT 2"})]
    )
    client = sdk
    first = await client.aio.models.generate_content(model="gemini-2.5-flash", contents=ask())
    assert first.text == "Hello world"
    assert len(first.candidates[0].content.parts) == 1
    assert first.usage_metadata.total_token_count == 10
    second = await client.aio.models.generate_content(model="gemini-2.5-flash", contents=ask())
    assert second.function_calls[0].args == {"query": "SELECT 2"}
    assert second.candidates[0].content.parts[0].text == "Two calls"


def test_sync_sdk_client_works_too(fake_gemini: FakeGemini) -> None:
    fake_gemini.add_stream(text_chunks("sync ok", n=2))
    client = sdk_client(fake_gemini.url)  # kept: a collected client closes its connections
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents=ask()))
    assert "".join(c.text for c in chunks) == "sync ok"
    client.close()


async def test_requests_are_recorded_without_the_key(
    fake_gemini: FakeGemini, sdk: genai.Client
) -> None:
    fake_gemini.add_stream(text_chunks("ok"))
    tool = types.Tool(
        function_declarations=[types.FunctionDeclaration(name="execute_sql", description="run")]
    )
    await collect(sdk, system_instruction="You are a test.", tools=[tool])
    (request,) = fake_gemini.requests
    # The SDK's default API version moved from v1beta to v1; the fake serves both.
    assert request.path in (
        "/v1/models/gemini-2.5-flash:streamGenerateContent",
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
    )
    assert request.query == {"alt": "sse"}
    assert request.stream and request.model == "gemini-2.5-flash"
    assert request.had_key
    assert "x-goog-api-key" not in request.headers
    assert SECRET not in json.dumps(request.to_dict())
    assert request.system_text() == "You are a test."
    assert request.declared_functions() == ["execute_sql"]
    assert request.texts("user") == ["How many rows?"]


async def test_exhausted_script_answers_a_clear_500(
    fake_gemini: FakeGemini, sdk: genai.Client
) -> None:
    with pytest.raises(genai_errors.ServerError) as info:
        await collect(sdk)
    assert info.value.code == 500
    assert "script exhausted" in info.value.message


async def test_scripted_error_has_the_google_rpc_body(
    fake_gemini: FakeGemini, sdk: genai.Client
) -> None:
    fake_gemini.add_error(
        429, "Quota exceeded for metric", retry_delay=7, reason="RATE_LIMIT_EXCEEDED"
    )
    with pytest.raises(genai_errors.ClientError) as info:
        await collect(sdk)
    error = info.value
    assert (error.code, error.status, error.message) == (
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded for metric",
    )
    kinds = {d["@type"].rsplit(".", 1)[-1]: d for d in error.details["error"]["details"]}
    assert kinds["RetryInfo"]["retryDelay"] == "7s"
    assert kinds["ErrorInfo"]["reason"] == "RATE_LIMIT_EXCEEDED"


async def test_error_event_inside_a_stream_raises_in_the_sdk(
    fake_gemini: FakeGemini, sdk: genai.Client
) -> None:
    fake_gemini.add_stream(
        [{"text": "partial"}, {"error": {"status": 503, "message": "overloaded"}}]
    )
    client = sdk
    stream = await client.aio.models.generate_content_stream(
        model="gemini-2.5-flash", contents=ask()
    )
    seen = []
    with pytest.raises(genai_errors.ServerError, match="overloaded"):
        async for chunk in stream:
            seen.append(chunk.text)
    assert seen == ["partial"]


async def test_block_reason_reaches_prompt_feedback(
    fake_gemini: FakeGemini, sdk: genai.Client
) -> None:
    fake_gemini.add_stream([{"block_reason": "SAFETY", "usage": (5, 0)}])
    (chunk,) = await collect(sdk)
    assert chunk.candidates is None
    assert chunk.prompt_feedback.block_reason == types.BlockedReason.SAFETY


async def test_expected_key_mode_rejects_other_keys_like_the_real_api(
    fake_gemini: FakeGemini,
) -> None:
    fake_gemini.api_key = "the-right-key"
    with pytest.raises(genai_errors.ClientError) as info:
        await collect(wrong := sdk_client(fake_gemini.url, key="a-wrong-key"))
    await wrong.aio.aclose()
    assert info.value.code == 400
    assert info.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert fake_gemini.pending == 0  # nothing scripted was consumed either


async def test_delayed_chunks_arrive_when_the_process_has_over_1024_fds(
    fake_gemini: FakeGemini, sdk: genai.Client
) -> None:
    # VegaFusion (sysinfo) keeps a /proc file open per thread on the machine, so a kernel
    # on a busy box holds more than 1024 fds; select() refuses those, and the fake crashed.
    spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        fake_gemini.add_stream(text_chunks("Hello world", n=3, delay=0.01))
        chunks = await collect(sdk)
    finally:
        for fd in spare:
            os.close(fd)
    assert [c.text for c in chunks] == ["Hell", "o wo", "rld"]


async def test_client_that_goes_away_mid_hang_is_recorded(
    fake_gemini: FakeGemini, sdk: genai.Client
) -> None:
    fake_gemini.add_hang([{"text": "thinking..."}], seconds=10)
    client = sdk
    stream = await client.aio.models.generate_content_stream(
        model="gemini-2.5-flash", contents=ask()
    )
    first = await stream.__anext__()
    assert first.text == "thinking..."
    await stream.aclose()
    await client.aio.aclose()  # closes the pool, hence the socket
    for _ in range(100):
        if fake_gemini.requests[0].disconnected:
            break
        await asyncio.sleep(0.02)
    assert fake_gemini.requests[0].disconnected


def test_script_typos_are_rejected_with_the_known_keys() -> None:
    with pytest.raises(ValueError, match="exactly one of"):
        validate_reply({"txt": "hello"})
    with pytest.raises(ValueError, match="Unknown chunk key"):
        validate_reply({"chunks": [{"txet": "hello"}]})
    with pytest.raises(ValueError, match="status code"):
        validate_reply({"error": {"message": "no status"}})


def test_loop_mode_replays_the_script(fake_gemini: FakeGemini, sdk: genai.Client) -> None:
    fake_gemini.load_script({"loop": True, "replies": [{"text": "one"}, {"text": "two"}]})
    client = sdk
    texts = [client.models.generate_content(model="m", contents=ask()).text for _ in range(3)]
    assert texts == ["one", "two", "one"]


def test_cli_serves_a_json_script_and_takes_more_replies(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {
                "replies": [
                    {"text": "From the file", "n": 2},
                    {"function_call": {"name": "execute_sql", "args": {"query": "SELECT 1"}}},
                ]
            }
        )
    )
    with subprocess.Popen(
        [sys.executable, "-m", "tests.fake_gemini", "--script", str(script)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            check_cli_fake(proc.stdout.readline().strip())
        finally:
            proc.terminate()
            proc.wait(timeout=5)
    assert proc.returncode == 0


def check_cli_fake(url: str) -> None:
    assert url.startswith("http://127.0.0.1:")
    client = sdk_client(url)
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents=ask()))
    assert "".join(c.text for c in chunks) == "From the file"
    reply = client.models.generate_content(model="gemini-2.5-flash", contents=ask())
    assert reply.function_calls[0].name == "execute_sql"

    added = httpx.post(f"{url}/_fake/replies", json={"replies": [{"text": "added later"}]})
    assert added.json() == {"pending": 1}
    assert client.models.generate_content(model="m", contents=ask()).text == "added later"
    recorded = httpx.get(f"{url}/_fake/requests").json()
    assert len(recorded) == 3 and all(r["had_key"] for r in recorded)
    assert SECRET not in json.dumps(recorded)
    client.close()


def test_cli_reports_a_bad_script(tmp_path: Path) -> None:
    script = tmp_path / "bad.json"
    script.write_text(json.dumps({"replies": [{"say": "hi"}]}))
    done = subprocess.run(
        [sys.executable, "-m", "tests.fake_gemini", "--script", str(script)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "exactly one of" in done.stderr


async def test_closed_fake_stops_serving_pooled_connections() -> None:
    fake = FakeGemini().start()
    fake.add_stream(text_chunks("first"))
    client = sdk_client(fake.url)
    await collect(client)  # leaves a keep-alive connection in the pool
    fake.close()
    with pytest.raises(Exception) as info:  # httpx or httpx2, depending on the SDK
        await collect(client)
    assert type(info.value).__module__.split(".")[0] in ("httpx", "httpx2", "google")
    assert len(fake.requests) == 1
    await client.aio.aclose()

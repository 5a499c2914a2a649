"""The gateway as the SDK sees it: Google's wire format, limits, streams, metering."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from google import genai
from google.genai import types
from pydantic import SecretStr

from chatdf.llm.client import GeminiClient, RetryPolicy
from chatdf.settings import Settings
from chatdf.usage import UsageSummary
from tests.fake_gemini import text_chunks
from tests.gateway.team import TEAM_KEY, Team

MODEL = "gemini-2.5-flash"
QUESTION = [types.Content(role="user", parts=[types.Part(text="How many rows?")])]


def _client(team: Team, token: str | None) -> GeminiClient:
    settings = Settings(gateway_url=team.url, _env_file=None)
    return GeminiClient(
        settings,
        token=None if token is None else SecretStr(token),
        timeout=10,
        retry=RetryPolicy(attempts=1),
    )


async def _stream_text(client: GeminiClient) -> str:
    try:
        return "".join([chunk.text async for chunk in client.stream(QUESTION, system="s")])
    finally:
        await client.aclose()


def _run_stream(client: GeminiClient) -> str:
    return asyncio.run(_stream_text(client))


def _usage(team: Team, token: str) -> dict:
    answer = httpx.get(f"{team.url}/v1/usage", headers={"x-goog-api-key": token})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _wait_for_usage(team: Team, token: str, used: int, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        usage = _usage(team, token)
        if usage["used"] >= used or time.monotonic() > deadline:
            return usage
        time.sleep(0.05)


# -- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "cdfgw_made-up", "AIzaSomebodysRealLookingKey"])
def test_unknown_token_gets_401_in_googles_format(team: Team, token: str | None) -> None:
    headers = {"x-goog-api-key": token} if token else {}
    answer = httpx.post(
        f"{team.url}/v1beta/models/{MODEL}:generateContent", headers=headers, json={"contents": []}
    )
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["code"] == 401 and error["status"] == "UNAUTHENTICATED"
    assert "sign_in()" in error["message"]
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert team.upstream.requests == []


def test_revoked_token_is_sign_in_required_through_the_sdk(team: Team) -> None:
    token = team.api_token()
    team.admin("revoke", "ada@example.edu")
    with pytest.raises(Exception) as raised:
        _run_stream(_client(team, token))
    assert raised.value.kind == "sign_in_required"
    assert "chat.sign_in()" in raised.value.message and token not in raised.value.message


def test_no_token_is_sign_in_required_before_any_request(team: Team) -> None:
    with pytest.raises(Exception) as raised:
        _run_stream(_client(team, None))
    assert raised.value.kind == "sign_in_required"
    assert team.recorder.requests == []


# -- the limit ------------------------------------------------------------------------------------


def test_at_the_limit_429_with_retry_info_and_rate_limit_in_the_kernel(make_team) -> None:
    team = make_team(token_limit=40)
    token = team.api_token()
    team.upstream.add_stream(text_chunks("Twenty-five tokens.", usage=(20, 5)))
    assert _run_stream(_client(team, token)) == "Twenty-five tokens."
    team.upstream.add_stream(text_chunks("Fifty now.", usage=(20, 5)))
    assert _run_stream(_client(team, token)) == "Fifty now."  # under the limit when asked

    answer = httpx.post(
        f"{team.url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
        headers={"x-goog-api-key": token},
        json={"contents": [{"role": "user", "parts": [{"text": "more?"}]}]},
    )
    assert answer.status_code == 429
    error = answer.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED" and "50 of 40 tokens" in error["message"]
    (retry,) = [d for d in error["details"] if d["@type"].endswith("google.rpc.RetryInfo")]
    delay = int(retry["retryDelay"].removesuffix("s"))
    # The total drops below 40 only when the first call (25) leaves the window.
    assert 86_390 <= delay <= 86_400 and answer.headers["retry-after"] == str(delay)

    with pytest.raises(Exception) as raised:
        _run_stream(_client(team, token))
    assert raised.value.kind == "rate_limit"
    assert raised.value.retry_after is not None and abs(raised.value.retry_after - delay) <= 2
    assert len(team.upstream.requests) == 2


def test_usage_has_the_fields_of_chat_usage(team: Team) -> None:
    token = team.api_token()
    usage = _usage(team, token)
    assert set(usage) == set(UsageSummary.model_fields) | {"warning", "exhausted"}
    assert usage["used"] == 0 and usage["limit"] == 1_000_000 and usage["user_key"] == "ada@example.edu"
    assert httpx.get(f"{team.url}/v1/usage").status_code == 401
    assert httpx.get(f"{team.url}/v1/account", headers={"authorization": f"Bearer {token}"}).json() == {
        "email": "ada@example.edu",
        "name": "Ada Lovelace",
    }


# -- relaying -------------------------------------------------------------------------------------


def test_streams_are_relayed_chunk_by_chunk(team: Team) -> None:
    token = team.api_token()
    team.upstream.add_stream(text_chunks("one two three", n=3, delay=0.4))
    arrivals = []
    with httpx.stream(
        "POST",
        f"{team.url}/v1beta/models/{MODEL}:streamGenerateContent",
        params={"alt": "sse"},
        headers={"x-goog-api-key": token},
        json={"contents": [{"role": "user", "parts": [{"text": "count"}]}]},
    ) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            if line.startswith("data:"):
                arrivals.append((time.monotonic(), json.loads(line[5:])))
    assert len(arrivals) == 3
    # The first chunk reached the client while upstream was still producing the others.
    assert arrivals[-1][0] - arrivals[0][0] > 0.6
    assert _usage(team, token)["used"] == 15


def test_non_streaming_calls_count_tokens_and_models_get(team: Team) -> None:
    token = team.api_token()
    client = genai.Client(api_key=token, http_options=types.HttpOptions(base_url=team.url))
    team.upstream.add_stream(text_chunks("Whole answer.", usage=(30, 12)))
    reply = client.models.generate_content(model=MODEL, contents="Answer at once")
    assert reply.text == "Whole answer."
    assert client.models.count_tokens(model=MODEL, contents="Count me").total_tokens > 0
    assert client.models.get(model=MODEL).name == f"models/{MODEL}"
    assert _usage(team, token)["used"] == 42  # countTokens and models.get cost nothing


def test_a_stream_cut_off_upstream_still_counts(team: Team) -> None:
    token = team.api_token()
    chunks = text_chunks("partial answer here", n=3, usage=None)
    chunks[0]["usage"] = {"input": 50, "output": 2}
    chunks[1]["usage"] = {"input": 50, "output": 9}
    team.upstream.add_drop(chunks[:2])
    with pytest.raises(httpx.HTTPError), httpx.stream(
        "POST",
        f"{team.url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
        headers={"x-goog-api-key": token},
        json={"contents": [{"role": "user", "parts": [{"text": "go"}]}]},
    ) as answer:
        for _ in answer.iter_bytes():
            pass
    assert _wait_for_usage(team, token, 59)["used"] == 59  # the last usageMetadata seen


def test_a_stream_the_client_leaves_still_counts(team: Team) -> None:
    token = team.api_token()
    team.upstream.add_hang([{"text": "Thinking...", "usage": {"input": 70, "output": 3}}], seconds=30)
    with httpx.stream(
        "POST",
        f"{team.url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
        headers={"x-goog-api-key": token},
        json={"contents": [{"role": "user", "parts": [{"text": "go"}]}]},
    ) as answer:
        for line in answer.iter_lines():
            if line.startswith("data:"):
                break  # the person pressed Stop
    assert _wait_for_usage(team, token, 73)["used"] == 73
    assert team.upstream.wait_for_requests(1)[0].action == "streamGenerateContent"


def test_two_concurrent_streams_of_one_user_are_both_metered(team: Team) -> None:
    token = team.api_token()
    team.upstream.add_stream(text_chunks("first stream text", n=4, delay=0.15, usage=(100, 11)))
    team.upstream.add_stream(text_chunks("second stream text", n=4, delay=0.15, usage=(200, 22)))
    async def both() -> list[str]:
        return await asyncio.gather(
            _stream_text(_client(team, token)), _stream_text(_client(team, token))
        )

    texts = asyncio.run(both())
    assert sorted(texts) == ["first stream text", "second stream text"]
    usage = _usage(team, token)
    assert usage["used"] == 333
    assert usage["per_model"][MODEL] == {"input_tokens": 300, "output_tokens": 33, "cost": pytest.approx(usage["cost"])}


def test_upstream_errors_are_relayed_in_googles_format(team: Team) -> None:
    token = team.api_token()
    team.upstream.add_error(429, "Resource has been exhausted (e.g. check quota).", retry_delay=7)
    answer = httpx.post(
        f"{team.url}/v1beta/models/{MODEL}:generateContent",
        headers={"x-goog-api-key": token},
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )
    assert answer.status_code == 429
    assert any(d.get("retryDelay") == "7s" for d in answer.json()["error"]["details"])


def test_a_refused_team_key_is_the_gateways_502_not_the_users_401(team: Team) -> None:
    token = team.api_token()
    team.upstream.api_key = "another-key-the-team-does-not-have"
    answer = httpx.post(
        f"{team.url}/v1beta/models/{MODEL}:generateContent",
        headers={"x-goog-api-key": token},
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )
    assert answer.status_code == 502
    assert "administrator" in answer.json()["error"]["message"]
    assert TEAM_KEY not in answer.text


@pytest.mark.parametrize(
    "path",
    [
        f"/v1beta/models/{MODEL}:deleteEverything",
        "/v1beta/models/..%2F..%2Fadmin:generateContent",
        "/v1beta/models/a%20b:generateContent",
        f"/v2/models/{MODEL}:generateContent",
        "/v1beta/tunedModels/x:generateContent",
    ],
)
def test_only_the_gemini_routes_are_forwarded(team: Team, path: str) -> None:
    token = team.api_token()
    answer = httpx.post(f"{team.url}{path}", headers={"x-goog-api-key": token}, json={})
    assert answer.status_code == 404 and answer.json()["error"]["status"] == "NOT_FOUND"
    assert team.upstream.requests == []


def test_oversized_requests_are_refused(team: Team) -> None:
    token = team.api_token()
    answer = httpx.post(
        f"{team.url}/v1beta/models/{MODEL}:generateContent",
        headers={"x-goog-api-key": token, "content-type": "application/json"},
        content=b" " * (33 * 1024 * 1024),
    )
    assert answer.status_code == 413
    assert team.upstream.requests == []

"""Team mode end to end: a kernel signs in through the gateway and asks questions."""

from __future__ import annotations

import httpx
import polars as pl
import pytest

from chatdf import LLMError
from tests.fake_gemini import text_chunks
from tests.gateway.conftest import TEAM_KEY, Team


def test_sign_in_referral_ask_and_usage_recorded(team: Team) -> None:
    chat = team.chat()
    assert chat.account is None
    sign_in = chat.sign_in()
    assert sign_in.user_code.replace("-", "") in sign_in.url.replace("-", "")
    assert not sign_in.wait(timeout=0.2)  # nobody signed in yet

    browser = team.browser()
    page = browser.open(sign_in.url)
    assert sign_in.user_code in page.text and "Continue with Google" in page.text
    page = browser.submit(page)
    assert page.url.path == "/referral"
    page = browser.submit(page, key=team.referral_key())
    assert "Signed in as ada@example.edu — you can close this tab" in page.text

    assert sign_in.wait(timeout=10)
    assert chat.account == {"email": "ada@example.edu", "name": "Ada Lovelace"}

    # The provider saw a real OIDC request: state, nonce and a PKCE S256 challenge.
    (authorize,) = team.provider.authorize_requests
    assert authorize["code_challenge_method"] == "S256" and authorize["nonce"] and authorize["state"]
    assert team.provider.token_requests[0]["code_verifier"]

    chat.add(pl.DataFrame({"x": [1, 2, 3]}), name="numbers")
    team.upstream.add_stream(text_chunks("There are three rows.", usage=(120, 30)))
    answer = chat.ask("How many rows?")
    assert answer.text == "There are three rows." and answer.error is None

    usage = chat.usage
    assert (usage.used, usage.limit, usage.user_key) == (150, 1_000_000, "ada@example.edu")
    assert usage.per_model["gemini-2.5-flash"].input_tokens == 120
    assert "ada@example.edu" in team.admin("users") and "150" in team.admin("users")
    # The upstream got the team key (the fake refuses anything else), never the user's token.
    request = team.upstream.requests[-1]
    assert request.had_key and "x-goog-api-key" not in request.headers


def test_ask_before_sign_in_raises_and_sends_nothing(team: Team) -> None:
    chat = team.chat()
    with pytest.raises(LLMError) as raised:
        chat.ask("How many rows?")
    assert raised.value.kind == "sign_in_required"
    assert "chat.sign_in()" in raised.value.message
    assert team.upstream.requests == []
    assert chat.conversations == []  # a refused question leaves no conversation behind

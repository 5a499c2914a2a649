"""Team mode end to end: a kernel signs in through the gateway and asks questions."""

from __future__ import annotations

import httpx
import polars as pl
import pytest
from google.genai import types

from chatdf import LLMError
from tests.fake_gemini import text_chunks
from tests.gateway.team import TEAM_KEY, Team


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


def test_limit_reached_raises_rate_limit_with_retry_after(make_team) -> None:
    team = make_team(token_limit=100)
    chat = team.signed_in_chat()
    team.upstream.add_stream(text_chunks("First answer.", usage=(80, 40)))
    assert chat.ask("First question?").text == "First answer."
    assert chat.usage.exhausted

    with pytest.raises(LLMError) as raised:
        chat.ask("Second question?")
    assert raised.value.kind == "rate_limit"
    assert raised.value.retry_after is not None and 86_000 < raised.value.retry_after <= 86_400
    assert len(team.upstream.requests) == 1  # the refused question never went upstream


def test_the_kernels_own_token_limit_does_not_apply_in_team_mode(team: Team) -> None:
    chat = team.signed_in_chat(token_limit=10)
    for n in range(2):
        team.upstream.add_stream(text_chunks(f"Answer {n}.", usage=(40, 10)))
        assert chat.ask(f"Question {n}?").text == f"Answer {n}."
    assert (chat.usage.used, chat.usage.limit) == (100, 1_000_000)


def test_revoke_signs_the_kernel_out(team: Team) -> None:
    chat = team.signed_in_chat()
    assert "Revoked 1 token of ada@example.edu." in team.admin("revoke", "ada@example.edu")

    with pytest.raises(LLMError) as raised:
        chat.ask("Still there?")
    assert raised.value.kind == "sign_in_required"
    assert "chat.sign_in()" in raised.value.message
    assert chat.account is None  # the dead token is dropped, the widget shows signed out
    assert chat._account == {"team": True, "gateway": team.url, "email": "", "name": ""}
    assert team.upstream.requests == []

    # Signing in again works without a new referral key: the account exists.
    sign_in = chat.sign_in()
    page = team.browser().sign_in(sign_in.url)
    assert "Signed in as ada@example.edu" in page.text
    assert sign_in.wait(timeout=10) and chat.account is not None


def test_revoked_mid_session_maps_401_to_sign_in_required(team: Team) -> None:
    """The gateway's 401 on the model call itself (revoked after the turn's check)."""
    chat = team.signed_in_chat()
    team.upstream.add_stream(text_chunks("unused"))
    session = chat._session

    async def revoke_then_stream() -> None:
        from chatdf.gateway.store import GatewayStore

        store = await GatewayStore.open(team.settings.db_path)
        await store.revoke("ada@example.edu")
        await store.close()
        question = types.Content(role="user", parts=[types.Part(text="Hi?")])
        async for _ in session.llm.stream([question], system="s"):
            pass

    with pytest.raises(LLMError) as raised:
        session.call(revoke_then_stream())
    assert raised.value.kind == "sign_in_required", raised.value.message
    assert "sign_in()" in raised.value.message
    assert team.upstream.requests == []


def test_personal_key_never_reaches_the_gateway(team: Team) -> None:
    personal = "personal-gemini-KEY-5544"
    chat = team.chat(api_key=personal)
    with pytest.raises(LLMError):
        chat.ask("Use my own key?")  # team mode: still needs a sign-in
    sign_in = chat.sign_in()
    team.browser().sign_in(sign_in.url, referral_key=team.referral_key())
    assert sign_in.wait(timeout=10)
    team.upstream.add_stream(text_chunks("Hello."))
    assert chat.ask("Hello?").text == "Hello."
    assert personal.encode() not in team.recorder.request_bytes()


def test_team_key_is_absent_from_responses_logs_and_the_kernel(
    team: Team, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    chat = team.signed_in_chat()
    # Upstream misbehaves and echoes the key: in a streamed answer and in an error.
    team.upstream.add_stream(text_chunks(f"The key is {TEAM_KEY}.", n=1))
    team.upstream.add_error(400, f"invalid argument near {TEAM_KEY}")
    answer = chat.ask("What is the key?")
    assert TEAM_KEY not in answer.text and "[redacted]" in answer.text
    with pytest.raises(LLMError) as failed:
        chat.ask("And now?")
    assert TEAM_KEY not in str(failed.value) and "[redacted]" in str(failed.value)
    assert chat.usage.used > 0
    token = httpx.post(f"{team.url}/v1/sign-in").json()  # and one more sign-in round
    assert TEAM_KEY not in str(token)

    assert TEAM_KEY.encode() not in team.recorder.response_bytes()
    for browser in team.browsers:
        for page in browser.pages:
            assert TEAM_KEY not in page.text and TEAM_KEY not in str(page.headers)
    assert TEAM_KEY not in caplog.text
    assert TEAM_KEY not in str(chat.get_state())
    assert _reachable_strings_containing(chat, TEAM_KEY) == []


def test_token_stays_out_of_widget_state_and_history(team: Team, tmp_path) -> None:
    history = tmp_path / "history.db"
    chat = team.signed_in_chat(db_path=str(history))
    token = chat._session.account.token.get_secret_value()
    team.upstream.add_stream(text_chunks("Fine."))
    chat.ask("How are you?")
    state = str(chat.get_state())
    assert token not in state and "ada@example.edu" in state
    assert not (tmp_path / "chatdf").exists()
    for path in tmp_path.glob("history.db*"):
        assert token.encode() not in path.read_bytes()
    assert token not in repr(chat._session.account) and token not in repr(chat._session.llm)


def test_token_cache_is_private_and_survives_a_new_kernel(
    team: Team, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    chat = team.signed_in_chat(gateway_token_cache=True)
    cache = tmp_path / "config" / "chatdf" / "gateway-tokens.json"
    assert cache.stat().st_mode & 0o777 == 0o600
    assert cache.parent.stat().st_mode & 0o077 == 0
    chat.close()

    again = team.chat(gateway_token_cache=True)
    assert again.account == {"email": "ada@example.edu", "name": "Ada Lovelace"}
    team.upstream.add_stream(text_chunks("Still signed in."))
    assert again.ask("Signed in?").text == "Still signed in."
    again.sign_out()
    assert again.account is None and team.url not in cache.read_text()

    memory_only = team.signed_in_chat()  # the default: nothing written
    assert memory_only.account is not None and team.url not in cache.read_text()


@pytest.mark.slow
def test_restart_keeps_users_keys_tokens_and_usage(team: Team) -> None:
    key = team.referral_key(uses=2)
    chat = team.signed_in_chat(key=key)
    team.upstream.add_stream(text_chunks("Before.", usage=(10, 5)))
    chat.ask("Before the restart?")

    team.restart()

    assert chat.usage.used == 15  # the same token still works and usage was kept
    team.upstream.add_stream(text_chunks("After.", usage=(10, 5)))
    assert chat.ask("After the restart?").text == "After."
    assert chat.usage.used == 30
    team.provider.user.sub, team.provider.user.email = "1002", "bob@example.edu"
    team.signed_in_chat(key=key)  # the key's second use
    team.provider.user.sub, team.provider.user.email = "1003", "eve@example.edu"
    sign_in = team.chat().sign_in()
    page = team.browser().sign_in(sign_in.url, referral_key=key)
    assert "not valid or has been used up" in page.text  # no third use
    users = team.admin("users")
    assert "ada@example.edu" in users and "bob@example.edu" in users and "eve@" not in users


def test_sign_in_times_out_and_a_code_works_once(team: Team) -> None:
    chat = team.chat()
    first = chat.sign_in()
    assert first.wait(timeout=0.3) is False
    team.browser().sign_in(first.url, referral_key=team.referral_key())
    assert first.wait(timeout=10) is True
    page = team.browser().open(first.url)
    assert page.status_code == 400 and "already used or has expired" in page.text


def _reachable_strings_containing(root: object, needle: str, limit: int = 300_000) -> list[str]:
    """Strings reachable from ``root`` through instance state and containers (not modules)."""
    import gc
    import types

    skip = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType, types.FrameType,
            types.CodeType)
    seen: set[int] = set()
    found: list[str] = []
    # Each entry carries the chain of types that led to it, so a failure says where.
    stack: list[tuple[object, tuple[str, ...]]] = [(root, ())]
    while stack and len(seen) < limit:
        item, path = stack.pop()
        if id(item) in seen or isinstance(item, skip):
            continue
        seen.add(id(item))
        if isinstance(item, str):
            if needle in item:
                found.append(f"{item[:80]!r} via {' > '.join(path)}")
            continue
        if isinstance(item, (bytes, bytearray)):
            if needle.encode() in item:
                found.append(f"{item[:80]!r} via {' > '.join(path)}")
            continue
        below = (*path, type(item).__name__)
        stack.extend((child, below) for child in gc.get_referents(item))
    return found

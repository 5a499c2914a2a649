"""Privacy mode and the prompt budget as settings: defaults, environment, clear refusals."""

from __future__ import annotations

import pytest

from chatdf import ChatDF
from chatdf.errors import ConfigError
from chatdf.settings import MIN_PROMPT_BUDGET_TOKENS, load_settings


def test_defaults_are_full_privacy_and_a_16000_token_budget() -> None:
    settings = load_settings()
    assert settings.privacy == "full"
    assert settings.prompt_budget_tokens == 16_000


def test_the_environment_and_keywords_set_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATDF_PRIVACY", "Schema")
    monkeypatch.setenv("CHATDF_PROMPT_BUDGET_TOKENS", "8000")
    settings = load_settings()
    assert (settings.privacy, settings.prompt_budget_tokens) == ("schema", 8000)
    assert load_settings(privacy="full").privacy == "full"  # the keyword wins
    chat = ChatDF(privacy="schema", workers=1)
    try:
        assert chat.settings.privacy == "schema"
        assert chat._session.controller.schema_only
        assert chat._privacy == "schema"  # synced: the header shows the badge
    finally:
        chat.close()


@pytest.mark.parametrize("value", ["strict", "none", "", 1])
def test_an_unknown_privacy_mode_lists_the_valid_ones(value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(privacy=value)
    message = caught.value.message
    assert "CHATDF_PRIVACY" in message and "valid values: full, schema" in message


def test_an_unknown_privacy_mode_in_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATDF_PRIVACY", "off")
    with pytest.raises(ConfigError, match="unknown privacy mode 'off'; valid values: full, schema"):
        ChatDF(workers=1)


@pytest.mark.parametrize("value", [0, 100, MIN_PROMPT_BUDGET_TOKENS - 1, "lots"])
def test_a_budget_too_small_says_the_minimum(value: object) -> None:
    with pytest.raises(ConfigError, match="CHATDF_PROMPT_BUDGET_TOKENS") as caught:
        load_settings(prompt_budget_tokens=value)
    if value != "lots":
        assert f"at least {MIN_PROMPT_BUDGET_TOKENS}" in caught.value.message

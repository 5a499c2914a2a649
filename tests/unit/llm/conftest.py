"""Fixtures for the Gemini layer: the fake server, settings pointing at it, a client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chatdf.llm.client import GeminiClient, RetryPolicy
from chatdf.settings import Settings
from tests.fake_gemini import TEST_API_KEY as SECRET
from tests.fake_gemini import FakeGemini

FAST_RETRY = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.05)


@pytest.fixture
def settings(fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "CHATDF_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI"):
        monkeypatch.delenv(name, raising=False)
    return Settings(api_key=SECRET, gemini_base_url=fake_gemini.url, _env_file=None)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[GeminiClient]:
    gemini = GeminiClient(settings, timeout=5.0, retry=FAST_RETRY)
    yield gemini
    await gemini.aclose()

"""Fixtures: a real ChatDF (workers, SQLite file, fake Gemini) and a browser stand-in."""

from __future__ import annotations

from collections.abc import Iterator

import comm
import pytest
from _widget_helpers import Browser, RecordingComm  # type: ignore[import-not-found]

from chatdf import ChatDF
from tests.fake_gemini import TEST_API_KEY, FakeGemini


@pytest.fixture(autouse=True)
def _recording_comm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comm, "create_comm", RecordingComm)


@pytest.fixture
def chat(fake_gemini: FakeGemini, tmp_path) -> Iterator[ChatDF]:
    chat = ChatDF(
        api_key=TEST_API_KEY,
        gemini_base_url=fake_gemini.url,
        workers=1,
        db_path=str(tmp_path / "history.db"),
        allow_private_urls=True,
    )
    yield chat
    chat.close()


@pytest.fixture
def browser(chat: ChatDF) -> Browser:
    return Browser(chat)

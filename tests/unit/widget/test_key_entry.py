"""A key pasted into the widget: used for this kernel session, kept nowhere else."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from _widget_helpers import Browser  # type: ignore[import-not-found]

from chatdf import ChatDF
from tests.fake_gemini import FakeGemini, text_chunks

PASTED = "pasted-key-7f3b9c2e1d"  # not shaped like a real key, so secret scanners stay quiet


@pytest.fixture
def keyless(fake_gemini: FakeGemini, tmp_path: Path):
    chat = ChatDF(
        gemini_base_url=fake_gemini.url, workers=1, db_path=str(tmp_path / "history.db"), theme="light"
    )
    yield chat
    chat.close()


def test_a_pasted_key_is_used_and_kept_only_in_memory(
    keyless: ChatDF, fake_gemini: FakeGemini, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    browser = Browser(keyless)
    assert keyless.get_state()["_has_key"] is False
    fake_gemini.api_key = PASTED  # the fake accepts only this key
    fake_gemini.add_stream(text_chunks("Hello from Gemini.", n=2))

    with caplog.at_level(logging.DEBUG):
        assert browser.result("set_key", key=f"  {PASTED}\n") == {}
        assert keyless.get_state()["_has_key"] is True
        answer = keyless.ask("Say hello")

    assert answer.text == "Hello from Gemini."
    # Nowhere but memory: not in synced state (what a notebook saves), the DB, logs or replies.
    assert PASTED not in json.dumps(keyless.get_state(), default=str)
    assert PASTED not in repr(keyless) and PASTED not in repr(keyless.settings)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert PASTED.encode() not in path.read_bytes(), f"the key was written to {path}"
    assert PASTED not in caplog.text
    assert PASTED not in json.dumps([c for c, _ in browser.comm.custom()], default=str)


def test_a_bad_paste_is_refused_without_echoing_it(keyless: ChatDF, caplog: pytest.LogCaptureFixture):
    browser = Browser(keyless)
    with caplog.at_level(logging.DEBUG):
        error = browser.error("set_key", key="not a key with spaces")
        empty = browser.error("set_key", key="   ")
    assert error["error_type"] == "ConfigError"
    assert "does not look like a Gemini API key" in error["message"]
    assert "not a key" not in error["message"] and "not a key" not in caplog.text
    assert empty["message"].startswith("Paste a Gemini API key first")
    assert keyless.get_state()["_has_key"] is False


def test_team_mode_refuses_a_pasted_key(fake_gemini: FakeGemini, tmp_path: Path):
    chat = ChatDF(gateway_url="http://127.0.0.1:9", workers=1, db_path=str(tmp_path / "h.db"))
    try:
        error = Browser(chat).error("set_key", key=PASTED)
    finally:
        chat.close()
    assert error["error_type"] == "ConfigError"
    assert "team gateway" in error["message"] and "sign in with Google" in error["message"]
    assert PASTED not in error["message"]

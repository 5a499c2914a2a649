"""Fixtures for the notebook layer: a real IPython shell with the magics, and a chat.

The shell is IPython's own ``InteractiveShell`` (no kernel); the chat talks to
the fake Gemini server and runs queries in one real worker process.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest
from IPython.core.interactiveshell import InteractiveShell

from chatdf import ChatDF
from chatdf.magics import load_ipython_extension, unload_ipython_extension
from tests.fake_gemini import TEST_API_KEY, FakeGemini


@pytest.fixture
def gemini_env(fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> FakeGemini:
    """Environment that makes a plain ``ChatDF()`` talk to the fake with one worker."""
    monkeypatch.setenv("GEMINI_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("CHATDF_GEMINI_BASE_URL", fake_gemini.url)
    monkeypatch.setenv("CHATDF_WORKERS", "1")
    return fake_gemini


@pytest.fixture
def shell(gemini_env: FakeGemini) -> Iterator[InteractiveShell]:
    """IPython with ``%load_ext chatdf`` done; the default chat is closed afterwards."""
    ip = InteractiveShell.instance()
    load_ipython_extension(ip)
    before = set(ip.user_ns)
    yield ip
    unload_ipython_extension(ip)
    for name in set(ip.user_ns) - before:
        del ip.user_ns[name]
    ip.config.pop("ChatDFMagics", None)  # %config settings would outlive the test


@pytest.fixture
def chat(gemini_env: FakeGemini) -> Iterator[ChatDF]:
    chat = ChatDF(workers=1)
    yield chat
    chat.close()


@pytest.fixture
def cities() -> pl.DataFrame:
    return pl.DataFrame(
        {"city": ["Oslo", "Lima", "Pune", "Kyiv", "Baku"], "price": [10.5, 3.25, 7.0, 1.75, 12.0]}
    )

"""Helpers shared by the notebook tests (imported by name: the test folders are not packages)."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

import chatdf
from chatdf import ChatDF
from chatdf.magics import ChatDFMagics

WIRED = all(hasattr(ChatDF, name) for name in ("export", "code", "add_variable")) and hasattr(
    chatdf, "load_ipython_extension"
)
"""ChatDF has the notebook methods the magics call, and ``chatdf`` the extension entry point."""

needs_wiring = pytest.mark.skipif(
    not WIRED,
    reason="ChatDF.export/code/add_variable and chatdf.load_ipython_extension are not wired yet",
)


def magics(ip: InteractiveShell) -> ChatDFMagics:
    """The registered ChatDFMagics instance of ``ip``."""
    found = ip.magics_manager.registry["ChatDFMagics"]
    assert isinstance(found, ChatDFMagics)
    return found


def markdown_texts(outputs: list[Any]) -> list[str]:
    """The text/markdown payloads of captured display outputs, in order."""
    return [o.data["text/markdown"] for o in outputs if "text/markdown" in o.data]

"""Helpers shared by the notebook tests (imported by name: the test folders are not packages)."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from chatdf import ChatDF
from chatdf.magics import ChatDFMagics

WIRED = all(hasattr(ChatDF, name) for name in ("export", "code", "add_variable"))
"""ChatDF has the notebook methods (export, code, add_variable) the magics call."""

needs_wiring = pytest.mark.skipif(
    not WIRED, reason="ChatDF.export/code/add_variable are not wired into widget.py yet"
)


def magics(ip: InteractiveShell) -> ChatDFMagics:
    """The registered ChatDFMagics instance of ``ip``."""
    found = ip.magics_manager.registry["ChatDFMagics"]
    assert isinstance(found, ChatDFMagics)
    return found


def markdown_texts(outputs: list[Any]) -> list[str]:
    """The text/markdown payloads of captured display outputs, in order."""
    return [o.data["text/markdown"] for o in outputs if "text/markdown" in o.data]

"""A Gemini key pasted into the widget, for this kernel session only.

The key goes straight into the running :class:`~chatdf.llm.client.GeminiClient`
(process memory). It is never put in a synced trait (so never in the notebook
or the widget state), never stored in the history database, never logged and
never echoed in an error. A restarted kernel has no key again, on purpose.

Team mode (a chatdf gateway) holds no Gemini key at all, so pasting one there
is refused with a :class:`~chatdf.errors.ConfigError` that says to sign in.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import SecretStr

from .errors import ConfigError

if TYPE_CHECKING:
    from .session import Session

GET_KEY_URL = "https://aistudio.google.com/apikey"
"""Where a person gets a Gemini API key (the widget links to it)."""
MAX_KEY_CHARS = 256
# Gemini keys are short, printable and without spaces; anything else is a paste gone wrong.
_KEY_SHAPE = re.compile(r"[A-Za-z0-9_\-.]+")


def check_key_text(key: str) -> str:
    """The pasted key without surrounding spaces; a ConfigError that never repeats it."""
    key = key.strip()
    if not key:
        raise ConfigError("Paste a Gemini API key first (get one at " + GET_KEY_URL + ").")
    if len(key) > MAX_KEY_CHARS or not _KEY_SHAPE.fullmatch(key):
        raise ConfigError(
            "That does not look like a Gemini API key: a key is one word of letters, digits, "
            f"'-' and '_'. Copy it again from {GET_KEY_URL}."
        )
    return key


async def use_session_key(session: Session, key: SecretStr) -> None:
    """Make the chat use ``key`` from the next question on, in memory only.

    Raises
    ------
    ConfigError
        In team mode (a gateway is set), or when the text is not a plausible key.
    """
    if session.settings.gateway_url:
        raise ConfigError(
            f"This chat uses the team gateway at {session.settings.gateway_url}, which holds the "
            "Gemini key: sign in with Google instead of pasting a key."
        )
    await session.llm.set_api_key(SecretStr(check_key_text(key.get_secret_value())))

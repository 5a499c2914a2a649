"""A scriptable fake Gemini API server for tests, notebooks and browser tests.

See :mod:`tests.fake_gemini.server` for the script format.
"""

from .server import (
    TEST_API_KEY,
    FakeGemini,
    RecordedRequest,
    function_call,
    text_chunks,
    usage,
    validate_reply,
)

__all__ = [
    "TEST_API_KEY",
    "FakeGemini",
    "RecordedRequest",
    "function_call",
    "text_chunks",
    "usage",
    "validate_reply",
]

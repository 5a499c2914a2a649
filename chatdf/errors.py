"""The one error tree of chatdf.

::

    ChatDFError                 anything chatdf raises on purpose
     ├── ConfigError            a setting is missing or invalid
     ├── DatasetError           a dataset could not be added, renamed, refreshed
     ├── QueryError             a query was refused or failed (see ``error_type``)
     ├── LLMError               Gemini could not answer (see ``kind``)
     └── StoreError             the history database could not be used

Errors from Polars, sqlite, httpx and the Gemini SDK are translated into these
where they enter chatdf, so callers only ever catch this tree. Messages are
short, specific and say what to do; they never contain the API key.
"""

from __future__ import annotations

from typing import Any, Literal

QueryErrorType = Literal[
    "validation", "network", "sql", "timeout", "memory", "busy", "cancelled", "crashed"
]

LLMErrorKind = Literal[
    "missing_key",
    "invalid_key",
    "sign_in_required",
    "rate_limit",
    "server",
    "safety",
    "empty",
    "network",
    "context",
    "usage_limit",
    "tool_limit",
    "other",
]


class ChatDFError(Exception):
    """Base class of every error chatdf raises on purpose."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_payload(self) -> dict[str, Any]:
        """A JSON-safe description for the widget and for the model."""
        return {"error_type": type(self).__name__, "message": self.message, "details": self.details}


class ConfigError(ChatDFError):
    """A setting is missing or has an invalid value."""


class DatasetError(ChatDFError):
    """A dataset could not be loaded, named or refreshed."""


class QueryError(ChatDFError):
    """A query was refused by the guard or failed in a worker.

    ``error_type`` is one of validation, network, sql, timeout, memory, busy,
    cancelled or crashed.
    """

    def __init__(
        self,
        message: str,
        error_type: QueryErrorType,
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.error_type: QueryErrorType = error_type

    def to_payload(self) -> dict[str, Any]:
        return {"error_type": self.error_type, "message": self.message, "details": self.details}


class LLMError(ChatDFError):
    """Gemini could not produce an answer; ``kind`` says why."""

    def __init__(
        self,
        message: str,
        kind: LLMErrorKind = "other",
        *,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.kind: LLMErrorKind = kind
        self.retry_after = retry_after

    def to_payload(self) -> dict[str, Any]:
        return {
            "error_type": self.kind,
            "message": self.message,
            "details": {**self.details, "retry_after": self.retry_after},
        }


class StoreError(ChatDFError):
    """The history database could not be opened or written."""

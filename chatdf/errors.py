"""The one error tree of chatdf.

::

    ChatDFError                 anything chatdf raises on purpose
     ├── ConfigError            a setting is missing, unknown or invalid (also a TypeError)
     ├── DatasetError           a dataset could not be added, renamed, refreshed
     ├── QueryError             a query was refused or failed (see ``error_type``)
     ├── LLMError               Gemini could not answer (see ``kind``)
     ├── ExportError            a result could not be bound to a notebook variable
     ├── ChartError             a chart spec was refused or its data could not be made
     ├── StoreError             the history database could not be used
     └── SessionClosedError     the ChatDF was closed; make a new one

    StoreWarning                (a UserWarning) the history had to move or live in memory

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


class ConfigError(ChatDFError, TypeError):
    """A setting is missing, unknown or has an invalid value.

    Also a ``TypeError``, which is what Python raises for an unknown keyword
    argument, so callers that caught that keep working.
    """


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


class ExportError(ChatDFError):
    """A result could not be put into the notebook under the name asked for.

    ``details["reason"]`` is ``invalid_name``, ``not_normalized``, ``keyword``,
    ``private``, ``builtin`` or ``exists`` (the name holds a value to keep).
    """


class ChartError(ChatDFError):
    """A Vega-Lite chart spec was refused, or the chart's data could not be made.

    The message says what is wrong in words the model (or the user) can act on:
    the unknown field and the result's columns, the bad mark and the valid marks.
    ``details["reason"]`` is one of ``invalid_spec``, ``unknown_field``, ``unsafe``,
    ``data_in_spec``, ``too_many_rows``, ``unsupported``, ``no_result`` or ``unavailable``
    (the charts extra is not installed).
    """


class StoreError(ChatDFError):
    """The history database could not be opened or written."""


CLOSED_MESSAGE = "This chatdf session is closed; create a new ChatDF."


class SessionClosedError(ChatDFError):
    """A call on a ChatDF (or its session) after ``close()``."""

    def __init__(self, message: str = CLOSED_MESSAGE) -> None:
        super().__init__(message, details={"reason": "session_closed"})


class StoreWarning(UserWarning):
    """The history database had to be replaced or could not be used."""

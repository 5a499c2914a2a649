"""Privacy mode: what of the user's data the model may see.

``full`` (the default) sends result rows, sample values and the values of
low-cardinality text columns, which is what makes answers precise. ``schema``
sends none of that: the model sees table and column names, types and shapes
(row and column counts), writes SQL, and the person reads the numbers in the
grid. Every place that builds something for the model asks this module what
it may include; :func:`redact_contents` is the last check on every request.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # settings import this module; `import chatdf` must not load the SDK
    from google.genai import types

__all__ = [
    "HIDDEN_ANSWER",
    "PRIVACY_MODES",
    "SCHEMA_ONLY_PROMPT",
    "PrivacyMode",
    "redact_contents",
    "schema_only",
    "scrub_message",
]

PrivacyMode = Literal["full", "schema"]
PRIVACY_MODES: tuple[PrivacyMode, ...] = ("full", "schema")

SCHEMA_ONLY_PROMPT = """\
## Privacy mode: schema only
The user turned on privacy mode: you never see cell values. Tool results give you only \
column names, types and row counts, never rows, samples or category values. Write the SQL \
that answers the question and run it; the user sees its result in the table under your \
answer. Do not state numbers or values you have not seen: say which columns of the result \
table hold the answer (e.g. "the total is in the total_sales column of the table below"). \
Filter values must come from the user's question, not from the data."""

# Keys of tool responses that carry cell values (rows, samples, min/max, category values).
_VALUE_KEYS = frozenset({"rows", "samples", "values", "min", "max", "top_values"})
# Quoted text in an error message: Polars quotes the values it failed on.
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|`[^`\n]*`")
# Polars type names it quotes in messages (`str`, `i64`, `datetime[μs]`): not data.
_DTYPE = re.compile(
    r"^(str|bool|date|time|null|binary|cat|enum|object|[iuf](8|16|32|64|128)"
    r"|(datetime|duration|decimal|list|array|struct)\[.*\])$"
)
_VALUE_LIST = re.compile(r"(values?|e\.g\.|example[s]?)\s*:\s*\[.*?\]", re.IGNORECASE | re.DOTALL)


def schema_only(privacy: str) -> bool:
    """Whether no cell value may reach the model."""
    return privacy == "schema"


def scrub_message(message: str, known: str = "") -> str:
    """An error message without the data values it may quote.

    Quoted text that also appears in ``known`` (the SQL the model wrote, the
    table and column names) stays: the model wrote or was told it already.
    """
    message = _VALUE_LIST.sub(lambda m: f"{m.group(1)}: […]", message)

    def keep_or_hide(match: re.Match[str]) -> str:
        inner = match.group(0)[1:-1]
        if not inner or inner in known or _DTYPE.match(inner):
            return match.group(0)
        return "'…'"

    return _QUOTED.sub(keep_or_hide, message)


HIDDEN_ANSWER = "(An answer from before privacy mode was turned on; not shown to you.)"


def redact_contents(contents: list[types.Content]) -> list[types.Content]:
    """One earlier turn's ``contents`` with every value-bearing field of its tool responses removed.

    Earlier turns may have run in ``full`` mode (a restored conversation): their
    rows, samples and error values must not ride along once privacy mode is on.
    A turn whose tool results carried values had its answer written from them,
    so its answer text is replaced too; the questions and the SQL stay.
    """
    saw_values = any(
        _has_values(part.function_response.response)
        for content in contents
        for part in content.parts or []
        if part.function_response is not None and part.function_response.response
    )
    redacted = []
    for content in contents:
        parts = []
        for part in content.parts or []:
            response = part.function_response
            if response is not None and response.response:
                part = part.model_copy(deep=True)
                assert part.function_response is not None
                part.function_response.response = _without_values(response.response)
            elif saw_values and content.role == "model" and part.text:
                part = part.model_copy(update={"text": HIDDEN_ANSWER})
            parts.append(part)
        redacted.append(content.model_copy(update={"parts": parts}))
    return redacted


def _has_values(value: Any) -> bool:
    if isinstance(value, dict):
        return any(k in _VALUE_KEYS or _has_values(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_values(v) for v in value)
    return False


def _without_values(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: scrub_message(v) if k == "message" and isinstance(v, str) else _without_values(v)
            for k, v in value.items()
            if k not in _VALUE_KEYS
        }
    if isinstance(value, list):
        return [_without_values(v) for v in value]
    return value

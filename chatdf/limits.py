"""Limits the kernel and the browser share, defined once.

The kernel enforces them (the controller, the request schemas in
:mod:`chatdf.messages`, the SQL guard, dataset names); the widget sends
:func:`for_browser` in its synced ``_limits`` trait so the front end caps inputs
and pages with the same numbers instead of repeating them.
"""

from __future__ import annotations

from typing import Any

from .errors import ChatDFError

MAX_QUESTION_CHARS = 2000
"""Longest question, after trimming."""
MAX_SQL_CHARS = 100_000
"""Longer SQL texts are refused before parsing (no model or person writes these)."""
MAX_NAME_LENGTH = 63
"""Longest dataset (table) name."""
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
"""A dataset name is a plain SQL identifier (reserved words are refused too)."""
PAGE_ROWS = 50
"""Rows of a result the grid shows, and asks for, per page."""
MAX_PAGE_ROWS = 500
"""Most rows one page request may ask for."""


def check_question(question: Any) -> str:
    """The question, trimmed; a ChatDFError when it is empty or too long."""
    if not isinstance(question, str) or not question.strip():
        raise ChatDFError("Ask a question: the text is empty.")
    question = question.strip()
    if len(question) > MAX_QUESTION_CHARS:
        raise ChatDFError(
            f"Questions are limited to {MAX_QUESTION_CHARS:,} characters "
            f"(this one has {len(question):,})."
        )
    return question


def for_browser() -> dict[str, Any]:
    """The value of the widget's ``_limits`` trait (``Limits`` in ``js/src/model.ts``)."""
    return {
        "question_chars": MAX_QUESTION_CHARS,
        "sql_chars": MAX_SQL_CHARS,
        "name_chars": MAX_NAME_LENGTH,
        "name_pattern": NAME_PATTERN,
        "page_rows": PAGE_ROWS,
        "max_page_rows": MAX_PAGE_ROWS,
    }

"""The store's typed records: what callers write and read back (pydantic, no sqlite)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from ..models import ColumnInfo, Dataset, SourceKind

TITLE_WIDTH = 60
"""Longest automatic title, ellipsis included."""
MAX_PREVIEW_ROWS = 10
MAX_PREVIEW_COLUMNS = 50
MAX_PREVIEW_CELL = 200
MAX_PREVIEW_BYTES = 8 * 1024
"""A result preview is what the history shows before a query is re-run, not the data."""
Role = Literal["user", "assistant", "tool"]
MessageStatus = Literal["complete", "stopped", "error"]


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def _epoch(now: datetime | float | None, clock: Callable[[], float]) -> float:
    if now is None:
        return clock()
    return now.timestamp() if isinstance(now, datetime) else float(now)


def make_title(text: str, width: int = TITLE_WIDTH) -> str | None:
    """A conversation title from a question: one line, at most ``width`` characters.

    Long questions are cut at a word boundary when one is near and end with an
    ellipsis; blank text gives None (the conversation stays untitled).
    """
    line = " ".join(text.split())
    if not line:
        return None
    if len(line) <= width:
        return line
    cut = line[: width - 1]
    space = cut.rfind(" ")
    if space >= width * 2 // 3:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + "…"


def _cell(value: Any, limit: int = MAX_PREVIEW_CELL) -> JsonValue:
    """One preview cell as JSON the browser can parse (no NaN, no huge strings)."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ResultPreview(BaseModel):
    """The first rows of a query result as the history keeps them.

    Capped on construction (rows, columns, cell length, total JSON size) so a
    message row stays small; ``truncated`` tells the UI that more existed.
    ``total_rows`` is the size of the full result when known.
    """

    columns: list[str]
    rows: list[list[JsonValue]] = Field(default_factory=list)
    total_rows: int | None = None
    truncated: bool = False

    @model_validator(mode="after")
    def _cap(self) -> ResultPreview:
        width = min(len(self.columns), MAX_PREVIEW_COLUMNS)
        kept = self.rows[:MAX_PREVIEW_ROWS]
        narrowed = width < len(self.columns)
        self.columns = self.columns[:width]
        # Wide rows of long text get shorter cells rather than no rows at all.
        for cell_limit in (MAX_PREVIEW_CELL, 60, 20):
            rows = [[_cell(v, cell_limit) for v in row[:width]] for row in kept]
            while rows and len(json.dumps([self.columns, rows])) > MAX_PREVIEW_BYTES:
                rows.pop()
            if rows or not kept:
                break
        cut = len(rows) < len(self.rows) or any(
            len(row) > width or any(isinstance(v, str) and len(v) > cell_limit for v in row)
            for row in kept
        )
        self.rows = rows
        self.truncated = self.truncated or cut or narrowed
        return self

    @classmethod
    def from_frame(cls, frame: Any, total_rows: int | None = None) -> ResultPreview:
        """Preview the head of a Polars DataFrame (dates, decimals etc. become text)."""
        head = frame.head(MAX_PREVIEW_ROWS)
        total = frame.height if total_rows is None else total_rows
        return cls(
            columns=list(frame.columns),
            rows=[[_cell(v) for v in row] for row in head.rows()],
            total_rows=total,
            truncated=total > head.height,
        )


class NewMessage(BaseModel):
    """A message to store: one user question, assistant answer or tool round.

    ``tool_payload`` is the JSON the controller needs to replay a tool round to
    the model (function call name and args, function response); the store keeps
    it verbatim. ``status`` is ``stopped`` or ``error`` for turns that did not
    complete, whose partial content is kept. ``id`` may be given by the caller
    (e.g. the id the widget already shows); otherwise a uuid is assigned.
    """

    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str = ""
    sql_query: str | None = None
    result_preview: ResultPreview | None = None
    token_count: int | None = Field(default=None, ge=0)
    status: MessageStatus = "complete"
    tool_payload: JsonValue = None
    id: str | None = None


class MessageRecord(NewMessage):
    """A stored message."""

    id: str
    conversation_id: str
    created_at: datetime
    chart: Any = Field(default=None, exclude=True, repr=False)
    """On an assistant message: its chart as an Altair chart, once the session has
    rebuilt it from ``tool_payload["chart"]`` (the store itself leaves it None)."""


class DatasetRecord(BaseModel):
    """A dataset attached to a conversation, enough to register it again."""

    name: str
    source: str
    kind: SourceKind
    columns: list[ColumnInfo] = Field(default_factory=list)
    row_count: int | None = None
    column_count: int | None = None
    status: str = "ready"
    """``ready`` when it loaded; the caller may store others (e.g. ``error``, ``unavailable``)."""

    @classmethod
    def from_dataset(cls, dataset: Dataset, status: str = "ready") -> DatasetRecord:
        return cls(
            name=dataset.name,
            source=dataset.source,
            kind=dataset.kind,
            columns=list(dataset.columns),
            row_count=dataset.row_count,
            column_count=dataset.column_count,
            status=status,
        )


class ConversationSummary(BaseModel):
    """One line of the history list."""

    id: str
    title: str | None
    """None until the first question names it (or a rename)."""
    created_at: datetime
    updated_at: datetime
    notebook_path: str | None = None
    message_count: int = 0
    question_count: int = 0
    """The person's questions (user messages): what the history list counts."""


class Conversation(ConversationSummary):
    """A conversation with its messages (oldest first) and datasets (as saved)."""

    messages: list[MessageRecord] = Field(default_factory=list)
    datasets: list[DatasetRecord] = Field(default_factory=list)


class UsageRecord(BaseModel):
    """One recorded Gemini call."""

    user_key: str
    conversation_id: str | None
    model_name: str
    input_tokens: int
    output_tokens: int
    cost: float
    timestamp: datetime

"""The widget's wire vocabulary: what the browser may ask, and the state it is shown.

Browser -> kernel requests are ``{id, type, ...params}`` (see ``js/src/rpc.ts``).
Each ``type`` has a pydantic model here; :func:`parse_request` validates a raw
message against them, so the widget never touches unchecked input. A message
that is not a known, well-formed request raises :class:`BadMessage`, which the
widget logs (and answers with an error when the message carried an id).

The chat transcript the widget syncs to the browser is a list of
:class:`ChatMessage` records: text, SQL and a reference to a kept result, never
rows. :func:`fit_transcript` keeps its JSON under a byte budget so the state a
notebook saves stays small however long the conversation gets. Dataset cards
and history items are built here too, so ``widget.py`` only dispatches.

Message ``type`` strings are identical in ``js/src/requests.ts``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    TypeAdapter,
    ValidationError,
)

from .limits import MAX_PAGE_ROWS, MAX_QUESTION_CHARS, MAX_SQL_CHARS, PAGE_ROWS
from .models import Dataset, QueryResult
from .store import ConversationSummary, MessageRecord

__all__ = [
    "BadMessage",
    "ChatMessage",
    "Request",
    "ResultRef",
    "SortSpec",
    "conversation_item",
    "dataset_card",
    "failed_card",
    "fit_transcript",
    "loading_card",
    "parse_request",
    "result_ref",
    "transcript_from",
]

MAX_FILTERS = 32
"""Per-column filters one request may carry."""
MAX_FILTER_CHARS = 1000
MAX_SOURCE_CHARS = 4096
MAX_NAME_CHARS = 256
TRANSCRIPT_BUDGET = 60_000
"""Bytes of transcript JSON kept in synced state; older messages stay in the history store."""
MAX_SYNCED_COLUMNS = 100
"""Columns of one dataset kept on its synced card; the schema dialog asks for the rest."""
MAX_SYNCED_TEXT = 20_000
"""Characters of one message's text kept in synced state (the store keeps all of it)."""

Id = Annotated[str, Field(min_length=1, max_length=64)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]


class BadMessage(ValueError):
    """A browser message that is not a valid request; ``request_id`` when it had one."""

    def __init__(self, reason: str, request_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.request_id = request_id


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    id: Id


# -- chat ---------------------------------------------------------------------------


class Ask(_Request):
    """Ask a question; the answer streams back as ``event`` messages."""

    type: Literal["ask"]
    question: Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS)]


class Stop(_Request):
    """Stop the answer being streamed."""

    type: Literal["stop"]


class Cancel(_Request):
    """The browser gave up on request ``id`` (timeout, closed view)."""

    type: Literal["cancel"]


class Sync(_Request):
    """A view was rendered: refresh history and usage from the store."""

    type: Literal["sync"]


# -- team mode (a chatdf gateway) ---------------------------------------------------


class SignIn(_Request):
    """Start signing in to the gateway; the reply carries the link and the user code."""

    type: Literal["sign_in"]


class SignOut(_Request):
    """Forget this kernel's gateway sign-in."""

    type: Literal["sign_out"]


class SetKey(_Request):
    """A Gemini key pasted into the widget, for this kernel session (see ``key_entry``).

    A ``SecretStr``, so the request's repr and any validation error hide it.
    """

    type: Literal["set_key"]
    key: SecretStr


# -- datasets -----------------------------------------------------------------------


class ColumnStats(_Request):
    """Null counts and sample values of a dataset's columns (the schema dialog)."""

    type: Literal["column_stats"]
    name: Name


class AddDataset(_Request):
    """Register a URL or path; ``card`` is the id of an error card being retried."""

    type: Literal["add_dataset"]
    source: Annotated[str, Field(min_length=1, max_length=MAX_SOURCE_CHARS)]
    name: Name | None = None
    card: Id | None = None


class LoadSample(_Request):
    """Register the iris sample shipped in the package."""

    type: Literal["load_sample"]


class RemoveDataset(_Request):
    """Unregister a dataset, or dismiss a failed card (``name`` is then the card id)."""

    type: Literal["remove_dataset"]
    name: Name


class RenameDataset(_Request):
    type: Literal["rename_dataset"]
    old: Name
    new: Name


class RefreshDataset(_Request):
    type: Literal["refresh_dataset"]
    name: Name


class Schema(_Request):
    """The full column list of a dataset (synced cards carry a capped one)."""

    type: Literal["schema"]
    name: Name


# -- results ------------------------------------------------------------------------


class SortSpec(BaseModel):
    """One sorted column; the kernel sorts the whole result, nulls last."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Any name a query can give a column (SQL text is capped at MAX_SQL_CHARS), "" included.
    column: Annotated[str, Field(max_length=MAX_SQL_CHARS)]
    descending: bool = False


class FilterSpec(BaseModel):
    """One per-column filter; the kernel applies it to the whole result, like a sort."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: Annotated[str, Field(max_length=MAX_SQL_CHARS)]
    op: Literal["contains", "eq", "ne", "gt", "ge", "lt", "le", "is_null", "not_null"]
    value: Annotated[str, Field(max_length=MAX_FILTER_CHARS)] | float | bool | None = None


Filters = Annotated[list[FilterSpec], Field(max_length=MAX_FILTERS)]


class Page(_Request):
    """Rows ``offset`` .. ``offset + limit`` of a kept result, as Arrow IPC in a buffer."""

    type: Literal["page"]
    result_id: Id
    offset: Annotated[int, Field(ge=0)] = 0
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE_ROWS)] = PAGE_ROWS
    sort: SortSpec | None = None
    filters: Filters = []


class Summary(_Request):
    """A column's summary over the whole (filtered) result: nulls, distinct, min/max,
    histogram or top values."""

    type: Literal["summary"]
    result_id: Id
    column: Annotated[str, Field(max_length=MAX_SQL_CHARS)]
    filters: Filters = []


class CopyAll(_Request):
    """The whole result as the grid shows it, as tab-separated text (up to
    ``CHATDF_COPY_MAX_ROWS`` rows; the reply says when it was cut)."""

    type: Literal["copy_all"]
    result_id: Id
    sort: SortSpec | None = None
    filters: Filters = []


class Download(_Request):
    """One chunk (from byte ``offset``) of the result as a CSV or parquet file; the
    browser asks again from the next offset until the reply says ``done``."""

    type: Literal["download"]
    result_id: Id
    format: Literal["csv", "parquet"]
    offset: Annotated[int, Field(ge=0)] = 0
    sort: SortSpec | None = None
    filters: Filters = []


class Code(_Request):
    """The Polars code that recreates a kept result without chatdf (``chat.code``)."""

    type: Literal["code"]
    result_id: Id


class Chart(_Request):
    """A kept chart, to draw: its whole Vega-Lite spec (data included) as UTF-8 JSON
    in one buffer. Charts carry at most ``CHATDF_CHART_MAX_ROWS`` rows; the data
    never enters synced state."""

    type: Literal["chart"]
    chart_id: Id


class DrawChart(_Request):
    """The user's own chart of a kept result ("Chart this", or a spec edited in the
    widget): checked and bound in the kernel exactly as the model's, no model call.
    Answered like ``chart``; the spec's size is checked by :func:`chatdf.charts.check_spec`."""

    type: Literal["draw_chart"]
    result_id: Id
    spec: dict[str, Any]
    message_id: Id | None = None
    """The answer the chart is drawn under: it becomes that answer's saved chart."""


class SetAnswerChart(_Request):
    """Give the answer ``message_id`` a kept chart back (``chart_id``), or none: closing
    "Chart this" restores the chart the answer had before, in view and in its saved copy."""

    type: Literal["set_answer_chart"]
    message_id: Id
    chart_id: Id | None = None


class RunSql(_Request):
    """Run (edited) SQL through the read-only guard; ``message_id`` gets the new result."""

    type: Literal["run_sql"]
    sql: Annotated[str, Field(min_length=1, max_length=MAX_SQL_CHARS)]
    message_id: Id | None = None


class Export(_Request):
    """Put a kept result into the notebook as a variable called ``name``.

    Without ``overwrite`` an existing variable is not replaced: the reply is an
    error with ``details.reason == "exists"`` and the browser asks first.
    """

    type: Literal["export"]
    name: Name
    result_id: Id
    overwrite: StrictBool = False


# -- history ------------------------------------------------------------------------


class NewChat(_Request):
    type: Literal["new_chat"]


class OpenConversation(_Request):
    type: Literal["open_conversation"]
    conversation_id: Id


class RenameConversation(_Request):
    type: Literal["rename_conversation"]
    conversation_id: Id
    title: Annotated[str, Field(min_length=1, max_length=200)]


class DeleteConversation(_Request):
    type: Literal["delete_conversation"]
    conversation_id: Id


class ClearHistory(_Request):
    type: Literal["clear_history"]


Request = Annotated[
    Ask
    | Stop
    | Cancel
    | Sync
    | SignIn
    | SignOut
    | SetKey
    | AddDataset
    | LoadSample
    | RemoveDataset
    | RenameDataset
    | RefreshDataset
    | Schema
    | ColumnStats
    | Page
    | Summary
    | CopyAll
    | Download
    | Code
    | Chart
    | DrawChart
    | SetAnswerChart
    | RunSql
    | Export
    | NewChat
    | OpenConversation
    | RenameConversation
    | DeleteConversation
    | ClearHistory,
    Field(discriminator="type"),
]

_REQUEST: TypeAdapter[Request] = TypeAdapter(Request)


def parse_request(content: Any) -> Request:
    """Validate one browser message.

    Raises
    ------
    BadMessage
        Not an object, an unknown ``type``, or invalid parameters; the reason
        names the first problem and ``request_id`` is set when the message had
        a usable id (so the browser can be told instead of waiting).
    """
    if not isinstance(content, dict):
        raise BadMessage(f"expected an object, got {type(content).__name__}")
    raw_id = content.get("id")
    request_id = raw_id if isinstance(raw_id, str) and 0 < len(raw_id) <= 64 else None
    try:
        return _REQUEST.validate_python(content)
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] == "union_tag_invalid":
            # Not the list of every request type: it grows with the widget, and says nothing new.
            tag = content.get("type")
            shown = repr(tag)[:60] if isinstance(tag, str) else f"a {type(tag).__name__}"
            raise BadMessage(f"type: unknown request type {shown}", request_id) from None
        where = ".".join(str(part) for part in error["loc"]) or "message"
        if len(where) > 80:  # a field name is browser input: never echo a huge one
            where = where[:77] + "..."
        raise BadMessage(f"{where}: {error['msg']}", request_id) from None


# -- the transcript -------------------------------------------------------------------

MessageStatus = Literal["complete", "streaming", "stopped", "error"]


class ResultRef(BaseModel):
    """A kept query result as the transcript refers to it: no rows, no column list."""

    id: str
    sql: str
    total_rows: int | None = None
    column_count: int | None = None


class ChatMessage(BaseModel):
    """One message of the synced transcript."""

    id: str
    role: Literal["user", "assistant"]
    text: str = ""
    status: MessageStatus = "complete"
    sql: list[str] = Field(default_factory=list)
    """Every query the assistant ran for this answer, in order."""
    result: ResultRef | None = None
    """The result shown under the answer (the last successful query's)."""
    chart: dict[str, Any] | None = None
    """The chart drawn for the answer (:meth:`chatdf.charts.ChartRecord.summary`: id,
    title, mark, rows; never its data, which the browser asks for by id)."""
    error: dict[str, Any] | None = None
    """``{error_type, message, details}`` when the turn failed."""
    question: str | None = None
    """On an assistant message: the question it answers (for "Try again")."""


def fit_transcript(messages: list[dict[str, Any]], budget: int = TRANSCRIPT_BUDGET) -> list[dict[str, Any]]:
    """The newest messages whose JSON fits ``budget`` bytes (at least the last two).

    Older messages are not lost: they stay in the history store and come back
    when the conversation is opened from the history list.
    """
    kept: list[dict[str, Any]] = []
    size = 2
    for message in reversed(messages):
        text = message.get("text") or ""
        if len(text) > MAX_SYNCED_TEXT:
            message = {**message, "text": text[:MAX_SYNCED_TEXT] + "\n\n…"}
        size += len(json.dumps(message, ensure_ascii=False).encode()) + 1
        if size > budget and len(kept) >= 2:
            break
        kept.append(message)
    kept.reverse()
    return kept


def result_ref(result: QueryResult) -> dict[str, Any]:
    return ResultRef(
        id=result.id, sql=result.sql, total_rows=result.total_rows, column_count=len(result.columns)
    ).model_dump()


def transcript_from(records: list[MessageRecord]) -> list[dict[str, Any]]:
    """The transcript of a stored conversation: questions and answers, with each
    answer's queries gathered from the tool messages stored before it.

    A result id is kept when the result may still be in the kernel; the grid
    offers to run the SQL again when it is not.
    """
    messages: list[dict[str, Any]] = []
    question: str | None = None
    sql: list[str] = []
    result_id: str | None = None
    for record in records:
        if record.role == "user":
            question, sql, result_id = record.content, [], None
            messages.append(ChatMessage(id=record.id, role="user", text=record.content).model_dump())
        elif record.role == "tool":
            payload = record.tool_payload if isinstance(record.tool_payload, dict) else {}
            if record.sql_query:
                sql.append(record.sql_query)
            found = payload.get("result_id")
            if record.status == "complete" and isinstance(found, str):
                result_id = found
        else:
            payload = record.tool_payload if isinstance(record.tool_payload, dict) else {}
            preview = record.result_preview
            last_sql = record.sql_query or (sql[-1] if sql else None)
            result = None
            if preview is not None and last_sql:
                result = ResultRef(
                    id=result_id or "",
                    sql=last_sql,
                    total_rows=preview.total_rows,
                    column_count=len(preview.columns),
                )
            stored_error = payload.get("error")
            error = stored_error if isinstance(stored_error, dict) else None
            stored = payload.get("chart")
            chart = (
                {k: stored.get(k) for k in ("id", "title", "mark", "rows", "source_rows", "result_id", "reduced")}
                if isinstance(stored, dict)
                else None
            )
            messages.append(
                ChatMessage(
                    id=record.id,
                    role="assistant",
                    text=record.content,
                    status=record.status,
                    sql=sql or ([last_sql] if last_sql else []),
                    result=result,
                    chart=chart,
                    error=error,
                    question=question,
                ).model_dump()
            )
            question, sql, result_id = None, [], None
    return fit_transcript(messages)


def dataset_card(dataset: Dataset) -> dict[str, Any]:
    """A registered dataset as its card shows it (at most ``MAX_SYNCED_COLUMNS`` columns)."""
    card = dataset.model_dump()
    card["columns"] = card["columns"][:MAX_SYNCED_COLUMNS]
    return {"id": dataset.name, "status": "ready", "error": None, **card}


def loading_card(card_id: str, source: str, name: str | None) -> dict[str, Any]:
    return {
        "id": card_id,
        "status": "loading",
        "error": None,
        "name": name or _short(source),
        "source": source,
        "requested_name": name,
        "kind": "url" if "://" in source else "parquet",
        "row_count": None,
        "column_count": None,
        "columns": [],
    }


def failed_card(card: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
    return {**card, "status": "error", "error": error}


def conversation_item(summary: ConversationSummary) -> dict[str, Any]:
    """One line of the synced history list."""
    return {
        "id": summary.id,
        "title": summary.title,
        "updated_at": summary.updated_at.isoformat(),
        "message_count": summary.message_count,
        "question_count": summary.question_count,
    }


def _short(source: str) -> str:
    tail = source.rstrip("/").rsplit("/", 1)[-1]
    return tail.split("?", 1)[0][:80] or source[:80]

"""Finished turns <-> stored messages, so a conversation can be replayed to the model.

Each turn is stored as one user message, one ``tool`` message per tool call
(its SQL, row count or error, for people reading the history) and one
assistant message. The assistant message's ``tool_payload`` keeps every
content the model saw in that turn, function calls and responses included,
which is what a restored conversation sends back, and the chart the model drew
(its spec with its data, see :meth:`chatdf.charts.ChartRecord.for_history`).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from google.genai import types
from pydantic import ValidationError

from .models import Answer, Exchange, QueryResult
from .store import MAX_PREVIEW_ROWS, MessageRecord, NewMessage, ResultPreview

log = logging.getLogger("chatdf.conversation")


def messages_for(
    exchange: Exchange, answer: Answer, result: QueryResult | None, answer_id: str | None = None
) -> list[NewMessage]:
    """The stored messages of one finished (or stopped, or failed) turn; the answer is
    stored under ``answer_id`` (the id the widget shows) when given."""
    status: Literal["complete", "stopped", "error"] = (
        "stopped" if answer.stopped else "error" if answer.error else "complete"
    )
    messages = [NewMessage(role="user", content=exchange.question)]
    for call in exchange.calls:
        messages.append(
            NewMessage(
                role="tool",
                content=call.get("error") or call.get("summary") or "",
                sql_query=call.get("sql"),
                status="error" if call.get("error") else "complete",
                tool_payload={
                    "name": call["name"],
                    "result_id": call.get("result_id"),
                    **({"chart_id": call["chart_id"]} if call.get("chart_id") else {}),
                },
            )
        )
    content = answer.text
    if answer.error and not content:
        content = answer.error["message"]
    messages.append(
        NewMessage(
            id=answer_id,
            role="assistant",
            content=content,
            sql_query=answer.sql[-1] if answer.sql else None,
            result_preview=(
                ResultPreview.from_frame(result.head(MAX_PREVIEW_ROWS), result.total_rows) if result else None
            ),
            token_count=answer.usage.total_tokens,
            status=status,
            tool_payload={
                "contents": [c.model_dump(mode="json", exclude_none=True) for c in exchange.contents],
                "error": answer.error,
                **({"chart": exchange.chart.for_history()} if exchange.chart else {}),
            },
        )
    )
    return messages


def exchanges_from(messages: list[MessageRecord]) -> list[Exchange]:
    """Rebuild the exchanges of a stored conversation (oldest first).

    A turn whose stored contents cannot be read back (an older or damaged
    record) is replayed as plain question and answer text.
    """
    exchanges: list[Exchange] = []
    question: str | None = None
    for message in messages:
        if message.role == "user":
            question = message.content
        elif message.role == "assistant" and question is not None:
            exchanges.append(_exchange(question, message))
            question = None
    return exchanges


def _exchange(question: str, message: MessageRecord) -> Exchange:
    payload: Any = message.tool_payload if isinstance(message.tool_payload, dict) else {}
    try:
        contents = [types.Content.model_validate(c) for c in payload.get("contents") or []]
    except ValidationError:
        log.warning("A stored turn could not be read back; replaying its text only.")
        contents = []
    if not contents:
        contents = [
            types.Content(role="user", parts=[types.Part(text=question)]),
            types.Content(role="model", parts=[types.Part(text=message.content or "(no answer)")]),
        ]
    return Exchange(
        question=question,
        answer=message.content,
        contents=contents,
        stopped=message.status == "stopped",
    )

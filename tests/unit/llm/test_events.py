"""Turn events: typed, JSON round-trippable, told apart by ``type``."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from chatdf.errors import LLMError, QueryError
from chatdf.events import (
    AnswerEvent,
    ErrorEvent,
    ErrorPayload,
    PhaseEvent,
    SlowEvent,
    TokenEvent,
    ToolCallFinished,
    ToolCallStarted,
    UsageEvent,
    parse_event,
)

EVENTS = [
    TokenEvent(text="Hel", turn_id="t1"),
    PhaseEvent(phase="thinking"),
    PhaseEvent(phase="running_query", sql="SELECT 1"),
    SlowEvent(elapsed=31.2),
    ToolCallStarted(call_id="c1", name="execute_sql", args={"query": "SELECT 1"}, sql="SELECT 1"),
    ToolCallFinished(
        call_id="c1", name="execute_sql", sql="SELECT 1", result_id="r1", total_rows=1
    ),
    ToolCallFinished(
        call_id="c2",
        name="execute_sql",
        sql="SELEC 1",
        error=ErrorPayload.from_error(QueryError("syntax error", "sql")),
    ),
    UsageEvent(input_tokens=120, output_tokens=30, model="gemini-2.5-flash"),
    AnswerEvent(text="**42**", sql=["SELECT 1"], result_id="r1"),
    AnswerEvent(text="partial", stopped=True),
    ErrorEvent(error=ErrorPayload.from_error(LLMError("slow down", "rate_limit", retry_after=7))),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.type)
def test_round_trip_through_json(event: object) -> None:
    data = event.model_dump(mode="json")
    again = parse_event(json.dumps(data))
    assert type(again) is type(event)
    assert again == event
    assert parse_event(data) == event


def test_type_strings_are_the_contract_with_the_widget() -> None:
    assert sorted({e.type for e in EVENTS}) == sorted(
        [
            "token",
            "phase",
            "slow",
            "tool_call_started",
            "tool_call_finished",
            "usage",
            "answer",
            "error",
        ]
    )


def test_error_payload_keeps_kind_and_retry_hint() -> None:
    payload = ErrorPayload.from_error(LLMError("slow down", "rate_limit", retry_after=7))
    assert payload.error_type == "rate_limit"
    assert payload.details["retry_after"] == 7


def test_bad_events_are_rejected() -> None:
    with pytest.raises(ValidationError):
        parse_event({"type": "tokn", "text": "x"})
    with pytest.raises(ValidationError):
        PhaseEvent(phase="sleeping")
    with pytest.raises(ValidationError):
        TokenEvent(text="x").text = "y"  # events are frozen

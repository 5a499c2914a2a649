"""Typed events of one chat turn, from the controller to the widget and tests.

Every event is a pydantic model with a ``type`` literal; the strings are the
same in Python and TypeScript. A turn emits, in order::

    PhaseEvent(thinking)
    TokenEvent* ...                          text as it streams
    PhaseEvent(running_query, sql)           for each tool call
      ToolCallStarted -> ToolCallFinished
    PhaseEvent(preparing_response)
    TokenEvent* ...
    SlowEvent                                once, if the turn passes 30 s
    UsageEvent                               tokens of the whole turn
    UsageWarningEvent                        if the 24-hour usage passed 80%
    AnswerEvent                              always last (ErrorEvent before it on failure)

``Event`` is the discriminated union; ``parse_event`` rebuilds one from its
JSON form (``event.model_dump(mode="json")``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .errors import ChatDFError

Phase = Literal["thinking", "running_query", "preparing_response"]

__all__ = [
    "AnswerEvent",
    "ErrorEvent",
    "ErrorPayload",
    "Event",
    "Phase",
    "PhaseEvent",
    "SlowEvent",
    "TokenEvent",
    "ToolCallFinished",
    "ToolCallStarted",
    "UsageEvent",
    "UsageWarningEvent",
    "parse_event",
]


class ErrorPayload(BaseModel):
    """What went wrong, in the form of ``ChatDFError.to_payload()``."""

    model_config = ConfigDict(frozen=True)

    error_type: str
    """``QueryError.error_type``, ``LLMError.kind`` or the error class name."""
    message: str
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_error(cls, error: ChatDFError) -> ErrorPayload:
        return cls.model_validate(error.to_payload())


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    turn_id: str | None = None
    """The turn this event belongs to, so a consumer can tell turns apart."""


class TokenEvent(_Event):
    """A piece of answer text, in arrival order."""

    type: Literal["token"] = "token"
    text: str


class PhaseEvent(_Event):
    """The turn moved to another phase; ``sql`` is set while a query runs."""

    type: Literal["phase"] = "phase"
    phase: Phase
    sql: str | None = None


class SlowEvent(_Event):
    """The turn has been running longer than expected (emitted once)."""

    type: Literal["slow"] = "slow"
    elapsed: float
    """Seconds since the turn started."""
    message: str = "This is taking longer than expected…"


class ToolCallStarted(_Event):
    """The model asked for a tool call and chatdf started it."""

    type: Literal["tool_call_started"] = "tool_call_started"
    call_id: str
    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    sql: str | None = None
    """The query, for ``execute_sql``."""


class ToolCallFinished(_Event):
    """A tool call ended, with a result or an error."""

    type: Literal["tool_call_finished"] = "tool_call_finished"
    call_id: str
    name: str
    sql: str | None = None
    result_id: str | None = None
    """Id of the kept ``QueryResult`` (the widget pages it by this id)."""
    total_rows: int | None = None
    chart_id: str | None = None
    """Id of the chart a ``create_chart`` call made (the widget asks for it by this id)."""
    error: ErrorPayload | None = None
    elapsed_ms: float | None = None


class UsageEvent(_Event):
    """Tokens the turn used, from Gemini's ``usageMetadata``."""

    type: Literal["usage"] = "usage"
    input_tokens: int
    output_tokens: int
    model: str


class UsageWarningEvent(_Event):
    """Usage in the rolling 24-hour window reached 80% of the limit."""

    type: Literal["usage_warning"] = "usage_warning"
    usage_percent: float
    remaining_tokens: int
    resets_in_seconds: int


class AnswerEvent(_Event):
    """The turn is over; always the last event of a turn."""

    type: Literal["answer"] = "answer"
    text: str
    """The answer in markdown (partial if stopped or failed)."""
    sql: list[str] = Field(default_factory=list)
    """Queries run, in order."""
    result_id: str | None = None
    """The last successful result."""
    chart_id: str | None = None
    """The last chart drawn (the answer's ``chart``)."""
    stopped: bool = False
    error: ErrorPayload | None = None


class ErrorEvent(_Event):
    """The turn failed; an AnswerEvent with the same error follows."""

    type: Literal["error"] = "error"
    error: ErrorPayload


Event = Annotated[
    TokenEvent
    | PhaseEvent
    | SlowEvent
    | ToolCallStarted
    | ToolCallFinished
    | UsageEvent
    | UsageWarningEvent
    | AnswerEvent
    | ErrorEvent,
    Field(discriminator="type"),
]

_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: dict[str, Any] | str | bytes) -> Event:
    """An event from its JSON form (a dict or a JSON string)."""
    if isinstance(data, (str, bytes)):
        return _EVENT_ADAPTER.validate_json(data)
    return _EVENT_ADAPTER.validate_python(data)

"""Sequences one user turn: prompt -> stream -> tool calls -> answer.

The controller is the only place that orders steps. It asks the Gemini
client for a streamed reply, runs each function call the model makes
(``execute_sql`` on the engine, ``load_dataset`` on the registry,
``create_chart`` on the session's charts), sends the
results back and goes on until the model answers in text. It emits typed
events (``chatdf.events``) as it goes and returns an :class:`Answer`.

Bounds that keep a turn from hanging: at most ``max_tool_calls`` calls and
``max_sql_retries`` failed queries or chart specs per turn, then the turn ends with a note
in the answer. A stop (task cancellation) keeps the partial text.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from google.genai import types

from .charts import ChartRecord, Charts, chart_payload
from .datasets import DatasetRegistry
from .engine import Engine
from .errors import ChartError, ChatDFError, LLMError, QueryError
from .events import (
    AnswerEvent,
    ErrorEvent,
    ErrorPayload,
    Event,
    PhaseEvent,
    SlowEvent,
    TokenEvent,
    ToolCallFinished,
    ToolCallStarted,
    UsageEvent,
    UsageWarningEvent,
)
from .limits import MAX_QUESTION_CHARS, check_question  # noqa: F401 - kept importable here
from .llm.client import FunctionCall, GeminiClient, Reply, ReplyBuilder, Usage, estimate_tokens
from .llm.prompts import system_prompt
from .llm.tools import (
    CREATE_CHART,
    DESCRIBE_TABLE,
    MAX_DESCRIBE_COLUMNS,
    chart_arguments,
    dataset_payload,
    describe_arguments,
    describe_payload,
    error_payload,
    function_response_part,
    function_responses_content,
    query_result_payload,
    required_argument,
    schema_only_result_payload,
    tool_declarations,
)
from .models import Answer, Exchange, QueryResult, TokenUsage
from .privacy import redact_contents, schema_only, scrub_message
from .profiles import PROMPT_PROFILE_WAIT, Profiler
from .settings import Settings
from .usage import UsageSummary

# Messages (questions and answers; tool rounds ride along) sent as context.
MAX_CONTEXT_MESSAGES = 50
# Share of the model's context window the request may fill before old turns go.
CONTEXT_FILL = 0.8
# Messages dropped when the API still says the request is too large.
DROP_ON_TOO_LARGE = 10
SLOW_AFTER_SECONDS = 30.0

TOO_LARGE_MESSAGE = "Conversation context too large. Try starting a new conversation."

Emit = Callable[[Event], None]


class Meter(Protocol):
    """Token metering the controller consults; the session implements it over the store."""

    async def check(self) -> None:
        """Raise ``LLMError(kind="usage_limit")`` when no new question may be sent."""

    async def record(self, model: str, usage: TokenUsage) -> UsageSummary | None:
        """Record a turn's tokens; the summary after it (None when not metered)."""


@dataclass
class _Turn:
    """Mutable state of the running turn."""

    id: str
    emit: Emit
    question: str = ""
    categories: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """Values of the low-cardinality text columns, listed in the prompt (full privacy only)."""
    system: tuple[tuple[Any, ...], str] | None = None
    """The datasets the system prompt was built for, and the prompt."""
    text: list[str] = field(default_factory=list)
    sql: list[str] = field(default_factory=list)
    result: QueryResult | None = None
    usage: Usage = field(default_factory=Usage)
    chart: ChartRecord | None = None
    tool_calls: int = 0
    failed_sql: int = 0
    failed_charts: int = 0
    contents: list[types.Content] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def send(self, event: Event) -> None:
        self.emit(event.model_copy(update={"turn_id": self.id}))


class Controller:
    """Runs turns against Gemini with the session's registry and engine.

    Parameters
    ----------
    settings
        Uses ``max_tool_calls`` and ``max_sql_retries``.
    llm, registry, engine
        The session's parts; the controller owns none of them.
    keep
        Called with every successful query result, so the session can page
        and export it later.
    charts
        Makes and keeps the charts ``create_chart`` asks for (none: the tool
        answers that charts are not available).
    meter
        Checked by :meth:`preflight` and told the tokens of every turn.
    slow_after
        Seconds before a still-running turn emits a :class:`SlowEvent`.
    """

    def __init__(
        self,
        settings: Settings,
        llm: GeminiClient,
        registry: DatasetRegistry,
        engine: Engine,
        keep: Callable[[QueryResult], None],
        *,
        charts: Charts | None = None,
        meter: Meter | None = None,
        slow_after: float = SLOW_AFTER_SECONDS,
    ) -> None:
        self.settings = settings
        self.charts = charts
        self.llm = llm
        self.registry = registry
        self.engine = engine
        self.keep = keep
        self.meter = meter
        self.slow_after = slow_after
        self.schema_only = schema_only(settings.privacy)
        self.profiler = Profiler(engine, registry, schema_only=self.schema_only)

    async def preflight(self) -> None:
        """Refuse a question before anything is sent or stored.

        Raises ``LLMError`` of kind ``missing_key`` (no API key) or
        ``usage_limit`` (the 24-hour token limit is reached).
        """
        self.llm.check_key()
        if self.meter is not None:
            await self.meter.check()

    async def run_turn(
        self, question: str, history: Sequence[Exchange], emit: Emit
    ) -> tuple[Answer, Exchange]:
        """Answer ``question`` given earlier exchanges; never raises for model or query failures.

        Call :meth:`preflight` first. A failure ends the turn with ``Answer.error``
        set (and the exception in ``Exchange.error``). A cancellation of the
        running task is a stop: the partial answer is returned with
        ``stopped=True`` (the cancellation is absorbed).
        """
        question = check_question(question)
        turn = _Turn(id=uuid.uuid4().hex[:12], emit=emit, question=question)
        turn.contents.append(types.Content(role="user", parts=[types.Part(text=question)]))
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        slow = loop.call_later(
            self.slow_after, lambda: turn.send(SlowEvent(elapsed=time.monotonic() - started))
        )
        stopped = False
        error: ChatDFError | None = None
        try:
            await self._loop(turn, list(history))
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            stopped = True
        except ChatDFError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # A stop landed and tearing the stream down raised instead of the
                # cancellation (a broken chunked read): the user stopped, nothing failed.
                task.uncancel()
                stopped = True
            else:
                error = exc
        finally:
            slow.cancel()
        return await self._finish(turn, question, stopped, error)

    # -- the tool loop ------------------------------------------------------------

    async def _loop(self, turn: _Turn, history: list[Exchange]) -> None:
        turn.send(PhaseEvent(phase="thinking"))
        # Once per dataset version (cached), in a worker; nothing in privacy mode "schema".
        turn.categories = await self.profiler.categories(
            self.registry.datasets, wait=PROMPT_PROFILE_WAIT
        )
        context = self._context(history, turn)
        shrunk = False
        while True:
            try:
                reply = await self._stream_reply(turn, context)
            except LLMError as exc:
                if exc.kind != "context":
                    raise
                if shrunk or not context:
                    raise LLMError(TOO_LARGE_MESSAGE, "context") from None
                context = context[DROP_ON_TOO_LARGE // 2 :]  # an exchange holds two messages
                shrunk = True
                continue
            turn.contents.append(reply.content)
            if not reply.function_calls:
                return
            responses = [await self._call_tool(turn, call) for call in reply.function_calls]
            turn.contents.append(function_responses_content(responses))
            limit = self._limit_reached(turn)
            if limit:
                note = f"\n\n_{limit}_"
                turn.text.append(note)
                turn.send(TokenEvent(text=note))
                turn.contents.append(types.Content(role="model", parts=[types.Part(text=limit)]))
                return
            turn.send(PhaseEvent(phase="preparing_response"))

    async def _stream_reply(self, turn: _Turn, context: list[Exchange]) -> Reply:
        # A restored conversation may carry rows (and answers from them) of a full-mode session.
        earlier = [
            c
            for exchange in context
            for c in (redact_contents(exchange.contents) if self.schema_only else exchange.contents)
        ]
        contents = earlier + turn.contents
        builder = ReplyBuilder()
        system = self._system(turn)
        try:
            async for chunk in self.llm.stream(contents, system=system, tools=tool_declarations()):
                builder.add(chunk)
                if chunk.text:
                    turn.text.append(chunk.text)
                    turn.send(TokenEvent(text=chunk.text))
        finally:
            # Usage counts even when the stream was stopped or failed part-way.
            if builder.usage is not None:
                turn.usage = turn.usage + builder.usage
        return builder.reply()

    async def _call_tool(self, turn: _Turn, call: FunctionCall) -> types.Part:
        call_id = call.id or uuid.uuid4().hex[:8]
        if turn.tool_calls >= self.settings.max_tool_calls:
            refused = {"error_type": "limit", "message": "Tool call limit reached; not run."}
            return function_response_part(call, refused)
        turn.tool_calls += 1
        sql = call.args.get("query") if call.name == "execute_sql" else None
        sql = sql if isinstance(sql, str) else None
        turn.send(ToolCallStarted(call_id=call_id, name=call.name, args=call.args, sql=sql))
        if sql is not None:
            turn.send(PhaseEvent(phase="running_query", sql=sql))
        started = time.monotonic()
        result: QueryResult | None = None
        chart: ChartRecord | None = None
        try:
            if call.name == "execute_sql":
                query = required_argument(call, "query")
                turn.sql.append(query)
                result = await self.engine.run(
                    query, self.registry.tables(), catalog=self.registry.catalog()
                )
                self.keep(result)
                turn.result = result
                payload = (
                    schema_only_result_payload(result)
                    if self.schema_only
                    else query_result_payload(result)
                )
            elif call.name == "load_dataset":
                url = required_argument(call, "url")
                # The model never reaches loopback or private hosts, even when the user may.
                dataset = await self.registry.add(url, allow_private=False, urls_only=True)
                payload = dataset_payload(dataset)
            elif call.name == CREATE_CHART:
                chart = await self._chart(turn, call)
                payload = chart_payload(chart)
            elif call.name == DESCRIBE_TABLE:
                payload = await self._describe(call)
            else:
                raise QueryError(
                    f"Unknown tool {call.name!r}; use execute_sql, load_dataset, create_chart "
                    "or describe_table.",
                    "validation",
                )
        except ChatDFError as exc:
            turn.calls.append({"name": call.name, "sql": sql, "error": exc.message})
            if call.name == "execute_sql":
                turn.failed_sql += 1
            elif call.name == CREATE_CHART:
                turn.failed_charts += 1
            turn.send(
                ToolCallFinished(
                    call_id=call_id,
                    name=call.name,
                    sql=sql,
                    error=ErrorPayload.from_error(exc),
                    elapsed_ms=_ms_since(started),
                )
            )
            refusal = error_payload(exc)
            if self.schema_only:  # Polars quotes the values a cast failed on
                refusal["message"] = scrub_message(refusal["message"], self._known_text(sql))
            return function_response_part(call, refusal)
        if result:
            summary = f"{result.total_rows:,} rows"
        elif chart:
            summary = f"Chart: {chart.mark or 'chart'} of {chart.rows:,} rows"
        elif call.name == DESCRIBE_TABLE:
            summary = f"Described {payload['name']}"
        else:
            summary = f"Loaded {payload['name']}"
        turn.calls.append(
            {
                "name": call.name,
                "sql": sql,
                "result_id": (result and result.id) or (chart and chart.result_id),
                "summary": summary,
                **({"chart_id": chart.id} if chart else {}),
            }
        )
        turn.send(
            ToolCallFinished(
                call_id=call_id,
                name=call.name,
                sql=sql,
                result_id=result.id if result else None,
                total_rows=result.total_rows if result else None,
                chart_id=chart.id if chart else None,
                elapsed_ms=_ms_since(started),
            )
        )
        return function_response_part(call, payload)

    async def _chart(self, turn: _Turn, call: FunctionCall) -> ChartRecord:
        """Run ``create_chart``: the spec over ``result_id``, else this turn's last result
        (else the session's newest, for "chart that" after an earlier answer)."""
        if self.charts is None:
            raise ChartError("Charts are not available in this session.", details={"reason": "unavailable"})
        spec, result_id, title = chart_arguments(call)
        source: str | QueryResult | None = result_id or turn.result
        chart = await self.charts.create(spec, source, title=title)
        turn.chart = chart
        return chart

    async def _describe(self, call: FunctionCall) -> dict[str, Any]:
        """Run ``describe_table``: profiles computed in a worker, cached per dataset version."""
        name, columns = describe_arguments(call)
        dataset = self.registry.get(name) if name in self.registry else None
        more: list[str] = []
        if columns is None and dataset is not None and dataset.column_count > MAX_DESCRIBE_COLUMNS:
            names = [c.name for c in dataset.columns]
            columns, more = names[:MAX_DESCRIBE_COLUMNS], names[MAX_DESCRIBE_COLUMNS:]
        described, profiles = await self.profiler.describe(name, columns)
        return describe_payload(described, profiles, schema_only=self.schema_only, more=more)

    def _system(self, turn: _Turn | None = None) -> str:
        """The system prompt; built once per turn unless the datasets changed (load_dataset)."""
        datasets = tuple(self.registry.datasets)  # records are replaced, never changed in place
        if turn is not None and turn.system is not None and _same(turn.system[0], datasets):
            return turn.system[1]
        text = system_prompt(
            datasets,
            budget_tokens=self.settings.prompt_budget_tokens,
            categories=turn.categories if turn else None,
            focus=turn.question if turn else "",
            privacy=self.settings.privacy,
            engine=self.settings.engine,
        )
        if turn is not None:
            turn.system = (datasets, text)
        return text

    def _known_text(self, sql: str | None) -> str:
        """What the model already knows: its SQL and the table and column names."""
        names = [
            name for d in self.registry.datasets for name in (d.name, *(c.name for c in d.columns))
        ]
        return "\n".join([sql or "", *names])

    def _limit_reached(self, turn: _Turn) -> str | None:
        failed = turn.failed_sql + turn.failed_charts  # one retry budget for both
        if failed > self.settings.max_sql_retries:
            what = (
                "queries" if not turn.failed_charts
                else "chart specs" if not turn.failed_sql
                else "queries and chart specs"
            )
            return (
                f"I stopped after {failed} failed {what} in this turn. "
                "Try rephrasing the question or check the dataset's columns."
            )
        if turn.tool_calls >= self.settings.max_tool_calls:
            return (
                f"I stopped after {turn.tool_calls} tool calls in this turn without a final "
                "answer. Try a more specific question."
            )
        return None

    # -- context ------------------------------------------------------------------

    def _context(self, history: list[Exchange], turn: _Turn | None = None) -> list[Exchange]:
        """The most recent exchanges that fit the message and token budgets."""
        context = history[-(MAX_CONTEXT_MESSAGES // 2) :]
        budget = int(self.llm.context_window * CONTEXT_FILL)
        system = self._system(turn)
        while context and estimate_tokens(_contents(context), system) > budget:
            context = context[1:]
        return context

    # -- the end of a turn ----------------------------------------------------------

    async def _finish(
        self, turn: _Turn, question: str, stopped: bool, error: ChatDFError | None
    ) -> tuple[Answer, Exchange]:
        text = "".join(turn.text)
        payload = error.to_payload() if error else None
        usage = TokenUsage(
            input_tokens=turn.usage.input_tokens, output_tokens=turn.usage.output_tokens
        )
        if usage.total_tokens:
            turn.send(UsageEvent(**usage.model_dump(), model=self.llm.model))
            await self._record(turn, usage)
        if error is not None:  # right before the answer: stream() raises after yielding it
            turn.send(ErrorEvent(error=ErrorPayload.from_error(error)))
        result_id = turn.result.id if turn.result else None
        chart_id = turn.chart.id if turn.chart else None
        turn.send(
            AnswerEvent(
                text=text,
                sql=turn.sql,
                result_id=result_id,
                chart_id=chart_id,
                stopped=stopped,
                error=ErrorPayload.from_error(error) if error else None,
            )
        )
        answer = Answer(
            text=text,
            sql=list(turn.sql),
            result=(
                # a cluster's result stays there: the answer carries its first rows
                turn.result.head(turn.result.total_rows) if turn.result.remote else turn.result.data
            )
            if turn.result
            else None,
            result_id=result_id,
            chart=turn.chart.chart if turn.chart else None,
            chart_id=chart_id,
            usage=usage,
            stopped=stopped,
            error=payload,
        )
        return answer, Exchange(
            question=question,
            answer=text,
            contents=_replayable(turn.contents, text),
            stopped=stopped,
            calls=turn.calls,
            error=error.with_traceback(None) if error else None,
            chart=turn.chart,
        )

    async def _record(self, turn: _Turn, usage: TokenUsage) -> None:
        if self.meter is None:
            return
        try:
            # Shielded: a stop must not lose the tokens the turn already used.
            summary = await asyncio.shield(self.meter.record(self.llm.model, usage))
        except ChatDFError as exc:
            turn.send(ErrorEvent(error=ErrorPayload.from_error(exc)))
            return
        if summary is not None and summary.warning:
            turn.send(
                UsageWarningEvent(
                    usage_percent=summary.percent,
                    remaining_tokens=summary.remaining or 0,
                    resets_in_seconds=summary.resets_in_seconds,
                )
            )


def _contents(exchanges: Sequence[Exchange]) -> list[types.Content]:
    return [c for exchange in exchanges for c in exchange.contents]


def _replayable(contents: list[types.Content], text: str) -> list[types.Content]:
    """Contents that a later request may send back as they are.

    A stopped or failed turn can end on a model call with no response, or on
    no model content at all; the API rejects such a history, so the tail is
    replaced by the text the user saw.
    """
    contents = list(contents)
    while contents and (contents[-1].role != "model" or _has_calls(contents[-1])):
        if len(contents) == 1:
            break
        contents.pop()
    if contents[-1].role != "model":
        contents.append(types.Content(role="model", parts=[types.Part(text=text or "(no answer)")]))
    return contents


def _has_calls(content: types.Content) -> bool:
    return any(part.function_call is not None for part in content.parts or [])


def _same(old: Sequence[Any], new: Sequence[Any]) -> bool:
    return len(old) == len(new) and all(a is b for a, b in zip(old, new, strict=True))


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)

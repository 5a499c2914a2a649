"""One chatdf session: the parts a ChatDF object owns and their lifetime.

A session holds the dataset registry, the query engine and the results kept
for paging and export (bounded by ``result_cache_mb``; see :mod:`chatdf.results`), and runs all of their async work on its private
:class:`~chatdf.runtime.Runtime` loop. ``ChatDF`` (the widget) is a thin
face over it; scripts and tests may use it through ``ChatDF`` without ever
displaying anything.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import os
import shutil
import warnings
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from . import workdir
from .account import SignIn, TeamAccount, default_cache_path
from .charts import ChartRecord, Charts
from .controller import Controller
from .conversation import exchanges_from, messages_for
from .datasets import DatasetRegistry
from .engine import Engine
from .errors import ChatDFError, ConfigError, LLMError, SessionClosedError, StoreError
from .events import ErrorEvent, ErrorPayload, Event
from .grid import GridPage, Pager, Sort
from .llm.client import GeminiClient
from .models import Answer, Exchange, QueryResult, TokenUsage, failed_outright
from .results import ResultCache
from .runtime import Runtime
from .settings import Settings
from .store import MEMORY, Conversation, ConversationSummary, Store, StoreWarning
from .turn import Turns
from .usage import DEFAULT_USER_KEY, UsageSummary

T = TypeVar("T")

log = logging.getLogger("chatdf")


class Session:
    """Registry, engine and kept results of one ChatDF, on one runtime loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.workdir = workdir.create()  # removes the folders of sessions that died first
        self.runtime = Runtime()
        self.registry: Any
        self.engine: Any
        if settings.engine == "spark":
            from .engine.spark import SparkEngine

            self.engine = SparkEngine(settings)  # datasets are views on the cluster's session
            self.registry = self.engine.registry
        else:
            self.registry = DatasetRegistry(settings, self.workdir)
            self.engine = Engine(settings, self.workdir)
        # Results stay so the grid can page them and the user can export them
        # without re-running, up to result_cache_mb in total.
        self.pager = Pager(self.engine)
        forget = self.pager.forget  # not self: no cycle that would delay the finalizer
        self.results = ResultCache(
            settings.result_cache_mb * 2**20, on_evict=lambda result: forget(result.id)
        )
        self.charts = Charts(settings.chart_max_rows, self.results)
        # Team mode: a chatdf gateway holds the Gemini key and meters this user.
        self.account: TeamAccount | None = None
        if settings.gateway_url:
            cache = default_cache_path() if settings.gateway_token_cache else None
            self.account = TeamAccount(settings.gateway_url, cache_path=cache)
        self.llm = GeminiClient(settings, token=self.account.token if self.account else None)
        self.account_listeners: list[Callable[[dict[str, str] | None], None]] = []
        meter = _GatewayMeter(self) if self.account else _StoreMeter(self)
        self.controller = Controller(
            settings,
            self.llm,
            self.registry,
            self.engine,
            self.keep,
            charts=self.charts,
            meter=meter,
        )
        self.history: list[Exchange] = []
        self.listeners: list[Callable[[Event], None]] = []
        self.turns = Turns()
        """The transcript, dataset cards and running flag every view of this session shows."""
        self.conversation_id: str | None = None
        self.user_key = DEFAULT_USER_KEY
        self._turn: asyncio.Task[Answer] | None = None  # what stop() cancels; turns.running is the flag
        self._stores: list[Store] = []  # at most one; a list so the finalizer can see it
        self._store_lock = asyncio.Lock()
        self._sign_ins: set[asyncio.Future[None]] = set()
        self._finalizer = weakref.finalize(
            self,
            _release,
            self.runtime,
            self.engine,
            self.registry,
            self.llm,
            self._stores,
            self.workdir,
            self.account,
        )
        atexit.register(self._finalizer)

    # -- running work on the session loop --------------------------------------------

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the session loop and wait (for the sync API)."""
        return self.runtime.run(coro)

    async def call_async(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the session loop from another loop (the kernel's)."""
        return await self.runtime.run_async(coro)

    # -- queries ------------------------------------------------------------------

    async def run_sql(self, query: str) -> QueryResult:
        """Run one read-only query over the registered datasets and keep its result."""
        await self.registry.sync_notebook(changed_frames=False)  # namespace_tables offers
        result = await self.engine.run(
            query, self.registry.tables(), catalog=self.registry.catalog()
        )
        self.keep(result)
        return result

    # -- chat turns -------------------------------------------------------------------

    async def ask(self, question: str, emit: Callable[[Event], None] | None = None) -> Answer:
        """Answer one question (on the session loop); events go to listeners and ``emit``.

        Raises the turn's error (an ``LLMError``) when the turn failed with
        neither text nor a result; a partial or stopped answer is returned. A
        question refused before anything is sent (no key, the usage limit)
        raises without opening or storing a conversation. The caller started the
        turn with ``self.turns.start`` (the one flag that says a turn runs).
        """

        def fan_out(event: Event) -> None:
            for listener in self.listeners:
                listener(event)
            self.turns.apply(event, self.results, self.charts)  # before emit: ask() sees it
            if emit is not None:
                emit(event)

        if self.account is not None:
            await self._checked(self.account.check_ready())  # raises: signed out, revoked, limit
        self._turn = asyncio.current_task()
        answer_id = self.turns.message_id  # the id the transcript shows; the store keeps it
        try:
            await self.registry.sync_notebook()  # the prompt shows notebook frames as they are now
            try:
                await self.controller.preflight()
            except ChatDFError as exc:
                fan_out(ErrorEvent(error=ErrorPayload.from_error(exc)))
                raise
            conversation_id = await self._ensure_conversation()
            answer, exchange = await self.controller.run_turn(question, self.history, fan_out)
        finally:
            self._turn = None
        if answer.error and answer.error.get("error_type") == "sign_in_required":
            await self.sign_out()  # the gateway revoked the token during the turn
        if conversation_id == self.conversation_id:  # not left for another one meanwhile
            self.history.append(exchange)
        result = self.results.get(answer.result_id) if answer.result_id else None
        await self._save_turn(conversation_id, exchange, answer, result, answer_id)
        if failed_outright(answer) and exchange.error is not None:
            raise exchange.error
        return answer

    def stop(self) -> bool:
        """Cancel the running turn from any thread; False when nothing was running."""
        turn = self._turn
        if turn is None or turn.done():
            return False
        self.runtime.loop.call_soon_threadsafe(turn.cancel)
        return True

    # -- history (the store) --------------------------------------------------------------

    async def store(self) -> Store:
        """The history store, opened on first use.

        Never fails for want of a usable file: a damaged one is moved aside and
        a fresh history started, an unwritable location gives a history in
        memory; either way with a :class:`~chatdf.store.StoreWarning`.
        """
        async with self._store_lock:
            if not self._stores:
                self._stores.append(await self._open_store())
            return self._stores[0]

    async def _open_store(self) -> Store:
        try:
            path = self.settings.resolved_db_path()
            store, warning = await Store.open_or_memory(path)
        except (StoreError, OSError) as exc:  # no path could be made, or memory failed too
            why = exc.message if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"
            store = await Store.open(MEMORY)
            warning = (
                f"The history database could not be used ({why}). "
                "History is kept in memory for this session only."
            )
            log.warning("%s", warning)
        if warning and store.moved_aside is None:  # Store.open warned about a move itself
            warnings.warn(warning, StoreWarning, stacklevel=2)
        return store

    async def _stored(self, work: Callable[[Store], Awaitable[T]]) -> T:
        """Run ``work`` on the store; if it finds the file damaged, heal and run it once more."""
        store = await self.store()
        try:
            return await work(store)
        except StoreError as exc:
            if exc.details.get("reason") != "corrupt":
                raise
        return await work(await self._heal(store))

    async def _heal(self, damaged: Store) -> Store:
        """Replace a store whose file turned out damaged while open.

        Opening again moves the file aside (with a StoreWarning) and starts a fresh
        one; the current conversation goes on there under the same id, so the turn
        being answered is still saved (the model keeps the earlier turns as context).
        """
        async with self._store_lock:
            if self._stores and self._stores[0] is damaged:
                self._stores.clear()
                await damaged.close()
                fresh = await self._open_store()
                self._stores.append(fresh)
                if self.conversation_id is not None:
                    try:
                        await fresh.create_conversation(conversation_id=self.conversation_id)
                    except StoreError as exc:
                        log.warning("The conversation could not be carried over: %s", exc.message)
            return self._stores[0]

    async def _ensure_conversation(self) -> str:
        if self.conversation_id is None:
            # JupyterLab tells the kernel which notebook it serves; None elsewhere.
            notebook = os.environ.get("JPY_SESSION_NAME")
            conversation = await self._stored(
                lambda store: store.create_conversation(notebook_path=notebook)
            )
            self.conversation_id = conversation.id
        return self.conversation_id

    async def _save_turn(
        self,
        conversation_id: str,
        exchange: Exchange,
        answer: Answer,
        result: QueryResult | None,
        answer_id: str | None = None,
    ) -> None:
        """Store the turn; a store failure is logged and the answer is still returned."""
        messages = messages_for(exchange, answer, result, answer_id)
        # A chart the user drew under the answer while it streamed replaces the model's.
        shown = next((m.get("chart") for m in self.turns.messages if m["id"] == answer_id), None)
        drawn = self.charts.find(shown["id"]) if answer_id and isinstance(shown, dict) else None
        payload = messages[-1].tool_payload
        if drawn is not None and drawn.id != getattr(exchange.chart, "id", None) and isinstance(payload, dict):
            payload["chart"] = drawn.for_history()

        async def save(store: Store) -> None:
            await store.add_messages(conversation_id, messages)
            await store.save_datasets(conversation_id, self.registry.datasets)

        try:
            await self._stored(save)
        except ChatDFError as exc:
            log.warning("This turn could not be saved to the history: %s", exc.message)

    async def conversations(self) -> list[ConversationSummary]:
        return await self._stored(lambda store: store.list_conversations())

    async def open_conversation(self, conversation_id: str) -> Conversation:
        """Make a stored conversation current: its messages become the context again and
        its datasets are registered again (those that can be: URLs and files)."""
        conversation = await self._stored(lambda store: store.get_conversation(conversation_id))
        missing = []
        for record in conversation.datasets:
            if record.name in self.registry:
                continue
            if record.kind == "frame":
                missing.append(record.name)
                continue
            try:
                await self.registry.add(record.source, record.name)
            except ChatDFError as exc:
                missing.append(record.name)
                log.warning("Dataset %s could not be loaded again: %s", record.name, exc.message)
        if missing:
            log.warning("Not restored (add them again): %s", ", ".join(missing))
        self.history = exchanges_from(conversation.messages)
        self.conversation_id = conversation.id
        for message in conversation.messages:  # the widget asks for them by id
            stored = message.tool_payload.get("chart") if isinstance(message.tool_payload, dict) else None
            chart = self.charts.restore(stored) if isinstance(stored, dict) else None
            if chart is not None:
                message.chart = chart.chart
        return conversation

    def new_conversation(self) -> None:
        """Start afresh: the next question opens a new conversation; datasets stay."""
        self.history = []
        self.conversation_id = None

    async def rename_conversation(self, conversation_id: str, title: str) -> ConversationSummary:
        return await self._stored(lambda store: store.rename_conversation(conversation_id, title))

    async def delete_conversation(self, conversation_id: str) -> None:
        await self._stored(lambda store: store.delete_conversation(conversation_id))
        if conversation_id == self.conversation_id:
            self.new_conversation()

    async def clear_history(self) -> int:
        removed = await self._stored(lambda store: store.clear_history())
        self.new_conversation()
        return removed

    async def preference(self, key: str, default: Any = None) -> Any:
        """A UI preference kept in the store (e.g. the theme); ``default`` if unset or unreadable."""
        try:
            return await self._stored(lambda store: store.get_setting(key, default))
        except ChatDFError:
            return default

    async def set_preference(self, key: str, value: Any) -> None:
        try:
            await self._stored(lambda store: store.set_setting(key, value))
        except ChatDFError as exc:
            log.warning("The %s preference could not be saved: %s", key, exc.message)

    async def usage(self) -> UsageSummary:
        if self.account is not None:  # team mode: the gateway's numbers and limit
            return await self._checked(self.account.usage())
        return await self._stored(
            lambda store: store.usage_summary(self.user_key, self.settings.token_limit)
        )

    # -- team mode (a chatdf gateway) -------------------------------------------------------

    def _team(self) -> TeamAccount:
        if self.account is None:
            raise ConfigError(
                "Signing in needs team mode: pass gateway_url=... to ChatDF or set CHATDF_GATEWAY_URL."
            )
        return self.account

    async def start_sign_in(self) -> SignIn:
        """Ask the gateway for a sign-in; polling for its end runs on the session loop."""
        account = self._team()
        request = await account.request_sign_in()
        done: concurrent.futures.Future[bool] = concurrent.futures.Future()
        sign_in = SignIn(request, done)

        async def complete() -> None:
            try:
                ok = await account.complete_sign_in(request, sign_in)
                if ok:
                    await self.llm.set_api_key(account.token)
                    self._account_changed()
            except asyncio.CancelledError:  # the session closed
                done.set_result(False)
                raise
            except BaseException as exc:
                done.set_exception(exc)
                raise
            done.set_result(ok)

        task = asyncio.ensure_future(complete())
        self._sign_ins.add(task)
        task.add_done_callback(self._sign_ins.discard)
        return sign_in

    async def sign_out(self) -> None:
        """Forget the gateway token (memory and cache): the next question needs a sign-in."""
        account = self._team()
        account.forget()
        await self.llm.set_api_key(None)
        self._account_changed()

    async def _checked(self, call: Coroutine[Any, Any, T]) -> T:
        """Await a gateway call; a refused sign-in also signs this session out."""
        try:
            return await call
        except LLMError as exc:
            if exc.kind == "sign_in_required" and self.account is not None:
                await self.sign_out()
            raise

    def _account_changed(self) -> None:
        identity = self.account.identity if self.account else None
        for listener in list(self.account_listeners):
            try:
                listener(identity)
            except Exception:  # a display problem must not break the sign-in
                log.exception("chatdf: an account listener failed")

    def keep(self, result: QueryResult) -> None:
        self.results.keep(result)

    async def chart(self, spec: Any, result: Any = None, title: str | None = None) -> ChartRecord:
        """A chart of ``result`` (an id, a QueryResult, a DataFrame; None: the newest result)."""
        return await self.charts.create(spec, result, title=title)

    async def chart_answer(self, message_id: str, record: ChartRecord | None) -> None:
        """Make ``record`` (the user's own chart: "Chart this", an edited spec; None: no
        chart) the chart of the answer ``message_id``: the transcript shows it and the saved
        conversation keeps it, so reopening it draws this chart. An answer of another
        conversation, or not saved, is left alone."""
        with self.turns.lock:
            if not any(m["id"] == message_id and m["role"] == "assistant" for m in self.turns.messages):
                return
            self.turns.update(message_id, chart=record.summary() if record else None)
        if self.conversation_id is None:
            return
        saved = record.for_history() if record else None
        try:
            await self._stored(lambda store: store.set_message_chart(message_id, saved))
        except ChatDFError as exc:
            log.warning("The chart could not be saved to the history: %s", exc.message)

    def result(self, result_id: str) -> QueryResult:
        """A kept result; a QueryError (``details["reason"]`` evicted or unknown_result) if not."""
        return self.results.require(result_id)

    async def page(
        self,
        result_id: str,
        offset: int = 0,
        limit: int = 50,
        sort: Sort | None = None,
        where: Any = None,
    ) -> GridPage:
        """One page of a kept result for the grid (see :class:`chatdf.grid.Pager`)."""
        return await self.pager.page(self.result(result_id), offset, limit, sort, where)

    # -- lifetime -----------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def check_open(self) -> None:
        """Raise :class:`SessionClosedError` once the session is closed."""
        if self.closed:
            raise SessionClosedError()

    def close(self) -> None:
        """Stop workers, delete temp files and stop the runtime loop. Idempotent."""
        self._finalizer()


class _GatewayMeter:
    """Team mode: the gateway meters and limits; the session checked before the turn."""

    def __init__(self, session: Session) -> None:
        self._session = weakref.proxy(session)

    async def check(self) -> None:
        return None  # Session.ask asked the gateway already (and raises from ask)

    async def record(self, model: str, usage: TokenUsage) -> UsageSummary | None:
        try:
            return await self._session.usage()
        except ChatDFError:
            return None  # the answer stands; the usage bar catches up on the next refresh


class _StoreMeter:
    """Token metering over the store: the controller's :class:`~chatdf.controller.Meter`."""

    def __init__(self, session: Session) -> None:
        self._session = weakref.proxy(session)

    async def check(self) -> None:
        summary = await self._session.usage()
        if summary.exhausted:
            raise LLMError(
                f"Usage limit reached: {summary.used:,} of {summary.limit:,} tokens in the last "
                f"24 hours. New questions are accepted again in {_duration(summary.resets_in_seconds)}"
                "; datasets, SQL and history keep working.",
                "usage_limit",
                details={"resets_in_seconds": summary.resets_in_seconds},
            )

    async def record(self, model: str, usage: TokenUsage) -> UsageSummary:
        session = self._session
        await session._stored(
            lambda store: store.record_usage(
                session.user_key,
                session.conversation_id,
                model,
                usage.input_tokens,
                usage.output_tokens,
            )
        )
        return await session.usage()


def _duration(seconds: int) -> str:
    """``3 h 5 min`` / ``4 min`` / ``20 s``."""
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{secs} s"


def _release(
    runtime: Runtime,
    engine: Engine,
    registry: DatasetRegistry,
    llm: GeminiClient,
    stores: list[Store],
    workdir: Path,
    account: TeamAccount | None,
) -> None:
    # A finalizer: must not reference the Session itself, or it would never be collected.
    try:
        if not runtime.closed:
            for store in stores:
                runtime.run(store.close(), timeout=5)
            if account is not None:
                runtime.run(account.aclose(), timeout=5)
            runtime.run(llm.aclose(), timeout=5)
            runtime.run(engine.close(), timeout=10)
    except Exception:  # noqa: BLE001 - closing must not raise; the engine still goes
        engine.close_now()
    finally:
        registry.close()
        runtime.close()
        shutil.rmtree(workdir, ignore_errors=True)

"""The ChatDF widget: synced traits, the bundled front end, and the public API.

Sync direction: every underscored trait flows kernel -> browser only, except
``_layout`` (which panels are collapsed) and ``theme``, which the browser
writes too. Synced state is small and survives a saved notebook: dataset
cards, the transcript as text + SQL + result ids, history list, usage. Rows
never travel in it; the grid asks for Arrow IPC pages (:mod:`chatdf.grid`).

Browser requests arrive as custom messages ``{id, type, ...}``; each is
validated by :mod:`chatdf.messages`, run on the session's loop by the
``_on_<type>`` handler below and answered ``{id, result}`` or ``{id, error}``.
Chat events are forwarded as ``{type: "event", message_id, event}`` as they
happen, from the runtime thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import logging
import queue
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import anywidget
import polars as pl
import traitlets as t

from . import messages as wire
from .account import SignIn
from .charts import ChartRecord
from .errors import ChatDFError, SessionClosedError
from .events import Event
from .export import (
    check_replace,
    check_variable_name,
    code_for,
    export_result,
    pick_result,
    user_namespace,
)
from .key_entry import use_session_key
from .limits import for_browser
from .models import Answer, Dataset, QueryResult, failed_outright
from .result_tools import ResultTools
from .schema_stats import column_stats
from .session import Session
from .settings import Settings, load_settings
from .store import Conversation, ConversationSummary
from .turn import new_id
from .usage import UsageSummary

STATIC = Path(__file__).parent / "static"
SAMPLE = Path(__file__).parent / "data" / "iris.parquet"
"""The sample dataset behind "Try with sample data"."""
MAX_SYNCED_CONVERSATIONS = 100
CHUNKS = ("editor", "chart")
"""Parts of the UI fetched on demand (``chatdf/static/<name>.js``, js/src/chunks/)."""

_INTERRUPT_CHECK = 0.25
"""Seconds :meth:`ChatDF.iter_events` waits at most before it notices an interrupt."""

log = logging.getLogger("chatdf.widget")

# Shown instead of the UI when the package was installed without its bundle.
_MISSING_BUNDLE_ESM = """
export default { render({ el }) {
  el.textContent = "chatdf: the front-end bundle is missing. Reinstall with Node.js 20+ and npm on PATH: pip install -e .";
} };
"""


def _bundle_file(name: str, fallback: str) -> Path | str:
    path = STATIC / name
    return path if path.is_file() else fallback


F = TypeVar("F", bound=Callable[..., Any])


def _while_open(method: F) -> F:
    """The public API's guard: a call after ``close()`` raises SessionClosedError."""

    @functools.wraps(method)
    def guarded(self: ChatDF, *args: Any, **kwargs: Any) -> Any:
        self._session.check_open()
        return method(self, *args, **kwargs)

    return cast(F, guarded)


class ChatDF(anywidget.AnyWidget):
    """Chat with your data: a notebook widget and a plain Python API.

    Register datasets (parquet or CSV files and globs, parquet/CSV/TSV URLs, polars or
    pandas DataFrames, LazyFrames, Arrow tables), then ask questions in plain
    English: Gemini answers by writing read-only SQL that runs with Polars in
    worker processes, and you get the text, the SQL and the result. As the last
    line of a cell the object shows the chat widget; everything it does is also
    a method, for scripts and tests.

    Main calls
    ----------
    ::

        chat.add(source, name=None)        register a dataset (named after its file) -> Dataset
        chat.add_variable(variable)        follow a notebook DataFrame variable -> Dataset
        chat.datasets                      the registered datasets, in order
        chat.rename(old, new) / chat.remove(name) / chat.refresh(name)
        chat.sql(query)                    one read-only SELECT -> polars.DataFrame
        chat.ask(question)                 Gemini answers -> Answer(text, sql, result, ...);
                                           raises LLMError when no answer came back at all
        await chat.ask_async(question)     the same, without blocking the caller's event loop
        chat.stream(question)              async iterator of events as they happen
        chat.stop()                        stop the answer being streamed
        chat.export(name, result=None, to="polars")   bind a result to a notebook variable
        chat.code(result=None)             Polars code that recreates a result without chatdf
        chat.chart(spec, result=None)      a Vega-Lite spec over a result -> altair.Chart
        chat.conversations                 stored conversations, newest first
        chat.open_conversation(id) / chat.new()       continue one / start afresh
        chat.rename_conversation(id, title) / chat.delete_conversation(id) / chat.clear_history()
        chat.usage                         tokens used in the rolling 24 hours
        chat.close()                       stop the workers and delete temp files

    Parameters
    ----------
    api_key : str, optional
        Gemini API key; defaults to ``GEMINI_API_KEY`` or ``.env``. Only the chat needs it.
    db_path : str, optional
        SQLite file for history (``:memory:`` for throwaway use).
    **settings
        Any setting below by name, e.g. ``query_timeout=30``. Keyword arguments
        win over ``CHATDF_<NAME>`` environment variables, which win over ``.env``.

    Raises
    ------
    ConfigError
        An unknown setting (also a ``TypeError``) or an invalid value.

    Examples
    --------
    >>> chat = ChatDF()                                   # doctest: +SKIP
    >>> chat.add("sales.parquet")                         # doctest: +SKIP
    Dataset(name='sales', ...)
    >>> chat.sql("SELECT count(*) AS n FROM sales")       # doctest: +SKIP
    """

    # The saved widget state holds `_esm`: only the 1 KB loader goes there; it asks the
    # kernel for the real bundle (`_on_bundle_request`), so saved notebooks stay small.
    _esm = _bundle_file("loader.js", _MISSING_BUNDLE_ESM)

    _datasets = t.List(t.Dict()).tag(sync=True)
    """Dataset cards: registered datasets (status ``ready``) and adds in flight or failed."""
    _max_datasets = t.Int(20).tag(sync=True)
    _limits = t.Dict().tag(sync=True)
    """:func:`chatdf.limits.for_browser`: the limits the kernel enforces, for the browser to
    cap inputs and pages with the same numbers."""
    _messages = t.List(t.Dict()).tag(sync=True)
    """The transcript (:class:`chatdf.messages.ChatMessage` dicts), newest last, size-capped."""
    _conversation = t.Dict().tag(sync=True)
    """``{id, title}`` of the current conversation; empty before the first question."""
    _conversations = t.List(t.Dict()).tag(sync=True)
    _usage = t.Dict().tag(sync=True)
    _busy = t.Bool(False).tag(sync=True)
    """A question is being answered."""
    _has_key = t.Bool(False).tag(sync=True)
    """The chat can be used: a Gemini key is set, or (team mode) the person is signed in."""
    _account = t.Dict().tag(sync=True)
    """Team mode: ``{team: true, gateway, email, name}`` (email/name empty while signed out);
    empty in single-user mode. Never a token."""
    _privacy = t.Unicode("full").tag(sync=True)
    """``schema`` in privacy mode (the header shows a badge); ``full`` otherwise."""
    _layout = t.Dict().tag(sync=True)
    """Written by the browser: ``{left, right}`` collapsed flags and the narrow-layout tab."""
    theme = t.Enum(["system", "light", "dark"], default_value="system").tag(sync=True)
    """Widget theme: ``"system"`` follows JupyterLab; ``"light"`` or ``"dark"`` override it."""

    def __init__(self, api_key: str | None = None, db_path: str | None = None, **settings: Any):
        """Start a session: settings are read, workers start, nothing is sent to Gemini."""
        config = load_settings(api_key=api_key, db_path=db_path, **settings)
        super().__init__(
            theme=config.theme,
            _max_datasets=config.max_datasets,
            _limits=for_browser(),
            _has_key=bool(config.key()),
            _privacy=config.privacy,
        )
        self.settings = config
        self._session = Session(config)
        self._tools = ResultTools(self._session)
        self._session.registry.attach_namespace(user_namespace())
        self._turns = self._session.turns  # the session owns the transcript; traits mirror it
        self._lock = self._turns.lock  # traits change from the kernel thread and the runtime's
        self._requests: dict[str, concurrent.futures.Future[None]] = {}
        self._turns.watch(self._mirror_turns)
        self._mirror_turns()
        self._session.listeners.append(self._forward_event)
        if self._session.account is not None:
            self._show_account(self._session.account.identity)
            self._session.account_listeners.append(self._on_account_change)
        self.on_msg(self._on_message)
        if "theme" not in config.model_fields_set:  # CHATDF_THEME or theme= win over the saved one
            saved = self._session.call(self._session.preference("theme", config.theme))
            self.theme = saved if saved in ("system", "light", "dark") else config.theme
        self.observe(self._save_theme, names="theme")

    def _save_theme(self, change: dict[str, Any]) -> None:
        # The settings menu writes the trait; keep the choice for the next session.
        self._session.runtime.submit(self._session.set_preference("theme", change["new"]))

    def __repr__(self) -> str:
        """``<ChatDF sales, trips>``: the datasets (``<ChatDF closed>`` after close())."""
        session = self.__dict__.get("_session")
        if session is None or session.closed:
            return "<ChatDF closed>"
        names = ", ".join(d.name for d in session.registry.datasets) or "no datasets"
        return f"<ChatDF {names}>"

    # -- datasets -----------------------------------------------------------------

    @_while_open
    def add(self, source: Any, name: str | None = None) -> Dataset:
        """Register a parquet/CSV URL or path (globs welcome) or an in-memory frame."""
        dataset = self._session.call(self._session.registry.add(source, name))
        self._sync_datasets()
        return dataset

    @property
    @_while_open
    def datasets(self) -> list[Dataset]:
        """The registered datasets, in the order they were added."""
        return self._session.registry.datasets

    @_while_open
    def remove(self, name: str) -> None:
        """Unregister a dataset."""
        self._session.registry.remove(name)
        self._sync_datasets()

    @_while_open
    def rename(self, old: str, new: str) -> Dataset:
        """Give a dataset a new table name (a SQL identifier, unique in the session)."""
        dataset = self._session.registry.rename(old, new)
        self._sync_datasets()
        return dataset

    @_while_open
    def refresh(self, name: str) -> Dataset:
        """Re-read a dataset's schema and row count."""
        dataset = self._session.call(self._session.registry.refresh(name))
        self._sync_datasets()
        return dataset

    @_while_open
    def add_variable(self, variable: str, name: str | None = None) -> Dataset:
        """Register the DataFrame a notebook variable holds and follow the variable:
        reassigning it, or changing the frame in place, is seen by the next query."""
        dataset = self._session.call(self._session.registry.add_variable(variable, name))
        self._sync_datasets()
        return dataset

    def _sync_datasets(self) -> None:
        with self._lock:
            ready = [wire.dataset_card(d) for d in self.datasets]
            self._datasets = ready + list(self._turns.cards.values())

    # -- queries ------------------------------------------------------------------

    @_while_open
    def sql(self, query: str) -> pl.DataFrame:
        """Run one read-only SQL query over the registered datasets in a worker process."""
        return self._session.call(self._session.run_sql(query)).data

    # -- results into the notebook ----------------------------------------------------

    @_while_open
    def export(
        self,
        name: str,
        result: str | QueryResult | None = None,
        to: str = "polars",
        overwrite: bool = False,
    ) -> Any:
        """Bind a result (an id, a QueryResult, or None for the last one) to a notebook
        variable without running it again; returns the bound value.

        ``to="polars"`` or ``"pandas"`` give the rows; ``"lazy"`` gives a LazyFrame
        that re-runs the SQL over the sources on ``collect()``, so it stays live.

        Names of builtins, keywords and names starting with ``_`` are refused. A
        variable holding a frame is replaced; one holding anything else (a module,
        a function, a number...) is kept unless ``overwrite=True``.
        """
        if isinstance(result, str):
            self._session.result(result)  # a dropped result says so, with its SQL
        kept = pick_result(self._session.results, result)
        registry = self._session.registry
        return export_result(
            user_namespace(), name, kept, to=to, sources=registry.provenance, overwrite=overwrite
        )

    @_while_open
    def code(self, result: str | QueryResult | None = None) -> str:
        """Standalone Polars code that recreates a result (default: the last) without chatdf."""
        if isinstance(result, str):
            self._session.result(result)  # a dropped result says so, with its SQL
        kept = pick_result(self._session.results, result)
        return code_for(kept, self._session.registry.provenance)

    # -- charts -------------------------------------------------------------------------

    @_while_open
    def chart(self, spec: Any, result: Any = None, *, title: str | None = None) -> Any:
        """Draw a result with a Vega-Lite spec, as the model's ``create_chart`` does.

        ``spec`` is a dict (or its JSON text, or an Altair chart) naming no data;
        ``result`` is a result id, a ``QueryResult`` or a DataFrame, default the
        last result. Returns an ``altair.Chart`` (or compound chart) bound to the
        rows; a result larger than ``CHATDF_CHART_MAX_ROWS`` is charted from the
        spec's own aggregate/bin/timeUnit/filter, evaluated in the kernel.

        Raises
        ------
        ChartError
            With the words the model would get: the unknown field and the
            result's columns, the bad mark and the valid marks, too many rows...
        """
        return self._session.call(self._session.chart(spec, result, title=title)).chart

    @property
    @_while_open
    def last_chart(self) -> Any:
        """The last chart made in this session, by the model or by :meth:`chart`; None before."""
        record = self._session.charts.last
        return record.chart if record is not None else None

    # -- chat -------------------------------------------------------------------------

    def ask(self, question: str) -> Answer:
        """Ask a question and wait for the whole answer (works inside a running kernel).

        Returns the :class:`Answer`; a stopped answer, or one that failed after
        some text or a result, comes back partial with ``stopped`` / ``error``.

        Raises
        ------
        LLMError
            Gemini gave nothing back (no key, rate limit, server error, invalid
            key, safety block, empty reply, usage limit); ``kind`` says which and
            ``retry_after`` when to try again, if Gemini said.
        """
        message_id = self._start_turn(question)
        return self._session.call(self._run_turn(question, message_id))

    async def ask_async(self, question: str) -> Answer:
        """Ask a question without blocking the caller's event loop; as :meth:`ask`."""
        message_id = self._start_turn(question)
        return await self._session.call_async(self._run_turn(question, message_id))

    async def stream(self, question: str) -> AsyncIterator[Event]:
        """Ask a question and iterate its events as they happen; the last is an AnswerEvent.

        When the turn fails without any text or result, the last event is the
        ErrorEvent and the iteration then raises its ``LLMError``.

        Examples
        --------
        >>> async for event in chat.stream("How many rows?"):  # doctest: +SKIP
        ...     if event.type == "token":
        ...         print(event.text, end="")
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Event | BaseException] = asyncio.Queue()

        def put(item: Event | BaseException) -> None:
            queue.put_nowait(item)

        def forward(event: Event) -> None:
            loop.call_soon_threadsafe(put, event)

        def failed(future: concurrent.futures.Future[Answer]) -> None:
            # ask() itself raised (empty question, a turn already running): end the iteration.
            error = None if future.cancelled() else future.exception()
            if error is not None:
                loop.call_soon_threadsafe(put, error)

        message_id = self._start_turn(question)
        future = self._session.runtime.submit(self._run_turn(question, message_id, emit=forward))
        future.add_done_callback(failed)
        finished = False
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                if item.type == "answer":
                    if not failed_outright(item):
                        yield item
                    break
                yield item
            # The turn is saved before the next one starts; a failed turn raises here.
            finished = True
            await asyncio.wrap_future(future)
        finally:
            if not finished:
                self._session.stop()  # the consumer gave up early: stop the turn

    def iter_events(self, question: str) -> Iterator[Event]:
        """Ask a question and iterate its events on this thread, as they happen.

        The synchronous twin of :meth:`stream` for code without an event loop
        (scripts, the magics): the same events and errors, no thread or polling
        on the caller's side. An interrupt (Ctrl-C, the notebook's stop button)
        stops the turn, and the iteration ends with the partial answer; leaving
        the loop early stops the turn too.

        Examples
        --------
        >>> for event in chat.iter_events("How many rows?"):  # doctest: +SKIP
        ...     if event.type == "token":
        ...         print(event.text, end="")
        """
        items: queue.Queue[Event | None] = queue.Queue()
        message_id = self._start_turn(question)
        future = self._session.runtime.submit(
            self._run_turn(question, message_id, emit=items.put)
        )
        future.add_done_callback(lambda _: items.put(None))  # ends a turn that raised early
        finished = False
        try:
            while True:
                try:
                    # Events arrive at once; the timeout only bounds how late an interrupt
                    # is noticed (SIGINT may land on another thread, leaving this wait asleep).
                    item = items.get(timeout=_INTERRUPT_CHECK)
                except queue.Empty:
                    continue
                except KeyboardInterrupt:
                    self._session.stop()  # the turn ends with what was streamed so far
                    continue
                if item is None:
                    break
                if item.type == "answer":
                    if not failed_outright(item):
                        yield item
                    break
                yield item
            # The turn is saved before the next one starts; a failed turn raises here.
            finished = True
            future.result()
        finally:
            if not finished:
                self._session.stop()  # the consumer gave up early: stop the turn
                with contextlib.suppress(Exception):  # and let it end before the caller goes on
                    future.result(timeout=30)

    def stop(self) -> bool:
        """Stop the answer being streamed (and its running query); the partial text is kept."""
        return self._session.stop()

    # -- history ------------------------------------------------------------------------

    @property
    @_while_open
    def conversations(self) -> list[ConversationSummary]:
        """Stored conversations, most recently updated first (id, title, updated_at, message_count)."""
        return self._session.call(self._session.conversations())

    @_while_open
    def open_conversation(self, conversation_id: str) -> Conversation:
        """Continue a stored conversation: its context comes back and its datasets are re-added."""
        conversation = self._session.call(self._session.open_conversation(conversation_id))
        self._sync_datasets()
        self._show_conversation(conversation)
        return conversation

    def open(self, conversation_id: str | None = None) -> Conversation | None:
        """ipywidgets' ``Widget.open()`` (opens the comm); with an id, :meth:`open_conversation`.

        ``open(id)`` is kept for compatibility; ``open_conversation(id)`` is the
        documented name. ipywidgets calls ``open()`` without arguments itself.
        """
        if conversation_id is None:
            super().open()
            return None
        return self.open_conversation(conversation_id)

    @_while_open
    def new(self) -> None:
        """Start a new conversation (the datasets stay loaded)."""
        self._session.new_conversation()
        self._show_conversation(None)

    @_while_open
    def rename_conversation(self, conversation_id: str, title: str) -> ConversationSummary:
        """Give a stored conversation a new title."""
        return self._session.call(self._session.rename_conversation(conversation_id, title))

    @_while_open
    def delete_conversation(self, conversation_id: str) -> None:
        """Delete a stored conversation and its messages."""
        self._session.call(self._session.delete_conversation(conversation_id))

    @_while_open
    def clear_history(self) -> int:
        """Delete every stored conversation; returns how many were removed."""
        return self._session.call(self._session.clear_history())

    @property
    @_while_open
    def conversation_id(self) -> str | None:
        """The current conversation (None until the first question is asked)."""
        return self._session.conversation_id

    @property
    @_while_open
    def usage(self) -> UsageSummary:
        """Tokens used in the rolling 24 hours: used, limit, percent, remaining,
        resets_in_seconds and per-model totals. In team mode: the gateway's numbers."""
        return self._session.call(self._session.usage())

    # -- team mode (a chatdf gateway) -----------------------------------------------------

    def sign_in(self) -> SignIn:
        """Start signing in to the chatdf gateway (team mode).

        Returns a :class:`~chatdf.account.SignIn`: open its ``url`` in any
        browser (it shows ``user_code``; check they match) and sign in with
        Google; ``wait(timeout=300)`` returns True once signed in.
        """
        return self._session.call(self._session.start_sign_in())

    def sign_out(self) -> None:
        """Forget this kernel's gateway sign-in (team mode)."""
        self._session.call(self._session.sign_out())

    @property
    def account(self) -> dict[str, str] | None:
        """Team mode: ``{"email", "name"}`` of the signed-in person; None while signed out."""
        account = self._session.account
        return account.identity if account is not None else None

    def _show_account(self, identity: dict[str, str] | None) -> None:
        gateway = self.settings.gateway_url or ""
        with self._lock:
            self._account = {"team": True, "gateway": gateway, **(identity or {"email": "", "name": ""})}
            self._has_key = identity is not None

    def _on_account_change(self, identity: dict[str, str] | None) -> None:
        """Session listener (runtime thread): signed in or out; the usage bar follows."""
        self._show_account(identity)
        if identity is None:
            with self._lock:
                self._usage = {}
            return
        self._session.runtime.submit(self._refresh_usage())

    # -- the chat transcript --------------------------------------------------------
    # The session's Turns holds it; turns started here or from the browser show in every view.

    def _mirror_turns(self) -> None:
        """Turns watcher (under its lock): the synced traits follow the session's state."""
        self._busy = self._turns.running
        self._messages = self._turns.messages

    def _start_turn(self, question: str) -> str:
        """Show the question and an empty streaming answer; the answer's message id."""
        self._session.check_open()
        return self._turns.start(question)

    async def _run_turn(
        self, question: str, message_id: str, emit: Callable[[Event], None] | None = None
    ) -> Answer:
        """Answer on the session loop; the transcript follows the forwarded events."""
        try:
            return await self._session.ask(question, emit=emit)
        except ChatDFError as exc:  # refused before the controller started
            self._turns.update(message_id, status="error", error=exc.to_payload())
            raise
        except (KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError):
            raise
        except BaseException as exc:  # a bug or a Polars panic: end the answer, not the widget
            log.error("chatdf: the question failed", exc_info=exc)
            self._turns.update(message_id, status="error", error=_unexpected("ask", exc))
            raise
        finally:
            self._turns.finish()
            self._sync_datasets()  # the model may have loaded one
            await self._refresh_history()

    def _forward_event(self, event: Event) -> None:
        """Session listener (runtime thread): stream the event to the browser; the
        session's Turns then fills the answer's message."""
        message_id = self._turns.message_id
        self.send({"type": "event", "message_id": message_id, "event": event.model_dump(mode="json")})

    def _show_conversation(self, conversation: Conversation | None) -> None:
        """Make the transcript that of ``conversation`` (None: a new, empty one)."""
        with self._lock:
            if conversation is None:
                self._conversation = {}
                self._turns.set_messages([])
            else:
                self._conversation = {"id": conversation.id, "title": conversation.title}
                self._turns.set_messages(wire.transcript_from(conversation.messages))

    async def _refresh_usage(self) -> None:
        """The usage bar (from the store, or the gateway in team mode); failures only logged."""
        try:
            usage = await self._session.usage()
        except ChatDFError as exc:
            if self._session.account is None:
                log.warning("chatdf: usage could not be read: %s", exc.message)
            return
        with self._lock:
            self._usage = usage.model_dump(mode="json")

    async def _refresh_history(self) -> None:
        """History list, current title and usage from the store (failures only logged)."""
        await self._refresh_usage()
        try:
            summaries = await self._session.conversations()
        except ChatDFError as exc:
            log.warning("chatdf: history could not be read: %s", exc.message)
            return
        current = self._session.conversation_id
        with self._lock:
            self._conversations = [
                wire.conversation_item(s) for s in summaries[:MAX_SYNCED_CONVERSATIONS]
            ]
            if current is not None:
                title = next((s.title for s in summaries if s.id == current), None)
                self._conversation = {"id": current, "title": title}

    # -- browser requests ---------------------------------------------------------------

    def _on_message(self, _widget: Any, content: Any, buffers: list[bytes] | None = None) -> None:
        """Validate a browser message and run its handler on the session loop."""
        if isinstance(content, dict) and content.get("type") == "bundle":
            self._on_bundle_request(content.get("id"), content.get("chunk"))
            return
        try:
            request = wire.parse_request(content)
        except wire.BadMessage as exc:
            log.warning("chatdf: ignored a message from the browser (%s)", exc.reason)
            if exc.request_id is not None:
                error = _error("validation", f"Invalid request: {exc.reason}", reason="bad_message")
                self._reply(exc.request_id, error=error)
            return
        if request.type == "cancel":
            future = self._requests.pop(request.id, None)
            if future is not None:
                future.cancel()
            return
        handler: Callable[[Any], Awaitable[Any]] = getattr(self, f"_on_{request.type}")
        try:
            future = self._session.runtime.submit(self._answer(request, handler))
        except SessionClosedError as exc:
            self._reply(request.id, error=_error("closed", exc.message, reason="closed"))
            return
        self._requests[request.id] = future
        request_id: str = request.id
        future.add_done_callback(lambda _f: self._requests.pop(request_id, None))

    def _on_bundle_request(self, request_id: Any, chunk: Any = None) -> None:
        """Send the UI bundle to the loader (see ``_esm``), or one of its on-demand
        chunks (``CHUNKS``: the code editor, the chart renderer) to the UI; read from
        disk, so a rebuild shows."""
        if not isinstance(request_id, str):
            log.warning("chatdf: ignored a bundle request without an id")
            return
        if chunk is not None and chunk not in CHUNKS:
            self.send({"id": request_id, "error": {"message": f"no such part of the widget: {chunk!r}"}})
            return
        names = (f"{chunk}.js",) if chunk else ("widget.js", "widget.css")
        try:
            js, css = (*((STATIC / name).read_text() for name in names), "")[:2]
        except OSError:
            missing = "the front-end bundle is missing; reinstall chatdf with npm on PATH"
            self.send({"id": request_id, "error": {"message": missing}})
            return
        self.send({"id": request_id, "result": {"js": js, "css": css}})

    async def _answer(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> None:
        """Run one request and always answer it: with its result or with an error.

        A Polars panic (``PanicException``) is a ``BaseException``, so anything but
        an interrupt, an exit or the browser's own cancel becomes an error reply;
        the widget's state is only changed by handlers, so it stays usable.
        """
        started = time.perf_counter()
        try:
            result = await handler(request)
            if isinstance(result, _Binary):
                self._reply(request.id, result=result.result, buffers=result.buffers)
            else:
                self._reply(request.id, result=result)
        except ChatDFError as exc:
            self._reply(request.id, error=exc.to_payload())
            return
        except (KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError):
            raise  # cancelled: the browser gave up on this request already
        except BaseException as exc:  # a bug must not leave the browser waiting
            log.error("chatdf: the %s request failed", request.type, exc_info=exc)
            self._reply(request.id, error=_unexpected(request.type, exc))
            return
        log.debug("chatdf: %s answered in %.1f ms", request.type, (time.perf_counter() - started) * 1e3)

    def _reply(self, request_id: str, *, result: Any = None, error: Any = None, buffers: Any = None) -> None:
        content = {"id": request_id, "error": error} if error is not None else {"id": request_id, "result": result}
        self.send(content, buffers=buffers)

    async def _on_sync(self, _request: wire.Sync) -> dict[str, Any]:
        self._sync_datasets()
        await self._refresh_history()
        return {"busy": self._busy}

    async def _on_ask(self, request: wire.Ask) -> dict[str, Any]:
        message_id = self._start_turn(request.question)
        task = asyncio.ensure_future(self._run_turn(request.question, message_id))
        # The outcome is in the transcript; a refusal was already shown there.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return {"message_id": message_id}

    async def _on_sign_in(self, _request: wire.SignIn) -> dict[str, Any]:
        sign_in = await self._session.start_sign_in()
        return {"url": sign_in.url, "user_code": sign_in.user_code}

    async def _on_sign_out(self, _request: wire.SignOut) -> dict[str, Any]:
        await self._session.sign_out()
        return {}

    async def _on_set_key(self, request: wire.SetKey) -> dict[str, Any]:
        await use_session_key(self._session, request.key)  # memory only: never a trait
        self._has_key = True
        return {}

    async def _on_stop(self, _request: wire.Stop) -> dict[str, Any]:
        return {"stopped": self._session.stop()}

    async def _on_add_dataset(self, request: wire.AddDataset) -> dict[str, Any]:
        return await self._add_card(request.source, request.name, request.card)

    async def _on_load_sample(self, _request: wire.LoadSample) -> dict[str, Any]:
        return await self._add_card(str(SAMPLE), "iris", None)

    async def _add_card(self, source: str, name: str | None, card_id: str | None) -> dict[str, Any]:
        """Add with a card that shows loading, then the dataset or the error (with Retry)."""
        card_id = card_id if card_id in self._turns.cards else f"card-{new_id()}"
        with self._lock:
            self._turns.cards[card_id] = wire.loading_card(card_id, source, name)
        self._sync_datasets()
        try:
            dataset = await self._session.registry.add(source, name)
        except ChatDFError as exc:
            with self._lock:
                self._turns.cards[card_id] = wire.failed_card(self._turns.cards[card_id], exc.to_payload())
            self._sync_datasets()
            raise
        except BaseException:
            self._turns.cards.pop(card_id, None)
            self._sync_datasets()
            raise
        self._turns.cards.pop(card_id, None)
        self._sync_datasets()
        return wire.dataset_card(dataset)

    async def _on_remove_dataset(self, request: wire.RemoveDataset) -> dict[str, Any]:
        if self._turns.cards.pop(request.name, None) is None:
            self._session.registry.remove(request.name)
        self._sync_datasets()
        return {"removed": request.name}

    async def _on_rename_dataset(self, request: wire.RenameDataset) -> dict[str, Any]:
        dataset = self._session.registry.rename(request.old, request.new)
        self._sync_datasets()
        return wire.dataset_card(dataset)

    async def _on_refresh_dataset(self, request: wire.RefreshDataset) -> dict[str, Any]:
        dataset = await self._session.registry.refresh(request.name)
        self._sync_datasets()
        return wire.dataset_card(dataset)

    async def _on_schema(self, request: wire.Schema) -> dict[str, Any]:
        return self._session.registry.get(request.name).model_dump()

    async def _on_column_stats(self, request: wire.ColumnStats) -> dict[str, Any]:
        return {"columns": await column_stats(self._session, request.name)}

    async def _on_page(self, request: wire.Page) -> _Binary:
        sort = (request.sort.column, request.sort.descending) if request.sort else None
        # Sorts run off the loop (a thread, or a worker for large results), so streaming goes on.
        where = self._tools.where(request) if request.filters else None
        page = await self._session.page(request.result_id, request.offset, request.limit, sort, where)
        return _Binary(page.header(), [page.ipc])

    async def _on_summary(self, request: wire.Summary) -> dict[str, Any]:
        return await self._tools.summary(request)

    async def _on_copy_all(self, request: wire.CopyAll) -> dict[str, Any]:
        return await self._tools.copy_all(request)

    async def _on_download(self, request: wire.Download) -> _Binary:
        header, data = await self._tools.download(request)
        return _Binary(header, [data])

    async def _on_code(self, request: wire.Code) -> dict[str, Any]:
        return {"code": await asyncio.to_thread(self.code, request.result_id)}

    async def _on_chart(self, request: wire.Chart) -> _Binary:
        return await _chart_reply(self._session.charts.get(request.chart_id))

    async def _on_draw_chart(self, request: wire.DrawChart) -> _Binary:
        record = await self._session.chart(request.spec, request.result_id)
        if request.message_id:
            await self._session.chart_answer(request.message_id, record)
        return await _chart_reply(record)

    async def _on_set_answer_chart(self, request: wire.SetAnswerChart) -> dict[str, Any]:
        record = self._session.charts.find(request.chart_id) if request.chart_id else None
        await self._session.chart_answer(request.message_id, record)
        return {"chart": record.summary() if record else None}

    async def _on_run_sql(self, request: wire.RunSql) -> dict[str, Any]:
        result = await self._session.run_sql(request.sql)
        ref = wire.result_ref(result)
        with self._lock:
            message = next((m for m in self._turns.messages if m["id"] == request.message_id), None)
            if message is not None:
                # The edited query replaces the one whose result the message showed.
                sql = [*message.get("sql", [])[:-1], result.sql]
                self._turns.update(message["id"], result=ref, sql=sql)
        return {**ref, "elapsed_ms": round(result.elapsed_ms, 1)}

    async def _on_export(self, request: wire.Export) -> dict[str, Any]:
        export = getattr(self, "export", None)
        if export is None:
            raise ChatDFError("Export to a variable is not available in this version of chatdf.")
        name = check_variable_name(request.name)
        self._session.result(request.result_id)  # a clear error when it is no longer kept
        # The browser's user cannot see the notebook's variables: any existing one is
        # confirmed first (reason "exists"), then the request comes again with overwrite.
        check_replace(user_namespace(), name, overwrite=request.overwrite, ask=True)
        # export() is the sync public API (it may wait on this loop): run it on a thread.
        await asyncio.to_thread(export, name, result=request.result_id, overwrite=True)
        return {"name": name}

    async def _on_new_chat(self, _request: wire.NewChat) -> dict[str, Any]:
        self._session.new_conversation()
        self._show_conversation(None)
        return {}

    async def _on_open_conversation(self, request: wire.OpenConversation) -> dict[str, Any]:
        if self._busy:
            raise ChatDFError("Wait for the answer (or press Stop) before switching conversations.")
        conversation = await self._session.open_conversation(request.conversation_id)
        self._show_conversation(conversation)
        self._sync_datasets()
        return {"id": conversation.id}

    async def _on_rename_conversation(self, request: wire.RenameConversation) -> dict[str, Any]:
        summary = await self._session.rename_conversation(request.conversation_id, request.title)
        await self._refresh_history()
        return wire.conversation_item(summary)

    async def _on_delete_conversation(self, request: wire.DeleteConversation) -> dict[str, Any]:
        current = request.conversation_id == self._session.conversation_id
        await self._session.delete_conversation(request.conversation_id)
        if current:
            self._show_conversation(None)
        await self._refresh_history()
        return {}

    async def _on_clear_history(self, _request: wire.ClearHistory) -> dict[str, Any]:
        removed = await self._session.clear_history()
        self._show_conversation(None)
        await self._refresh_history()
        return {"removed": removed}

    # -- lifetime -----------------------------------------------------------------

    def close(self) -> None:
        """Stop the workers, delete temp files and close the widget."""
        session = self.__dict__.get("_session")  # absent when __init__ failed on bad settings
        if session is not None:
            session.close()
        tools = self.__dict__.get("_tools")
        if tools is not None:
            tools.close()
        super().close()


def _settings_help() -> str:
    """The Settings section of ChatDF's docstring, from the fields of :class:`Settings`."""
    lines = ["", "    Settings (keyword = default, environment variable)", "    --------"]
    for name, field in Settings.model_fields.items():
        variable = "GEMINI_API_KEY" if name == "api_key" else f"CHATDF_{name.upper()}"
        default = "" if field.default is None else f" = {field.default!r}"
        lines.append(f"    {name}{default}  ({variable})")
        if field.description:
            lines.append(f"        {' '.join(field.description.split())}")
    return "\n".join(lines) + "\n"


if ChatDF.__doc__:  # None under python -OO
    ChatDF.__doc__ += _settings_help()


@dataclass
class _Binary:
    """A handler's reply with binary buffers (Arrow IPC pages)."""

    result: Any
    buffers: list[bytes]


async def _chart_reply(record: ChartRecord) -> _Binary:
    """A chart for the browser: the whole spec, data inline, as UTF-8 JSON in a buffer
    (never synced state); the header adds the spec without data, for "Edit spec"."""
    # Serializing up to CHATDF_CHART_MAX_ROWS rows is work: off the loop.
    spec = await asyncio.to_thread(record.to_dict)
    body = json.dumps(spec, ensure_ascii=False, allow_nan=False).encode()
    return _Binary({**record.summary(), "spec": record.spec, "bytes": len(body)}, [body])


def _error(error_type: str, message: str, **details: Any) -> dict[str, Any]:
    return {"error_type": error_type, "message": message, "details": details}


def _unexpected(request_type: str, exc: BaseException) -> dict[str, Any]:
    """The error reply for a failure no handler expected (a bug here or in Polars)."""
    what = request_type.replace("_", " ")
    first_line = (str(exc).strip().splitlines() or [""])[0][:300]
    if isinstance(exc, pl.exceptions.PanicException):
        return _error(
            "internal",
            f"Polars failed inside while answering this {what} request ({first_line}). "
            "Nothing was changed; try another sort or column, or run the query again.",
            reason="panic",
        )
    return _error(
        "internal",
        f"Unexpected error in the {what} request: {type(exc).__name__}: {first_line}. "
        "Nothing was changed; the chat keeps working.",
        reason="internal",
    )

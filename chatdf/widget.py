"""The ChatDF widget: synced traits, the bundled front end, and the public API.

Sync direction: ``_datasets`` and ``_status`` flow kernel -> browser only;
``theme`` flows both ways (the settings menu writes it). Rows never travel in
synced state; the grid asks for pages through custom messages.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anywidget
import polars as pl
import traitlets as t

from .events import Event
from .models import Answer, Dataset
from .session import Session
from .store import Conversation, ConversationSummary
from .usage import UsageSummary
from .settings import load_settings

STATIC = Path(__file__).parent / "static"

# Shown instead of the UI when the package was installed without its bundle.
_MISSING_BUNDLE_ESM = """
export default { render({ el }) {
  el.textContent = "chatdf: the front-end bundle is missing. Reinstall with Node.js 20+ and npm on PATH: pip install -e .";
} };
"""


def _bundle_file(name: str, fallback: str) -> Path | str:
    path = STATIC / name
    return path if path.is_file() else fallback


class ChatDF(anywidget.AnyWidget):
    """Chat with your data: a notebook widget and a plain Python API.

    Parameters
    ----------
    api_key : str, optional
        Gemini API key; defaults to ``GEMINI_API_KEY`` or ``.env``.
    db_path : str, optional
        SQLite file for history (``:memory:`` for throwaway use).
    **settings
        Any field of :class:`chatdf.settings.Settings`, e.g. ``query_timeout=30``.

    Examples
    --------
    >>> chat = ChatDF()
    >>> chat.add("sales.parquet")          # doctest: +SKIP
    >>> chat.sql("SELECT count(*) FROM table1")  # doctest: +SKIP
    """

    _esm = _bundle_file("widget.js", _MISSING_BUNDLE_ESM)
    _css = _bundle_file("widget.css", "")

    _datasets = t.List(t.Dict()).tag(sync=True)
    _max_datasets = t.Int(5).tag(sync=True)
    _status = t.Unicode("").tag(sync=True)
    theme = t.Enum(["system", "light", "dark"], default_value="system").tag(sync=True)
    """Widget theme: ``"system"`` follows JupyterLab; ``"light"`` or ``"dark"`` override it."""

    def __init__(self, api_key: str | None = None, db_path: str | None = None, **settings: Any):
        config = load_settings(api_key=api_key, db_path=db_path, **settings)
        super().__init__(theme=config.theme, _max_datasets=config.max_datasets)
        self.settings = config
        self._session = Session(config)

    def __repr__(self) -> str:
        names = ", ".join(d.name for d in self.datasets) or "no datasets"
        return f"<ChatDF {names}>"

    # -- datasets -----------------------------------------------------------------

    def add(self, source: Any, name: str | None = None) -> Dataset:
        """Register a parquet/CSV URL or path (globs welcome) or an in-memory frame."""
        dataset = self._session.call(self._session.registry.add(source, name))
        self._sync_datasets()
        return dataset

    @property
    def datasets(self) -> list[Dataset]:
        """The registered datasets, in the order they were added."""
        return self._session.registry.datasets

    def remove(self, name: str) -> None:
        """Unregister a dataset."""
        self._session.registry.remove(name)
        self._sync_datasets()

    def rename(self, old: str, new: str) -> Dataset:
        """Give a dataset a new table name (a SQL identifier, unique in the session)."""
        dataset = self._session.registry.rename(old, new)
        self._sync_datasets()
        return dataset

    def refresh(self, name: str) -> Dataset:
        """Re-read a dataset's schema and row count."""
        dataset = self._session.call(self._session.registry.refresh(name))
        self._sync_datasets()
        return dataset

    def _sync_datasets(self) -> None:
        self._datasets = [d.model_dump() for d in self.datasets]

    # -- queries ------------------------------------------------------------------

    def sql(self, query: str) -> pl.DataFrame:
        """Run one read-only SQL query over the registered datasets in a worker process."""
        return self._session.call(self._session.run_sql(query)).data

    # -- chat -------------------------------------------------------------------------

    def ask(self, question: str) -> Answer:
        """Ask a question and wait for the whole answer (works inside a running kernel)."""
        answer = self._session.call(self._session.ask(question))
        self._sync_datasets()  # the model may have loaded one
        return answer

    async def ask_async(self, question: str) -> Answer:
        """Ask a question without blocking the caller's event loop."""
        answer = await self._session.call_async(self._session.ask(question))
        self._sync_datasets()
        return answer

    async def stream(self, question: str) -> AsyncIterator[Event]:
        """Ask a question and iterate its events as they happen; the last is an AnswerEvent.

        Examples
        --------
        >>> async for event in chat.stream("How many rows?"):  # doctest: +SKIP
        ...     if event.type == "token":
        ...         print(event.text, end="")
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Event | BaseException] = asyncio.Queue()

        def forward(event: Event) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, event)

        def failed(future: concurrent.futures.Future[Answer]) -> None:
            # ask() itself raised (empty question, a turn already running): end the iteration.
            if not future.cancelled() and future.exception() is not None:
                loop.call_soon_threadsafe(queue.put_nowait, future.exception())

        future = self._session.runtime.submit(self._session.ask(question, emit=forward))
        future.add_done_callback(failed)
        finished = False
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.type == "answer":
                    break
            await asyncio.wrap_future(future)  # the turn is saved before the next one starts
            finished = True
        finally:
            if not finished:
                self._session.stop()  # the consumer gave up early: stop the turn
        self._sync_datasets()

    def stop(self) -> bool:
        """Stop the answer being streamed (and its running query); the partial text is kept."""
        return self._session.stop()

    # -- history ------------------------------------------------------------------------

    @property
    def conversations(self) -> list[ConversationSummary]:
        """Stored conversations, most recently updated first (id, title, updated_at, message_count)."""
        return self._session.call(self._session.conversations())

    def open(self, conversation_id: str | None = None) -> Conversation | None:  # type: ignore[override]
        """Continue a stored conversation: its context comes back and its datasets are re-added.

        Without an id this is ipywidgets' own ``Widget.open()`` (which opens the
        comm and is called that way by ipywidgets itself).
        """
        if conversation_id is None:
            super().open()
            return None
        conversation = self._session.call(self._session.open_conversation(conversation_id))
        self._sync_datasets()
        return conversation

    def new(self) -> None:
        """Start a new conversation (the datasets stay loaded)."""
        self._session.new_conversation()

    def rename_conversation(self, conversation_id: str, title: str) -> ConversationSummary:
        """Give a stored conversation a new title."""
        return self._session.call(self._session.rename_conversation(conversation_id, title))

    def delete_conversation(self, conversation_id: str) -> None:
        """Delete a stored conversation and its messages."""
        self._session.call(self._session.delete_conversation(conversation_id))

    def clear_history(self) -> int:
        """Delete every stored conversation; returns how many were removed."""
        return self._session.call(self._session.clear_history())

    @property
    def conversation_id(self) -> str | None:
        """The current conversation (None until the first question is asked)."""
        return self._session.conversation_id

    @property
    def usage(self) -> UsageSummary:
        """Tokens used in the rolling 24 hours: used, limit, percent, remaining,
        resets_in_seconds and per-model totals."""
        return self._session.call(self._session.usage())

    # -- lifetime -----------------------------------------------------------------

    def close(self) -> None:
        """Stop the workers, delete temp files and close the widget."""
        session = self.__dict__.get("_session")  # absent when __init__ failed on bad settings
        if session is not None:
            session.close()
        super().close()

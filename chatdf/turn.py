"""The turn state of one session: the transcript, the dataset cards and whether a turn runs.

The :class:`~chatdf.session.Session` owns one :class:`Turns`; a ChatDF widget
only mirrors it into its synced traits (``_messages``, ``_busy``) through
:meth:`Turns.watch`, so the state has one owner whatever shows it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from . import messages as wire
from .charts import Charts
from .errors import ChatDFError
from .events import Event
from .limits import check_question
from .results import ResultCache


class Turns:
    """The transcript (:class:`chatdf.messages.ChatMessage` dicts, newest last), the
    cards of dataset adds in flight or failed, and the answer being streamed."""

    def __init__(self) -> None:
        self.lock = threading.RLock()  # changed from the kernel thread and the runtime's
        self.messages: list[dict[str, Any]] = []
        self.cards: dict[str, dict[str, Any]] = {}  # adds in flight or failed, by card id
        self.message_id: str | None = None
        """The answer being streamed; set while a turn runs, None otherwise."""
        self._watchers: list[Callable[[], None]] = []

    @property
    def running(self) -> bool:
        """The one flag that says a question is being answered."""
        return self.message_id is not None

    def watch(self, changed: Callable[[], None]) -> None:
        """Call ``changed`` (under :attr:`lock`) whenever the transcript or the flag changes."""
        self._watchers.append(changed)

    def _changed(self) -> None:
        for changed in list(self._watchers):
            changed()

    def start(self, question: str) -> str:
        """Show the question and an empty streaming answer; the answer's message id."""
        question = check_question(question)
        with self.lock:
            if self.running:
                raise ChatDFError("A question is already being answered: wait for it or press Stop.")
            answer = wire.ChatMessage(
                id=new_id(), role="assistant", status="streaming", question=question
            )
            user = wire.ChatMessage(id=new_id(), role="user", text=question)
            self.message_id = answer.id
            self.set_messages([*self.messages, user.model_dump(), answer.model_dump()])
        return answer.id

    def finish(self) -> None:
        """The turn ended (answered, stopped or failed): the next one may start."""
        with self.lock:
            self.message_id = None
            self._changed()

    def apply(self, event: Event, results: ResultCache, charts: Charts) -> None:
        """Follow one event of the running turn: the answer fills its message."""
        message_id = self.message_id
        if message_id is None or event.type != "answer":
            return
        result = results.get(event.result_id) if event.result_id else None
        record = charts.find(event.chart_id) if event.chart_id else None
        # A chart the user drew under the answer while it streamed stays (and is saved).
        drawn = next((m.get("chart") for m in self.messages if m["id"] == message_id), None)
        self.update(
            message_id,
            text=event.text,
            sql=list(event.sql),
            result=wire.result_ref(result) if result else None,
            chart=drawn or (record.summary() if record else None),
            status="stopped" if event.stopped else "error" if event.error else "complete",
            error=event.error.model_dump() if event.error else None,
        )

    def update(self, message_id: str, **changes: Any) -> None:
        with self.lock:
            self.set_messages(
                [{**m, **changes} if m["id"] == message_id else m for m in self.messages]
            )

    def set_messages(self, messages: list[dict[str, Any]]) -> None:
        with self.lock:
            self.messages = wire.fit_transcript(messages)
            self._changed()


def new_id() -> str:
    return uuid.uuid4().hex[:12]

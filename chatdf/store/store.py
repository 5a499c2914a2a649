"""The Store: one SQLite file of conversations, messages, datasets, usage and settings."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sqlite3
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite
from pydantic import JsonValue, ValidationError

from ..errors import StoreError, StoreWarning
from ..models import Dataset
from ..usage import DEFAULT_USER_KEY, WINDOW_SECONDS, UsageRow, UsageSummary, cost_of, summarize
from .records import (
    Conversation,
    ConversationSummary,
    DatasetRecord,
    MessageRecord,
    NewMessage,
    ResultPreview,
    UsageRecord,
    _epoch,
    _utc,
    make_title,
)
from .sqlite import (
    MEMORY,
    T,
    _connect,
    _location,
    _move_aside,
    _still_damaged,
    _transaction,
    _with_retry,
)

logger = logging.getLogger("chatdf.store")
_SECRET_NAME = re.compile(
    r"api.?key|secret|passw|credential|bearer|auth.?token|access.?token", re.IGNORECASE
)
_GOOGLE_KEY = re.compile(r"AIza[0-9A-Za-z_\-]{30,}")
_CONVERSATION_COLUMNS = (
    "c.id, c.title, c.created_at, c.updated_at, c.notebook_path, "
    "(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count, "
    "(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.role = 'user')"
    " AS question_count"
)


def _summary(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "title": row["title"],
        "created_at": _utc(row["created_at"]),
        "updated_at": _utc(row["updated_at"]),
        "notebook_path": row["notebook_path"],
        "message_count": row["message_count"],
        "question_count": row["question_count"],
    }


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _not_found(conversation_id: str) -> StoreError:
    return StoreError(
        f"No conversation with id {conversation_id!r}; list them with chat.conversations.",
        details={"reason": "not_found", "conversation_id": conversation_id},
    )


def _invalid(what: str, exc: ValidationError) -> StoreError:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or what}: {err['msg']}" for err in exc.errors()
    )
    return StoreError(f"Invalid {what} — {problems}", details={"reason": "invalid"})


class Store:
    """The history of one SQLite file (or ``:memory:``).

    Open with :meth:`open` (or :meth:`open_or_memory`), close with
    :meth:`close` or ``async with``. All methods are coroutines meant for one
    event loop (chatdf's runtime loop); calls are serialised on one connection.

    Attributes
    ----------
    path
        The absolute path of the file, or ``":memory:"``.
    moved_aside
        Where a damaged file found at ``path`` was moved when this store
        opened, else None.
    warning
        The user-facing warning of that move (or of falling back to memory in
        :meth:`open_or_memory`), else None.
    retries
        How many times a unit of work found the file busy and was retried.
    """

    def __init__(
        self,
        conn: aiosqlite.Connection,
        path: str,
        *,
        clock: Callable[[], float] = time.time,
        moved_aside: Path | None = None,
        warning: str | None = None,
    ) -> None:
        self._conn: aiosqlite.Connection | None = conn
        self._lock = asyncio.Lock()
        self._clock = clock
        self.path = path
        self.moved_aside = moved_aside
        self.warning = warning
        self.retries = 0

    # -- lifecycle ---------------------------------------------------------

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str] = MEMORY,
        *,
        busy_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> Store:
        """Open (creating or migrating) the history at ``path``.

        A file that is not a SQLite database, or is damaged (an integrity check
        reads every page at open: about 0.1 s for a 30 MB history), is renamed to
        ``<name>.corrupt-YYYYmmdd-HHMMSS`` and a fresh one is created; a
        :class:`StoreWarning` names the new location of the old file.

        Parameters
        ----------
        path
            A file path (its folder is created) or ``":memory:"``; usually
            ``settings.resolved_db_path()``.
        busy_timeout
            Seconds SQLite waits for another process's lock before a retry.
        clock
            Epoch-seconds clock for timestamps (tests pass a fake one).

        Raises
        ------
        StoreError
            ``details["reason"]`` is ``read_only`` when the file or its folder
            cannot be written, ``newer_schema`` for a file from a newer chatdf,
            ``busy`` when other processes held the lock throughout.
        """
        location = _location(path)
        try:
            return cls(await _connect(location, busy_timeout), location, clock=clock)
        except StoreError as exc:
            if exc.details.get("reason") != "corrupt" or location == MEMORY:
                raise
        if not await asyncio.to_thread(_still_damaged, location):
            # Another kernel moved it aside and started a fresh file meanwhile.
            return cls(await _connect(location, busy_timeout), location, clock=clock)
        moved = _move_aside(location)
        message = (
            f"The history database {location} was damaged or not a chatdf database; "
            f"it was moved to {moved} and a new, empty history was started."
        )
        logger.warning(message)
        warnings.warn(message, StoreWarning, stacklevel=2)
        conn = await _connect(location, busy_timeout)
        return cls(conn, location, clock=clock, moved_aside=moved, warning=message)

    @classmethod
    async def open_or_memory(
        cls,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> tuple[Store, str | None]:
        """Open ``path``, or an in-memory store when the file cannot be used.

        Returns the store and a warning for the user: why history falls back to
        memory, or that a damaged file was moved aside, or None when all is well.
        The chat keeps working either way; only history across sessions is lost.
        """
        try:
            store = await cls.open(path, busy_timeout=busy_timeout, clock=clock)
        except StoreError as exc:
            if os.fspath(path) == MEMORY:
                raise
            store = await cls.open(MEMORY, clock=clock)
            store.warning = f"{exc.message} History is kept in memory for this session only."
            logger.warning(store.warning)
        return store, store.warning

    async def close(self) -> None:
        """Close the connection; later calls raise StoreError. Safe to call twice."""
        conn, self._conn = self._conn, None
        if conn is not None:
            async with self._lock:
                await conn.close()

    @property
    def closed(self) -> bool:
        return self._conn is None

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Store {self.path} ({state})>"

    # -- plumbing ------------------------------------------------------------

    def _count_retry(self) -> None:
        self.retries += 1

    async def _run(
        self, action: str, work: Callable[[aiosqlite.Connection], Awaitable[T]], *, write: bool
    ) -> T:
        conn = self._conn
        if conn is None:
            raise StoreError(
                f"The history store is closed (while {action}).", details={"reason": "closed"}
            )
        async with self._lock:
            return await _with_retry(
                lambda: _transaction(conn, work, write), self.path, action, self._count_retry
            )

    # -- conversations ---------------------------------------------------------

    async def create_conversation(
        self,
        title: str | None = None,
        notebook_path: str | None = None,
        *,
        conversation_id: str | None = None,
    ) -> ConversationSummary:
        """Start an empty conversation; untitled ones are named by their first question.

        ``conversation_id`` keeps an id the caller already uses (a conversation
        carried over to a fresh file); by default a new uuid is assigned.
        """
        now = self._clock()
        record = ConversationSummary(
            id=conversation_id or str(uuid.uuid4()),
            title=make_title(title, width=200) if title else None,
            created_at=_utc(now),
            updated_at=_utc(now),
            notebook_path=notebook_path,
        )

        async def work(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO conversations (id, title, created_at, updated_at, notebook_path)"
                " VALUES (?, ?, ?, ?, ?)",
                (record.id, record.title, now, now, notebook_path),
            )

        await self._run("creating a conversation", work, write=True)
        return record

    async def list_conversations(
        self, limit: int | None = None, offset: int = 0
    ) -> list[ConversationSummary]:
        """Conversations, most recently updated first."""

        async def work(conn: aiosqlite.Connection) -> list[sqlite3.Row]:
            return list(
                await conn.execute_fetchall(
                    f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c"
                    " ORDER BY c.updated_at DESC, c.created_at DESC LIMIT ? OFFSET ?",
                    (-1 if limit is None else limit, offset),
                )
            )

        rows = await self._run("listing conversations", work, write=False)
        return [ConversationSummary(**_summary(row)) for row in rows]

    async def get_conversation(self, conversation_id: str) -> Conversation:
        """One conversation with its messages and datasets; StoreError if unknown."""

        async def work(conn: aiosqlite.Connection) -> tuple[Any, ...]:
            head = await conn.execute_fetchall(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = ?",
                (conversation_id,),
            )
            if not head:
                raise _not_found(conversation_id)
            messages = await conn.execute_fetchall(
                "SELECT id, conversation_id, role, content, sql_query, result_preview,"
                " token_count, status, tool_payload, created_at"
                " FROM messages WHERE conversation_id = ? ORDER BY seq",
                (conversation_id,),
            )
            datasets = await conn.execute_fetchall(
                "SELECT name, source, kind, schema_json, row_count, column_count, status"
                " FROM datasets WHERE conversation_id = ? ORDER BY position",
                (conversation_id,),
            )
            return next(iter(head)), messages, datasets

        head, messages, datasets = await self._run("opening a conversation", work, write=False)
        return Conversation(
            **_summary(head),
            messages=[
                MessageRecord.model_construct(
                    id=m["id"],
                    conversation_id=m["conversation_id"],
                    role=m["role"],
                    content=m["content"],
                    sql_query=m["sql_query"],
                    result_preview=(
                        ResultPreview.model_validate_json(m["result_preview"])
                        if m["result_preview"]
                        else None
                    ),
                    token_count=m["token_count"],
                    status=m["status"],
                    tool_payload=json.loads(m["tool_payload"]) if m["tool_payload"] else None,
                    created_at=_utc(m["created_at"]),
                )
                for m in messages
            ],
            datasets=[
                DatasetRecord(
                    name=d["name"],
                    source=d["source"],
                    kind=d["kind"],
                    columns=json.loads(d["schema_json"]),
                    row_count=d["row_count"],
                    column_count=d["column_count"],
                    status=d["status"],
                )
                for d in datasets
            ],
        )

    async def rename_conversation(self, conversation_id: str, title: str) -> ConversationSummary:
        """Give a conversation a title (one line, at most 200 characters)."""
        clean = make_title(title, width=200)
        if clean is None:
            raise StoreError("A conversation title cannot be blank.", details={"reason": "invalid"})

        async def work(conn: aiosqlite.Connection) -> sqlite3.Row:
            cursor = await conn.execute(
                "UPDATE conversations SET title = ? WHERE id = ?", (clean, conversation_id)
            )
            if cursor.rowcount == 0:
                raise _not_found(conversation_id)
            rows = await conn.execute_fetchall(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = ?",
                (conversation_id,),
            )
            return next(iter(rows))

        row = await self._run("renaming a conversation", work, write=True)
        return ConversationSummary(**_summary(row))

    async def delete_conversation(self, conversation_id: str) -> None:
        """Delete a conversation with its messages and datasets (usage is kept)."""

        async def work(conn: aiosqlite.Connection) -> None:
            cursor = await conn.execute(
                "DELETE FROM conversations WHERE id = ?", (conversation_id,)
            )
            if cursor.rowcount == 0:
                raise _not_found(conversation_id)

        await self._run("deleting a conversation", work, write=True)

    async def clear_history(self) -> int:
        """Delete every conversation; returns how many. Token usage is kept: the
        24-hour limit must not reset because history was cleared."""

        async def work(conn: aiosqlite.Connection) -> int:
            cursor = await conn.execute("DELETE FROM conversations")
            return cursor.rowcount

        return await self._run("clearing history", work, write=True)

    # -- messages and datasets ---------------------------------------------------

    async def add_message(
        self, conversation_id: str, message: NewMessage | Mapping[str, Any]
    ) -> MessageRecord:
        """Store one message; see :meth:`add_messages`."""
        (record,) = await self.add_messages(conversation_id, [message])
        return record

    async def add_messages(
        self, conversation_id: str, messages: Sequence[NewMessage | Mapping[str, Any]]
    ) -> list[MessageRecord]:
        """Store messages of one turn together, in order, in one transaction.

        Moves the conversation to the top of the history (updated_at) and, if it
        is untitled, titles it after the first user message.
        """
        try:
            new = [
                m if isinstance(m, NewMessage) else NewMessage.model_validate(m) for m in messages
            ]
        except ValidationError as exc:
            raise _invalid("message", exc) from None
        now = self._clock()
        records = [
            MessageRecord(
                **m.model_dump(exclude={"id", "result_preview"}),
                result_preview=m.result_preview,
                id=m.id or str(uuid.uuid4()),
                conversation_id=conversation_id,
                created_at=_utc(now),
            )
            for m in new
        ]
        title = next((make_title(r.content) for r in records if r.role == "user"), None)
        rows = [
            (
                r.id,
                conversation_id,
                r.role,
                r.content,
                r.sql_query,
                r.result_preview.model_dump_json() if r.result_preview else None,
                r.token_count,
                r.status,
                _json(r.tool_payload),
                now,
            )
            for r in records
        ]

        async def work(conn: aiosqlite.Connection) -> None:
            cursor = await conn.execute(
                "UPDATE conversations SET updated_at = ?, title = COALESCE(title, ?) WHERE id = ?",
                (now, title, conversation_id),
            )
            if cursor.rowcount == 0:
                raise _not_found(conversation_id)
            await conn.executemany(
                "INSERT INTO messages (id, conversation_id, role, content, sql_query,"
                " result_preview, token_count, status, tool_payload, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

        await self._run("saving a message", work, write=True)
        return records

    async def set_message_chart(self, message_id: str, chart: JsonValue) -> bool:
        """Keep ``chart`` as an assistant message's chart (``tool_payload["chart"]``), the one
        a reopened conversation draws; None removes it. False when no such answer is stored."""

        async def work(conn: aiosqlite.Connection) -> bool:
            async with conn.execute(
                "SELECT tool_payload FROM messages WHERE id = ? AND role = 'assistant'", (message_id,)
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return False
            payload = json.loads(row["tool_payload"]) if row["tool_payload"] else {}
            if not isinstance(payload, dict):
                payload = {}
            if chart is None:
                payload.pop("chart", None)
            else:
                payload["chart"] = chart
            await conn.execute(
                "UPDATE messages SET tool_payload = ? WHERE id = ?", (_json(payload), message_id)
            )
            return True

        return await self._run("saving a chart", work, write=True)

    async def save_datasets(
        self, conversation_id: str, datasets: Sequence[DatasetRecord | Dataset | Mapping[str, Any]]
    ) -> list[DatasetRecord]:
        """Replace the datasets attached to a conversation with ``datasets`` (in order)."""
        try:
            records = [
                DatasetRecord.from_dataset(d)
                if isinstance(d, Dataset)
                else DatasetRecord.model_validate(d)
                for d in datasets
            ]
        except ValidationError as exc:
            raise _invalid("dataset", exc) from None
        names = [r.name for r in records]
        if len(set(names)) != len(names):
            raise StoreError(
                f"Dataset names must be unique in a conversation: {names}.",
                details={"reason": "invalid"},
            )
        rows = [
            (
                conversation_id,
                position,
                r.name,
                r.source,
                r.kind,
                json.dumps([c.model_dump() for c in r.columns]),
                r.row_count,
                r.column_count,
                r.status,
            )
            for position, r in enumerate(records)
        ]

        async def work(conn: aiosqlite.Connection) -> None:
            found = await conn.execute_fetchall(
                "SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)
            )
            if not found:
                raise _not_found(conversation_id)
            await conn.execute("DELETE FROM datasets WHERE conversation_id = ?", (conversation_id,))
            await conn.executemany(
                "INSERT INTO datasets (conversation_id, position, name, source, kind,"
                " schema_json, row_count, column_count, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

        await self._run("saving datasets", work, write=True)
        return records

    # -- usage -------------------------------------------------------------------

    async def record_usage(
        self,
        user_key: str,
        conversation_id: str | None,
        model: str,
        input_tokens: int,
        output_tokens: int,
        now: datetime | float | None = None,
    ) -> UsageRecord:
        """Record one Gemini call and its cost (priced by :func:`chatdf.usage.cost_of`).

        A ``conversation_id`` that no longer exists (deleted meanwhile) is stored
        as None: usage is never dropped.
        """
        for name, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise StoreError(
                    f"{name} must be a whole number ≥ 0, got {value!r}.",
                    details={"reason": "invalid"},
                )
        if not user_key or not model:
            raise StoreError(
                "record_usage needs a user key and a model name.", details={"reason": "invalid"}
            )
        ts = _epoch(now, self._clock)
        cost = cost_of(model, input_tokens, output_tokens)

        async def work(conn: aiosqlite.Connection) -> str | None:
            await conn.execute(
                "INSERT INTO token_usage (user_key, conversation_id, model_name, input_tokens,"
                " output_tokens, cost, timestamp)"
                " VALUES (?, (SELECT id FROM conversations WHERE id = ?), ?, ?, ?, ?, ?)",
                (user_key, conversation_id, model, input_tokens, output_tokens, cost, ts),
            )
            rows = await conn.execute_fetchall(
                "SELECT conversation_id FROM token_usage WHERE rowid = last_insert_rowid()"
            )
            return next(iter(rows))[0]

        kept = await self._run("recording token usage", work, write=True)
        return UsageRecord(
            user_key=user_key,
            conversation_id=kept,
            model_name=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost=cost,
            timestamp=_utc(ts),
        )

    async def usage_summary(
        self,
        user_key: str = DEFAULT_USER_KEY,
        limit: int = 0,
        now: datetime | float | None = None,
    ) -> UsageSummary:
        """Usage of ``user_key`` over the 24 hours before ``now``; ``limit`` 0 is unlimited."""
        if limit < 0:
            raise StoreError(
                f"The token limit must be ≥ 0, got {limit}.", details={"reason": "invalid"}
            )
        ts = _epoch(now, self._clock)

        async def work(conn: aiosqlite.Connection) -> list[UsageRow]:
            rows = await conn.execute_fetchall(
                "SELECT timestamp, model_name, input_tokens, output_tokens, cost"
                " FROM token_usage WHERE user_key = ? AND timestamp > ?",
                (user_key, ts - WINDOW_SECONDS),
            )
            return [UsageRow(*row) for row in rows]

        rows = await self._run("reading token usage", work, write=False)
        return summarize(user_key, rows, limit, ts)

    # -- settings ------------------------------------------------------------------

    async def get_setting(self, key: str, default: JsonValue = None) -> JsonValue:
        """A stored UI preference (JSON value), or ``default``."""

        async def work(conn: aiosqlite.Connection) -> list[sqlite3.Row]:
            return list(
                await conn.execute_fetchall("SELECT value FROM settings WHERE key = ?", (key,))
            )

        rows = await self._run("reading a setting", work, write=False)
        return json.loads(rows[0]["value"]) if rows else default

    async def set_setting(self, key: str, value: JsonValue) -> None:
        """Store a UI preference such as the theme. Credentials are refused."""
        try:
            text = json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise StoreError(
                f"Setting {key!r} must be JSON (text, number, list, dict): {exc}",
                details={"reason": "invalid"},
            ) from None
        if _SECRET_NAME.search(key) or _GOOGLE_KEY.search(text):
            raise StoreError(
                f"Refusing to store setting {key!r}: API keys and other credentials are "
                "never written to the history database.",
                details={"reason": "secret"},
            )

        async def work(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, text),
            )

        await self._run("saving a setting", work, write=True)

"""The history store: conversations, messages, datasets, token usage, settings.

Every SQL statement of chatdf lives in this module. Callers get typed pydantic
records and :class:`~chatdf.errors.StoreError`, never sqlite3 objects or errors.

One SQLite file (or ``:memory:``) is opened through aiosqlite in WAL mode with
foreign keys on. Several kernels may share the file (two notebooks open), so
every unit of work is one transaction (writes take the write lock up front with
``BEGIN IMMEDIATE``), SQLite waits ``busy_timeout`` for a lock, and a unit that
still finds the file busy is retried a few times with jittered backoff.

The schema is versioned with ``PRAGMA user_version``: :data:`MIGRATIONS` is a
list of forward steps, step N moving a file from version N-1 to N. Released
steps are never edited; changes append a step.

The Gemini API key is never stored: no table has a column for it, the user key
is an opaque local id (``"local"`` unless a later issue signs users in), and
:meth:`Store.set_setting` refuses names that look like credentials.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import random
import re
import sqlite3
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

from .errors import StoreError, StoreWarning
from .models import ColumnInfo, Dataset, SourceKind
from .usage import DEFAULT_USER_KEY, WINDOW_SECONDS, UsageRow, UsageSummary, cost_of, summarize

__all__ = [
    "MEMORY",
    "MIGRATIONS",
    "Conversation",
    "ConversationSummary",
    "DatasetRecord",
    "MessageRecord",
    "NewMessage",
    "ResultPreview",
    "Store",
    "StoreWarning",
    "UsageRecord",
    "make_title",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

MEMORY = ":memory:"

TITLE_WIDTH = 60
"""Longest automatic title, ellipsis included."""

MAX_PREVIEW_ROWS = 10
MAX_PREVIEW_COLUMNS = 50
MAX_PREVIEW_CELL = 200
MAX_PREVIEW_BYTES = 8 * 1024
"""A result preview is what the history shows before a query is re-run, not the data."""

RETRY_SECONDS = 10.0
"""How long a unit of work that keeps finding the file busy is retried (after the
busy_timeout SQLite itself waits on each try) before the caller gets a StoreError."""

# ---------------------------------------------------------------------------
# Schema

MIGRATIONS: list[tuple[str, ...]] = [
    # 1: the tables.
    (
        """CREATE TABLE conversations (
            id            TEXT PRIMARY KEY,
            title         TEXT,
            created_at    REAL NOT NULL,
            updated_at    REAL NOT NULL,
            notebook_path TEXT
        )""",
        """CREATE TABLE messages (
            seq             INTEGER PRIMARY KEY,
            id              TEXT NOT NULL UNIQUE,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role            TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'tool')),
            content         TEXT NOT NULL DEFAULT '',
            sql_query       TEXT,
            result_preview  TEXT,
            token_count     INTEGER,
            status          TEXT NOT NULL DEFAULT 'complete'
                            CHECK (status IN ('complete', 'stopped', 'error')),
            tool_payload    TEXT,
            created_at      REAL NOT NULL
        )""",
        """CREATE TABLE datasets (
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            position        INTEGER NOT NULL,
            name            TEXT NOT NULL,
            source          TEXT NOT NULL,
            kind            TEXT NOT NULL,
            schema_json     TEXT NOT NULL DEFAULT '[]',
            row_count       INTEGER,
            column_count    INTEGER,
            status          TEXT NOT NULL DEFAULT 'ready',
            PRIMARY KEY (conversation_id, name)
        )""",
        """CREATE TABLE token_usage (
            id              INTEGER PRIMARY KEY,
            user_key        TEXT NOT NULL,
            conversation_id TEXT REFERENCES conversations(id) ON DELETE SET NULL,
            model_name      TEXT NOT NULL,
            input_tokens    INTEGER NOT NULL,
            output_tokens   INTEGER NOT NULL,
            cost            REAL NOT NULL,
            timestamp       REAL NOT NULL
        )""",
        """CREATE TABLE settings (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
    ),
    # 2: indexes for listing history, opening a conversation, cascading deletes
    # and reading one user's 24-hour window without scanning whole tables.
    (
        "CREATE INDEX messages_by_conversation ON messages(conversation_id, seq)",
        "CREATE INDEX conversations_by_updated ON conversations(updated_at DESC)",
        "CREATE INDEX token_usage_by_user_time ON token_usage(user_key, timestamp)",
        "CREATE INDEX token_usage_by_conversation ON token_usage(conversation_id)",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)

# ---------------------------------------------------------------------------
# Records

Role = Literal["user", "assistant", "tool"]
MessageStatus = Literal["complete", "stopped", "error"]


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def _epoch(now: datetime | float | None, clock: Callable[[], float]) -> float:
    if now is None:
        return clock()
    return now.timestamp() if isinstance(now, datetime) else float(now)


def make_title(text: str, width: int = TITLE_WIDTH) -> str | None:
    """A conversation title from a question: one line, at most ``width`` characters.

    Long questions are cut at a word boundary when one is near and end with an
    ellipsis; blank text gives None (the conversation stays untitled).
    """
    line = " ".join(text.split())
    if not line:
        return None
    if len(line) <= width:
        return line
    cut = line[: width - 1]
    space = cut.rfind(" ")
    if space >= width * 2 // 3:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + "…"


def _cell(value: Any, limit: int = MAX_PREVIEW_CELL) -> JsonValue:
    """One preview cell as JSON the browser can parse (no NaN, no huge strings)."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ResultPreview(BaseModel):
    """The first rows of a query result as the history keeps them.

    Capped on construction (rows, columns, cell length, total JSON size) so a
    message row stays small; ``truncated`` tells the UI that more existed.
    ``total_rows`` is the size of the full result when known.
    """

    columns: list[str]
    rows: list[list[JsonValue]] = Field(default_factory=list)
    total_rows: int | None = None
    truncated: bool = False

    @model_validator(mode="after")
    def _cap(self) -> ResultPreview:
        width = min(len(self.columns), MAX_PREVIEW_COLUMNS)
        kept = self.rows[:MAX_PREVIEW_ROWS]
        narrowed = width < len(self.columns)
        self.columns = self.columns[:width]
        # Wide rows of long text get shorter cells rather than no rows at all.
        for cell_limit in (MAX_PREVIEW_CELL, 60, 20):
            rows = [[_cell(v, cell_limit) for v in row[:width]] for row in kept]
            while rows and len(json.dumps([self.columns, rows])) > MAX_PREVIEW_BYTES:
                rows.pop()
            if rows or not kept:
                break
        cut = len(rows) < len(self.rows) or any(
            len(row) > width or any(isinstance(v, str) and len(v) > cell_limit for v in row)
            for row in kept
        )
        self.rows = rows
        self.truncated = self.truncated or cut or narrowed
        return self

    @classmethod
    def from_frame(cls, frame: Any, total_rows: int | None = None) -> ResultPreview:
        """Preview the head of a Polars DataFrame (dates, decimals etc. become text)."""
        head = frame.head(MAX_PREVIEW_ROWS)
        total = frame.height if total_rows is None else total_rows
        return cls(
            columns=list(frame.columns),
            rows=[[_cell(v) for v in row] for row in head.rows()],
            total_rows=total,
            truncated=total > head.height,
        )


class NewMessage(BaseModel):
    """A message to store: one user question, assistant answer or tool round.

    ``tool_payload`` is the JSON the controller needs to replay a tool round to
    the model (function call name and args, function response); the store keeps
    it verbatim. ``status`` is ``stopped`` or ``error`` for turns that did not
    complete, whose partial content is kept. ``id`` may be given by the caller
    (e.g. the id the widget already shows); otherwise a uuid is assigned.
    """

    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str = ""
    sql_query: str | None = None
    result_preview: ResultPreview | None = None
    token_count: int | None = Field(default=None, ge=0)
    status: MessageStatus = "complete"
    tool_payload: JsonValue = None
    id: str | None = None


class MessageRecord(NewMessage):
    """A stored message."""

    id: str
    conversation_id: str
    created_at: datetime
    chart: Any = Field(default=None, exclude=True, repr=False)
    """On an assistant message: its chart as an Altair chart, once the session has
    rebuilt it from ``tool_payload["chart"]`` (the store itself leaves it None)."""


class DatasetRecord(BaseModel):
    """A dataset attached to a conversation, enough to register it again."""

    name: str
    source: str
    kind: SourceKind
    columns: list[ColumnInfo] = Field(default_factory=list)
    row_count: int | None = None
    column_count: int | None = None
    status: str = "ready"
    """``ready`` when it loaded; the caller may store others (e.g. ``error``, ``unavailable``)."""

    @classmethod
    def from_dataset(cls, dataset: Dataset, status: str = "ready") -> DatasetRecord:
        return cls(
            name=dataset.name,
            source=dataset.source,
            kind=dataset.kind,
            columns=list(dataset.columns),
            row_count=dataset.row_count,
            column_count=dataset.column_count,
            status=status,
        )

    def to_dataset(self) -> Dataset:
        """The :class:`~chatdf.models.Dataset` this record describes (counts as last seen)."""
        return Dataset(
            name=self.name,
            source=self.source,
            kind=self.kind,
            row_count=self.row_count or 0,
            column_count=len(self.columns) if self.column_count is None else self.column_count,
            columns=self.columns,
        )


class ConversationSummary(BaseModel):
    """One line of the history list."""

    id: str
    title: str | None
    """None until the first question names it (or a rename)."""
    created_at: datetime
    updated_at: datetime
    notebook_path: str | None = None
    message_count: int = 0
    question_count: int = 0
    """The person's questions (user messages): what the history list counts."""


class Conversation(ConversationSummary):
    """A conversation with its messages (oldest first) and datasets (as saved)."""

    messages: list[MessageRecord] = Field(default_factory=list)
    datasets: list[DatasetRecord] = Field(default_factory=list)


class UsageRecord(BaseModel):
    """One recorded Gemini call."""

    user_key: str
    conversation_id: str | None
    model_name: str
    input_tokens: int
    output_tokens: int
    cost: float
    timestamp: datetime


# ---------------------------------------------------------------------------
# sqlite errors -> StoreError

_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_DAMAGED = {sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT}
_UNWRITABLE = {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM}


def _code(exc: sqlite3.Error) -> int:
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF  # primary code of an extended one


def _is_busy(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    return _code(exc) in _BUSY or "locked" in str(exc) or "busy" in str(exc)


def _read_only_error(path: str, why: str) -> StoreError:
    return StoreError(
        f"The history database {path} cannot be written ({why}). Set CHATDF_DB_PATH "
        "(or db_path=) to a file in a writable folder, or ':memory:' to keep history "
        "only for this session.",
        details={"reason": "read_only", "path": path},
    )


def _store_error(exc: sqlite3.Error, path: str, action: str) -> StoreError:
    code = _code(exc)
    if _is_busy(exc):
        return StoreError(
            f"The history database {path} stayed locked by another process while "
            f"{action}; try again in a moment.",
            details={"reason": "busy", "path": path},
        )
    if code in _UNWRITABLE:
        return _read_only_error(path, str(exc))
    if code in _DAMAGED:
        return StoreError(
            f"The history database {path} is damaged ({exc}) while {action}. Open the "
            "store again to move it aside and start a fresh history.",
            details={"reason": "corrupt", "path": path},
        )
    if code == sqlite3.SQLITE_FULL:
        return StoreError(
            f"The disk holding {path} is full while {action}; free some space.",
            details={"reason": "disk_full", "path": path},
        )
    return StoreError(
        f"The history database {path} failed while {action}: {exc}",
        details={"reason": "sqlite", "path": path},
    )


async def _with_retry(
    work: Callable[[], Awaitable[T]], path: str, action: str, on_retry: Callable[[], None]
) -> T:
    """Run ``work``, retrying while SQLite reports the file busy, then translate errors."""
    deadline = time.monotonic() + RETRY_SECONDS
    delay = 0.02
    while True:
        try:
            return await work()
        except sqlite3.Error as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise _store_error(exc, path, action) from None
        except ValueError as exc:
            if "connection" not in str(exc).lower():
                raise
            # aiosqlite: the connection was closed underneath this unit of work.
            raise StoreError(
                f"The history store is closed while {action}.", details={"reason": "closed"}
            ) from exc
        on_retry()
        # Jitter keeps two kernels that collided from colliding again in lockstep.
        await asyncio.sleep(random.uniform(delay / 2, delay))
        delay = min(delay * 2, 0.5)


async def _transaction(
    conn: aiosqlite.Connection, work: Callable[[aiosqlite.Connection], Awaitable[T]], write: bool
) -> T:
    """Run ``work`` inside one transaction; roll back on any error or cancellation."""
    if conn.in_transaction:  # left open by a rollback that was itself cancelled
        await conn.execute("ROLLBACK")
    # IMMEDIATE takes the write lock before reading, so a writer never has to upgrade
    # a read snapshot another process invalidated (SQLite fails that without waiting).
    await conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        result = await work(conn)
        await conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
        raise
    return result


# ---------------------------------------------------------------------------
# Opening a file


def _location(path: str | os.PathLike[str]) -> str:
    text = os.fspath(path)
    if text == MEMORY:
        return MEMORY
    if not text.strip():
        raise StoreError("The history database path is empty.", details={"reason": "invalid"})
    try:
        return str(Path(text).expanduser().resolve())
    except (OSError, RuntimeError) as exc:  # no home folder, a symlink loop, a folder we may not enter
        raise _read_only_error(text, f"the path cannot be resolved: {exc}") from None


def _check_writable(location: str) -> None:
    """Fail early and clearly where SQLite would fail late or open read-only in silence."""
    file = Path(location)
    try:
        is_dir = file.is_dir()
    except OSError as exc:  # a folder on the way that may not be entered
        raise _read_only_error(location, exc.strerror or str(exc)) from None
    if is_dir:
        raise StoreError(
            f"The history database path {location} is a folder; give a file name.",
            details={"reason": "read_only", "path": location},
        )
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _read_only_error(location, f"cannot create its folder: {exc.strerror}") from None
    if not os.access(file.parent, os.W_OK):
        raise _read_only_error(location, "its folder is not writable")
    if os.path.exists(file) and not os.access(file, os.W_OK):
        raise _read_only_error(location, "the file is read-only")


QUICK_CHECK = "PRAGMA quick_check(1)"
"""SQLite opens a file whose header and schema are intact however damaged the rest
is, and fails only when a damaged page is read. This reads every page (b-trees,
free list, records; unlike integrity_check it does not match indexes to rows, so
it stays linear in the file size) and stops at the first problem."""


def _problem(rows: Sequence[Any]) -> str | None:
    """The first problem a :data:`QUICK_CHECK` reported, or None for ``ok``."""
    first = str(rows[0][0]) if rows else "no answer"
    return None if first == "ok" else first[:200]


async def _check_integrity(conn: aiosqlite.Connection, location: str) -> None:
    async with conn.execute(QUICK_CHECK) as cursor:
        problem = _problem(list(await cursor.fetchall()))
    if problem is not None:
        raise StoreError(
            f"The history database {location} is damaged ({problem}).",
            details={"reason": "corrupt", "path": location},
        )


def _still_damaged(location: str) -> bool:
    """Re-check before moving a file: another kernel may have replaced it already."""
    try:
        probe = sqlite3.connect(location)
    except sqlite3.Error:
        return False  # gone or unopenable: nothing to move; reopening reports why
    try:
        return _problem(probe.execute(QUICK_CHECK).fetchall()) is not None
    except sqlite3.DatabaseError as exc:
        return _code(exc) in _DAMAGED
    finally:
        probe.close()


def _move_aside(location: str) -> Path:
    """Rename a damaged file (and its journal files) to ``<name>.corrupt-<timestamp>``."""
    src = Path(location)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        target = src.with_name(f"{src.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            target = src.with_name(f"{src.name}.corrupt-{stamp}-{n}")
            n += 1
        os.replace(src, target)
        for suffix in ("-wal", "-journal"):
            side = Path(location + suffix)
            if side.exists():
                os.replace(side, Path(str(target) + suffix))
        Path(location + "-shm").unlink(missing_ok=True)  # only an index into the WAL
    except OSError as exc:
        raise _read_only_error(location, f"damaged, and moving it aside failed: {exc}") from None
    return target


async def _configure(conn: aiosqlite.Connection, location: str) -> None:
    memory = location == MEMORY
    await conn.execute("PRAGMA foreign_keys = ON")
    # Checked before switching to WAL so a newer chatdf's file is left byte for byte.
    await _schema_version(conn)
    if not memory:
        # Before anything is written: a damaged file is moved aside as it was found.
        await _check_integrity(conn, location)
        await conn.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL never corrupts; a power cut may lose the last commits.
        await conn.execute("PRAGMA synchronous = NORMAL")
    await _migrate(conn)


async def _schema_version(conn: aiosqlite.Connection) -> int:
    """The file's ``user_version``; StoreError when a newer chatdf wrote it."""
    async with conn.execute("PRAGMA user_version") as cursor:
        (version,) = await cursor.fetchone()  # type: ignore[misc]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"The history database was written by a newer chatdf (schema {version}, "
            f"this one knows {SCHEMA_VERSION}); upgrade chatdf or use another db_path.",
            details={"reason": "newer_schema"},
        )
    return version


async def _migrate(conn: aiosqlite.Connection) -> None:
    """Bring the file to :data:`SCHEMA_VERSION` in one transaction."""
    await conn.execute("BEGIN IMMEDIATE")
    try:
        version = await _schema_version(conn)  # again: another kernel may have migrated
        for step in MIGRATIONS[version:]:
            for statement in step:
                await conn.execute(statement)
        # Written even when nothing changed: SQLite opens a read-only file without
        # complaint and fails only at the first write, which must happen here.
        await conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        await conn.execute("COMMIT" if version < SCHEMA_VERSION else "ROLLBACK")
    except BaseException:
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
        raise


async def _connect(location: str, busy_timeout: float) -> aiosqlite.Connection:
    memory = location == MEMORY
    if not memory:
        _check_writable(location)
    pending = aiosqlite.connect(location, timeout=busy_timeout, isolation_level=None)
    # aiosqlite's worker thread is not a daemon: a store the user never closed would
    # keep the kernel from exiting. Committed work is durable either way.
    thread = getattr(pending, "_thread", None)
    if thread is not None:
        thread.daemon = True
    try:
        conn = await pending
    except sqlite3.Error as exc:
        raise _store_error(exc, location, "opening it") from None
    conn.row_factory = sqlite3.Row
    try:
        await _with_retry(lambda: _configure(conn, location), location, "opening it", lambda: None)
    except BaseException:
        await conn.close()
        raise
    return conn


# ---------------------------------------------------------------------------
# The store

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

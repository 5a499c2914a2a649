"""SQLite plumbing: the schema and its migrations, connections, transactions, busy retries,
and translating sqlite3 errors into StoreError.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from ..errors import StoreError
from ..retry import RetryPolicy

T = TypeVar("T")
MEMORY = ":memory:"
RETRY_SECONDS = 10.0
"""How long a unit of work that keeps finding the file busy is retried (after the
busy_timeout SQLite itself waits on each try) before the caller gets a StoreError."""
# Jitter keeps two kernels that collided from colliding again in lockstep.
_BUSY_RETRY = RetryPolicy(
    attempts=None, initial_delay=0.02, max_delay=0.5, budget=RETRY_SECONDS, jitter=(0.5, 1.0)
)
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
    backoff = _BUSY_RETRY.start()
    while True:
        try:
            return await work()
        except sqlite3.Error as exc:
            if not _is_busy(exc) or not backoff.can_retry():
                raise _store_error(exc, path, action) from None
        except ValueError as exc:
            if "connection" not in str(exc).lower():
                raise
            # aiosqlite: the connection was closed underneath this unit of work.
            raise StoreError(
                f"The history store is closed while {action}.", details={"reason": "closed"}
            ) from exc
        on_retry()
        await backoff.wait()


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

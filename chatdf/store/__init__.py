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

Modules: :mod:`.records` (the pydantic records), :mod:`.sqlite` (schema,
migrations, connections, transactions, error translation), :mod:`.store` (the
:class:`Store`).
"""

from ..errors import StoreWarning
from .records import (
    MAX_PREVIEW_BYTES,
    MAX_PREVIEW_CELL,
    MAX_PREVIEW_COLUMNS,
    MAX_PREVIEW_ROWS,
    TITLE_WIDTH,
    Conversation,
    ConversationSummary,
    DatasetRecord,
    MessageRecord,
    MessageStatus,
    NewMessage,
    ResultPreview,
    Role,
    UsageRecord,
    make_title,
)
from .sqlite import MEMORY, MIGRATIONS, QUICK_CHECK, RETRY_SECONDS, SCHEMA_VERSION
from .store import Store

__all__ = [
    "MAX_PREVIEW_BYTES",
    "MAX_PREVIEW_CELL",
    "MAX_PREVIEW_COLUMNS",
    "MAX_PREVIEW_ROWS",
    "MEMORY",
    "MIGRATIONS",
    "QUICK_CHECK",
    "RETRY_SECONDS",
    "SCHEMA_VERSION",
    "TITLE_WIDTH",
    "Conversation",
    "ConversationSummary",
    "DatasetRecord",
    "MessageRecord",
    "MessageStatus",
    "NewMessage",
    "ResultPreview",
    "Role",
    "Store",
    "StoreWarning",
    "UsageRecord",
    "make_title",
]

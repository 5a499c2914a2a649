"""Schema creation, pragmas and forward migrations from older ``user_version``s."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chatdf.errors import StoreError
from chatdf.store import MEMORY, MIGRATIONS, SCHEMA_VERSION, Store

TABLES = {"conversations", "messages", "datasets", "token_usage", "settings"}
INDEXES = {
    "messages_by_conversation",
    "conversations_by_updated",
    "token_usage_by_user_time",
    "token_usage_by_conversation",
}


def names(raw, kind: str) -> set[str]:
    return {
        name
        for (name,) in raw("SELECT name FROM sqlite_master WHERE type = ?", (kind,))
        if not name.startswith("sqlite_")
    }


async def test_a_new_file_gets_the_whole_schema_in_wal_mode(db_path: Path, raw) -> None:
    store = await Store.open(db_path)
    await store.close()

    assert raw("PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert raw("PRAGMA journal_mode") == [("wal",)]
    assert names(raw, "table") == TABLES
    assert names(raw, "index") >= INDEXES


async def test_an_existing_empty_file_at_version_0_is_migrated(db_path: Path, raw) -> None:
    db_path.touch()  # what sqlite3.connect() leaves behind: a valid, empty database

    store = await Store.open(db_path)
    conversation = await store.create_conversation("kept")
    await store.close()

    assert raw("PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert raw("SELECT title FROM conversations WHERE id = ?", (conversation.id,)) == [("kept",)]


async def test_a_version_1_file_gains_the_indexes_and_keeps_its_data(db_path: Path, raw) -> None:
    # Built by hand as the first release would have left it: tables only, no indexes.
    conn = sqlite3.connect(db_path)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO conversations VALUES ('c1', 'Old question', 100.0, 200.0, 'a.ipynb')")
    conn.execute(
        "INSERT INTO messages (id, conversation_id, role, content, created_at)"
        " VALUES ('m1', 'c1', 'user', 'How many rows?', 150.0)"
    )
    conn.commit()
    conn.close()
    assert not INDEXES & names(raw, "index")

    store = await Store.open(db_path)
    listed = await store.list_conversations()
    opened = await store.get_conversation("c1")
    await store.close()

    assert raw("PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert names(raw, "index") >= INDEXES
    assert [(c.id, c.title, c.message_count) for c in listed] == [("c1", "Old question", 1)]
    assert opened.notebook_path == "a.ipynb"
    assert [m.content for m in opened.messages] == ["How many rows?"]


async def test_a_file_from_a_newer_chatdf_is_refused_and_left_alone(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE future (x)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    before = db_path.read_bytes()

    with pytest.raises(StoreError, match="newer chatdf") as info:
        await Store.open(db_path)

    assert info.value.details["reason"] == "newer_schema"
    assert db_path.read_bytes() == before
    assert [p.name for p in db_path.parent.iterdir() if "corrupt" in p.name] == []


async def test_reopening_an_up_to_date_file_changes_nothing(db_path: Path, raw) -> None:
    store = await Store.open(db_path)
    await store.close()
    store = await Store.open(db_path)
    await store.close()

    assert raw("PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert names(raw, "table") == TABLES


async def test_memory_store_works_without_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = await Store.open(MEMORY)
    conversation = await store.create_conversation()
    await store.add_message(conversation.id, {"role": "user", "content": "hi"})

    assert [c.title for c in await store.list_conversations()] == ["hi"]
    assert store.path == MEMORY
    await store.close()
    assert list(tmp_path.iterdir()) == []

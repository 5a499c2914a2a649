"""Damaged files, read-only locations, and the API key that must never reach the file."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chatdf.errors import StoreError
from chatdf.settings import load_settings
from chatdf.store import MEMORY, NewMessage, Store, StoreWarning


@pytest.mark.parametrize(
    "garbage",
    [os.urandom(8192), b"this is a CSV, not a database\n1,2,3\n" * 50],
    ids=["random-bytes", "text-file"],
)
async def test_a_damaged_file_is_moved_aside_and_a_fresh_history_starts(
    db_path: Path, garbage: bytes
) -> None:
    db_path.write_bytes(garbage)

    with pytest.warns(StoreWarning, match="moved to") as caught:
        store = await Store.open(db_path)

    moved = store.moved_aside
    assert moved is not None
    assert re.fullmatch(r"history\.db\.corrupt-\d{8}-\d{6}", moved.name)
    assert moved.read_bytes() == garbage  # the user's old file is kept untouched
    assert str(moved) in str(caught[0].message) and store.warning == str(caught[0].message)
    conversation = await store.create_conversation("fresh")
    await store.close()

    reopened = await Store.open(db_path)
    assert [c.id for c in await reopened.list_conversations()] == [conversation.id]
    assert reopened.moved_aside is None and reopened.warning is None
    await reopened.close()


async def history_with_conversations(path: Path, count: int = 40) -> list[str]:
    """A real history file with ``count`` conversations of a few kilobytes each."""
    store = await Store.open(path)
    ids = []
    for n in range(count):
        conversation = await store.create_conversation(f"question {n}")
        await store.add_messages(
            conversation.id,
            [
                NewMessage(role="user", content=f"question {n} " + "q" * 1500),
                NewMessage(role="assistant", content=f"answer {n} " + "a" * 3000),
            ],
        )
        ids.append(conversation.id)
    await store.close()  # checkpoints the WAL into the file
    return ids


def overwrite_second_half(path: Path) -> bytes:
    data = bytearray(path.read_bytes())
    half = len(data) // 2
    data[half:] = os.urandom(len(data) - half)
    path.write_bytes(bytes(data))
    return bytes(data)


async def test_a_file_damaged_past_its_header_is_caught_at_open(db_path: Path) -> None:
    # The header and schema pages are intact, so SQLite opens the file happily; only
    # reading the damaged pages fails. The integrity check at open finds them.
    await history_with_conversations(db_path)
    assert db_path.stat().st_size > 200_000
    damaged = overwrite_second_half(db_path)

    with pytest.warns(StoreWarning, match="moved to"):
        store = await Store.open(db_path)

    assert store.moved_aside is not None and store.moved_aside.read_bytes() == damaged
    assert await store.list_conversations() == []
    conversation = await store.create_conversation("after the damage")
    await store.add_message(conversation.id, NewMessage(role="user", content="still works"))
    await store.close()

    reopened = await Store.open(db_path)  # the fresh file passes the check: no warning
    assert [c.title for c in await reopened.list_conversations()] == ["after the damage"]
    assert reopened.moved_aside is None
    await reopened.close()


async def test_a_healthy_file_is_left_alone(db_path: Path) -> None:
    ids = await history_with_conversations(db_path, count=5)
    store = await Store.open(db_path)
    assert {c.id for c in await store.list_conversations()} == set(ids)
    assert store.moved_aside is None and store.warning is None
    await store.close()
    assert [p.name for p in db_path.parent.iterdir() if "corrupt" in p.name] == []


async def test_open_or_memory_reports_the_move(db_path: Path) -> None:
    db_path.write_bytes(b"\x00garbage" * 100)

    with pytest.warns(StoreWarning):
        store, warning = await Store.open_or_memory(db_path)

    assert store.path == str(db_path)
    assert warning is not None and str(store.moved_aside) in warning
    await store.close()


async def test_a_folder_given_as_the_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a folder") as info:
        await Store.open(tmp_path)

    assert info.value.details["reason"] == "read_only"
    assert list(tmp_path.iterdir()) == []  # nothing moved or created


async def test_open_or_memory_falls_back_and_the_chat_keeps_its_history_in_memory(
    tmp_path: Path,
) -> None:
    store, warning = await Store.open_or_memory(tmp_path)

    assert store.path == MEMORY
    assert warning is not None and "in memory for this session" in warning
    assert str(tmp_path) in warning
    conversation = await store.create_conversation()
    await store.add_message(conversation.id, NewMessage(role="user", content="still works"))
    assert [c.title for c in await store.list_conversations()] == ["still works"]
    await store.close()


# Read-only locations. Root ignores permission bits, so as root the path is made
# immutable instead (chattr +i), which binds root too.


def cannot_test(reason: str) -> None:
    """Skip locally; in CI a missing prerequisite is a failure, never a skip."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def make_read_only() -> Iterator[Callable[[Path], None]]:
    undo: list[Callable[[], object]] = []

    def apply(path: Path) -> None:
        if os.geteuid() == 0:
            done = subprocess.run(
                ["chattr", "+i", str(path)], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                cannot_test(f"running as root and chattr +i failed: {done.stderr}")
            undo.append(lambda: subprocess.run(["chattr", "-i", str(path)], check=True))
        else:
            mode = path.stat().st_mode
            path.chmod(0o555 if path.is_dir() else 0o444)
            undo.append(lambda: path.chmod(mode))
        if os.access(path, os.W_OK):
            cannot_test(f"could not make {path} read-only here")

    yield apply
    for step in reversed(undo):
        step()


async def test_a_read_only_folder_is_a_clear_error_and_memory_still_works(
    tmp_path: Path, make_read_only: Callable[[Path], None]
) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    make_read_only(folder)
    path = folder / "history.db"

    with pytest.raises(StoreError, match="cannot be written") as info:
        await Store.open(path)

    message = info.value.message
    assert info.value.details == {"reason": "read_only", "path": str(path)}
    assert "folder is not writable" in message and "CHATDF_DB_PATH" in message
    store, warning = await Store.open_or_memory(path)
    assert store.path == MEMORY
    assert warning is not None and warning.startswith(message)
    await store.create_conversation("in memory")
    assert [c.title for c in await store.list_conversations()] == ["in memory"]
    await store.close()
    assert not path.exists()


async def test_a_read_only_file_is_a_clear_error_and_is_left_as_it_was(
    db_path: Path, make_read_only: Callable[[Path], None]
) -> None:
    store = await Store.open(db_path)
    await store.create_conversation("from before")
    await store.close()
    make_read_only(db_path)
    before = db_path.read_bytes()

    with pytest.raises(StoreError, match="the file is read-only") as info:
        await Store.open(db_path)

    assert info.value.details["reason"] == "read_only"
    assert db_path.read_bytes() == before
    assert [p.name for p in db_path.parent.iterdir() if "corrupt" in p.name] == []


async def test_a_read_only_file_is_caught_at_open_even_when_permissions_look_fine(
    db_path: Path, make_read_only: Callable[[Path], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Network filesystems and ACLs can make access() answer yes; SQLite then opens the
    # file read-only in silence, so the store must find out before the first real write.
    store = await Store.open(db_path)
    await store.close()
    make_read_only(db_path)
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: True)

    with pytest.raises(StoreError, match="cannot be written") as info:
        await Store.open(db_path)

    assert info.value.details["reason"] == "read_only"


async def test_the_api_key_never_reaches_the_database_file(tmp_path: Path) -> None:
    key = "AIzaSy" + secrets.token_urlsafe(26)[:33]
    settings = load_settings(api_key=key, db_path=str(tmp_path / "history.db"))
    assert settings.key() == key

    store = await Store.open(settings.resolved_db_path())
    conversation = await store.create_conversation(notebook_path="analysis.ipynb")
    await store.add_messages(
        conversation.id,
        [
            NewMessage(role="user", content="How many orders?"),
            NewMessage(role="assistant", content="42", tool_payload={"settings": repr(settings)}),
        ],
    )
    await store.save_datasets(
        conversation.id, [{"name": "orders", "source": "/o.csv", "kind": "csv"}]
    )
    await store.record_usage("local", conversation.id, settings.model, 120, 30)
    await store.set_setting("theme", settings.theme)
    await store.set_setting("model", settings.model)
    for name, value in (("api_key", key), ("gemini", key), ("GEMINI_API_KEY", "x")):
        with pytest.raises(StoreError, match="never written") as info:
            await store.set_setting(name, value)
        assert info.value.details["reason"] == "secret"
    await store.close()

    files = sorted(tmp_path.glob("history.db*"))
    assert files  # the database and any WAL/SHM files next to it
    for file in files:
        data = file.read_bytes()
        assert key.encode() not in data, file.name
        assert key[6:].encode() not in data, file.name

"""A chat whose history file is damaged or cannot be written still answers.

Real parts throughout: a ChatDF with a worker, the google-genai SDK talking to
the fake Gemini on 127.0.0.1, and real SQLite files damaged on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatdf import ChatDF
from chatdf.store import StoreWarning
from tests.fake_gemini import TEST_API_KEY, FakeGemini, text_chunks

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def make_chat(fake_gemini: FakeGemini) -> Iterator:
    made: list[ChatDF] = []

    def make(**settings: object) -> ChatDF:
        chat = ChatDF(api_key=TEST_API_KEY, gemini_base_url=fake_gemini.url, workers=1, **settings)
        made.append(chat)
        return chat

    yield make
    for chat in made:
        chat.close()


def ask(chat: ChatDF, fake: FakeGemini, question: str, answer: str) -> str:
    fake.add_stream(text_chunks(answer))
    return chat.ask(question).text


def store_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, StoreWarning)]


def overwrite_second_half(path: Path) -> None:
    data = bytearray(path.read_bytes())
    half = len(data) // 2
    data[half:] = os.urandom(len(data) - half)
    path.write_bytes(bytes(data))


def test_a_history_file_damaged_on_disk_is_moved_aside_and_the_chat_answers(
    make_chat, fake_gemini: FakeGemini, tmp_path: Path
) -> None:
    db = tmp_path / "history.db"
    chat = make_chat(db_path=str(db))
    for n in range(24):
        ask(chat, fake_gemini, f"question {n} " + "q" * 1500, f"answer {n} " + "a" * 3000)
        chat.new()
    assert len(chat.conversations) == 24
    chat.close()
    overwrite_second_half(db)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        healed = make_chat(db_path=str(db))
        assert ask(healed, fake_gemini, "Still there?", "Yes.") == "Yes."

    [warning] = store_warnings(caught)
    [moved] = [p for p in tmp_path.iterdir() if p.name.startswith("history.db.corrupt-")]
    assert str(moved) in warning and "new, empty history" in warning
    assert moved.stat().st_size > 100_000  # the user's old file, kept for recovery
    assert [c.title for c in healed.conversations] == ["Still there?"]
    healed.close()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = make_chat(db_path=str(db))
        assert ask(again, fake_gemini, "And now?", "Fine.") == "Fine."
    assert store_warnings(caught) == []
    assert [c.title for c in again.conversations] == ["And now?", "Still there?"]


def test_a_file_damaged_while_the_chat_is_open_is_healed_at_the_next_question(
    make_chat, fake_gemini: FakeGemini, tmp_path: Path
) -> None:
    db = tmp_path / "history.db"
    chat = make_chat(db_path=str(db))
    for n in range(12):
        ask(chat, fake_gemini, f"question {n} " + "q" * 1500, f"answer {n} " + "a" * 3000)
    conversation = chat.conversation_id
    # Another process writes the WAL into the file, then the disk damages every page
    # but the first (the header and the schema), as a failing disk or a bad copy would.
    other = sqlite3.connect(db)
    other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    other.close()
    data = bytearray(db.read_bytes())
    data[4096:] = os.urandom(len(data) - 4096)
    db.write_bytes(bytes(data))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert ask(chat, fake_gemini, "One more?", "Here.") == "Here."

    assert len(store_warnings(caught)) == 1
    assert [p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    # The conversation goes on in the fresh file under the same id.
    assert chat.conversation_id == conversation
    assert [(c.id, c.message_count) for c in chat.conversations] == [(conversation, 2)]


def test_an_unusable_default_data_folder_gives_history_in_memory(
    make_chat, fake_gemini: FakeGemini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default folder lies under a regular file: it can never be created.
    (tmp_path / "not_a_folder").write_text("a file\n")
    monkeypatch.delenv("CHATDF_DB_PATH")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "not_a_folder" / "data"))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chat = make_chat()
        assert ask(chat, fake_gemini, "Hello?", "Hi.") == "Hi."

    [warning] = store_warnings(caught)
    assert "cannot be written" in warning and "in memory for this session" in warning
    assert "CHATDF_DB_PATH" in warning
    assert [c.title for c in chat.conversations] == ["Hello?"]


def test_a_db_path_in_an_unusable_folder_gives_history_in_memory(
    make_chat, fake_gemini: FakeGemini, tmp_path: Path
) -> None:
    (tmp_path / "not_a_folder").write_text("a file\n")
    db = tmp_path / "not_a_folder" / "sub" / "history.db"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chat = make_chat(db_path=str(db))
        assert ask(chat, fake_gemini, "Hello?", "Hi.") == "Hi."

    [warning] = store_warnings(caught)
    assert str(db) in warning and "in memory for this session" in warning
    assert [c.title for c in chat.conversations] == ["Hello?"]


PROBE = """
import json, os, sys, warnings
import platformdirs
from chatdf import ChatDF
if os.geteuid() == 0:
    # Root may write anywhere: become "nobody" (after the imports, which read
    # files under root's home) so the folder's permissions apply.
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    chat = ChatDF(workers=1)
    titles = [c.title for c in chat.conversations]
    chat.close()
print(json.dumps([str(w.message) for w in caught if w.category.__name__ == "StoreWarning"]))
"""


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder anyone may enter (pytest's own tmp folders are closed to others)."""
    folder = Path(tempfile.mkdtemp(prefix="chatdf-perm-"))
    folder.chmod(0o755)
    yield folder
    for path in folder.rglob("*"):
        if path.is_dir():
            path.chmod(0o700)
    shutil.rmtree(folder)


@pytest.mark.parametrize("where", ["default_folder", "db_path"])
def test_a_folder_chatdf_may_not_write_to_gives_history_in_memory(
    open_folder: Path, where: str
) -> None:
    # A real PermissionError: the folder belongs to someone else and is closed to others.
    locked = open_folder / "locked"
    locked.mkdir()
    locked.chmod(0o500 if os.geteuid() else 0o700)
    (open_folder / "tmp").mkdir()
    (open_folder / "tmp").chmod(0o777)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "HOME": str(open_folder),
        "TMPDIR": str(open_folder / "tmp"),
    }
    if where == "default_folder":
        env["XDG_DATA_HOME"] = str(locked / "data")
    else:
        env["CHATDF_DB_PATH"] = str(locked / "history.db")

    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        check=False,
        env=env,
        cwd=open_folder,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    [warning] = json.loads(done.stdout.strip().splitlines()[-1])
    assert "cannot be written" in warning and "in memory for this session" in warning

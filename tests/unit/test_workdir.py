"""Session temp folders carry their owner; a new session removes those of dead owners only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from chatdf import workdir

REPO = Path(__file__).resolve().parents[2]


def folder(parent: Path, pid: int, started: float, files: int = 1) -> Path:
    path = parent / f"chatdf-{pid}-{int(started)}-ab12_cd3"
    path.mkdir()
    for i in range(files):
        (path / f"result-{i}.arrow").write_bytes(b"x" * 1000)
    return path


def ended_process() -> tuple[int, float]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    started = psutil.Process(child.pid).create_time()
    child.wait()
    return child.pid, started


def test_folders_of_dead_owners_go_and_live_ones_stay(tmp_path: Path):
    me = psutil.Process()
    pid, started = ended_process()
    dead = folder(tmp_path, pid, started, files=3)
    mine = folder(tmp_path, me.pid, me.create_time())
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        live = folder(tmp_path, sleeper.pid, psutil.Process(sleeper.pid).create_time())
        # Our pid, but a start time that is not ours: a dead process whose pid was reused.
        reused = folder(tmp_path, me.pid, me.create_time() - 3600)
        unrelated = [tmp_path / "chatdf-oldstyle", tmp_path / "chatdf-12-notanumber-x"]
        for path in unrelated:
            path.mkdir()
        (tmp_path / f"chatdf-{pid}-{int(started)}-file").write_text("a file, not a folder")

        removed = workdir.remove_orphans(tmp_path)

        assert sorted(removed) == sorted([dead, reused])
        assert not dead.exists() and not reused.exists()
        assert mine.exists() and live.exists()
        assert all(path.exists() for path in unrelated)
        assert (tmp_path / f"chatdf-{pid}-{int(started)}-file").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_symlink_is_never_followed(tmp_path: Path):
    pid, started = ended_process()
    target = tmp_path / "precious"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    (tmp_path / f"chatdf-{pid}-{int(started)}-link1234").symlink_to(target)
    assert workdir.remove_orphans(tmp_path) == []
    assert (target / "keep.txt").exists()


def test_create_names_the_owner_and_cleans_up_first(tmp_path: Path):
    pid, started = ended_process()
    dead = folder(tmp_path, pid, started)
    made = workdir.create(tmp_path)
    me = psutil.Process()
    assert made.name.startswith(f"chatdf-{me.pid}-{int(me.create_time())}-")
    assert made.is_dir() and not dead.exists()
    assert workdir.remove_orphans(tmp_path) == []  # our own folder is safe


@pytest.mark.slow
def test_a_new_session_removes_the_files_of_a_killed_kernel(tmp_path: Path):
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(REPO)!r})
        import polars as pl
        from chatdf import ChatDF

        chat = ChatDF(db_path=":memory:", workers=1)
        chat.add(pl.DataFrame({{"x": range(100_000)}}), "t")
        chat.sql("SELECT x, x * 2 AS y FROM t")
        print(json.dumps(str(chat._session.workdir)), flush=True)
        sys.stdin.read()  # wait to be killed
        """
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    kernel = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        old = Path(json.loads(kernel.stdout.readline()))
        assert old.parent == tmp_path and list(old.rglob("result-*"))
    finally:
        kernel.send_signal(signal.SIGKILL)
        kernel.wait()
        kernel.stdin.close()
        kernel.stdout.close()
    assert old.exists()  # nothing could clean up after a SIGKILL

    start_a_session = (
        f"import sys; sys.path.insert(0, {str(REPO)!r}); from chatdf import ChatDF; "
        "ChatDF(db_path=':memory:').close()"
    )
    later = subprocess.run(
        [sys.executable, "-c", start_a_session],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )
    assert not old.exists(), later.stderr

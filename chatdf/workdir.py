"""Each session's temp folder, named after its owner so later sessions can clean up.

A session keeps its result files, worker logs and exported in-memory frames in
one folder under the system temp dir, removed when the session closes. A
kernel that is killed (or crashes) cannot remove it, and a big result can be
gigabytes, so every new session first removes the folders of owners that are
gone. A folder is named ``chatdf-<pid>-<start time>-<random>``: the start time
tells the owner apart from a later process that reuses its pid, so a live
process's folder is never touched.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

import psutil

PREFIX = "chatdf-"
_NAME = re.compile(r"chatdf-(\d+)-(\d+)-[A-Za-z0-9_]+")

log = logging.getLogger("chatdf")


def create(parent: Path | str | None = None) -> Path:
    """A fresh folder owned by this process, after removing those of dead owners."""
    remove_orphans(parent)
    me = psutil.Process()
    prefix = f"{PREFIX}{me.pid}-{int(me.create_time())}-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


def remove_orphans(parent: Path | str | None = None) -> list[Path]:
    """Remove the session folders in ``parent`` (the temp dir) whose owner is gone.

    Only folders this user owns and whose name carries an owner are
    considered; an owner that is running, or that cannot be checked, keeps its
    folder. Returns the folders removed.
    """
    root = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(root.glob(PREFIX + "*"))
    except OSError:
        return removed
    for entry in entries:
        match = _NAME.fullmatch(entry.name)
        if match is None or entry.is_symlink() or not entry.is_dir():
            continue
        if hasattr(os, "getuid") and _uid(entry) != os.getuid():
            continue
        if _running(int(match[1]), int(match[2])):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    if removed:
        log.debug("removed %d temp folder(s) of ended chatdf sessions", len(removed))
    return removed


def _uid(path: Path) -> int | None:
    try:
        return path.stat().st_uid
    except OSError:
        return None


def _running(pid: int, started: int) -> bool:
    """Is the process that created the folder still running?"""
    try:
        owner = psutil.Process(pid)
        if owner.status() == psutil.STATUS_ZOMBIE:
            return False  # it has ended; only its exit status is left
        created = owner.create_time()
    except psutil.NoSuchProcess:
        return False
    except (psutil.AccessDenied, OSError):
        return True  # cannot tell: keep the folder
    return abs(int(created) - started) <= 1

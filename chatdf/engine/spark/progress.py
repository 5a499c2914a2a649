"""A progress bar for pulling a cluster result into the kernel.

Spark Connect reports each operation's stages and tasks to registered
handlers; the bar counts finished tasks over all tasks, on stderr (where
Jupyter shows it under the cell), redrawn in place.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable
from typing import Any, TextIO

WIDTH = 30


class ProgressBar:
    """A Spark Connect progress handler drawing ``label [#####.....] 12/40 tasks``."""

    def __init__(self, label: str, stream: TextIO | None = None, interval: float = 0.2) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.updates = 0
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(
        self, stages: Iterable[Any] | None, inflight_tasks: int, operation_id: str | None, done: bool
    ) -> None:
        stages = list(stages or [])
        total = sum(s.num_tasks for s in stages)
        finished = sum(s.num_completed_tasks for s in stages)
        now = time.monotonic()
        with self._lock:
            if not done and now - self._last < self.interval:
                return
            self._last = now
            self.updates += 1
            self.draw(finished, total, done)

    def draw(self, finished: int, total: int, done: bool = False) -> None:
        share = 1.0 if done or not total else finished / total
        filled = int(share * WIDTH)
        bar = "#" * filled + "." * (WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {finished}/{total} tasks")
        if done:
            self.stream.write("\n")
        self.stream.flush()

    def rows(self, count: int) -> None:
        """The closing line: how many rows arrived."""
        self.stream.write(f"\r{self.label}: {count:,} rows received{' ' * 20}\n")
        self.stream.flush()

"""Bounded retries with doubling, jittered delays: the one helper every retry loop uses.

The Gemini client retries a transient failure a few times (a count); the store
retries a busy SQLite file for a few seconds (a time budget). Both loops ask one
:class:`Backoff` whether another try may start, and let it wait.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Backoff", "RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries of transient failures: ``attempts`` in all, delays doubling.

    ``attempts`` None means no count limit (then ``budget`` should be set);
    ``budget`` is the seconds after the first try past which no retry starts.
    Each delay is multiplied by a random factor in ``jitter``, so two clients
    that failed together do not retry in lockstep.
    """

    attempts: int | None = 3
    initial_delay: float = 1.0
    max_delay: float = 8.0
    budget: float | None = None
    jitter: tuple[float, float] = (0.85, 1.15)

    def delay(self, retry: int, hint: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based), with jitter.

        ``hint`` is a server's own "retry after", honoured up to ``max_delay``.
        """
        base = min(self.max_delay, self.initial_delay * (2**retry))
        base = max(base, min(hint or 0.0, self.max_delay))
        return base * random.uniform(*self.jitter)

    def start(self) -> Backoff:
        """A fresh :class:`Backoff` for one unit of work."""
        return Backoff(self)


class Backoff:
    """The retries of one unit of work under a :class:`RetryPolicy`.

    ::

        backoff = policy.start()
        while True:
            try:
                return await work()
            except Transient:
                if not backoff.can_retry():
                    raise
            await backoff.wait()
    """

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.retries = 0
        self._clock = clock
        self._deadline = None if policy.budget is None else clock() + policy.budget

    @property
    def attempts(self) -> int:
        """Tries started so far (the first one included)."""
        return self.retries + 1

    def can_retry(self) -> bool:
        """Whether another try may start: attempts left and the budget not spent."""
        limit = self.policy.attempts
        if limit is not None and self.attempts >= limit:
            return False
        return self._deadline is None or self._clock() < self._deadline

    async def wait(
        self, hint: float | None = None, *, note: Callable[[int, float], None] | None = None
    ) -> None:
        """Sleep before the next try; ``note(retry_number, delay)`` is called first (for logs)."""
        delay = self.policy.delay(self.retries, hint)
        self.retries += 1
        if note is not None:
            note(self.retries, delay)
        await asyncio.sleep(delay)

"""In-memory sliding-window rate limits, per client and purpose.

One gateway process serves a team; its counters live in memory and start
afresh on restart, which is enough to make guessing codes and referral keys
slow (both are long random values; the limits are the second line).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rate:
    """At most ``count`` events per ``seconds``."""

    count: int
    seconds: float


@dataclass(frozen=True)
class RateLimits:
    """The gateway's limits; each is counted per client address unless said otherwise."""

    start_sign_in: Rate = Rate(300, 600)
    """Kernels asking for a sign-in request (a JupyterHub's kernels share one address)."""
    continue_sign_in: Rate = Rate(20, 600)
    """Browsers looking up a user code and continuing to the provider."""
    callback: Rate = Rate(30, 600)
    """Returns from the provider."""
    referral: Rate = Rate(10, 600)
    """Referral key attempts from one address."""
    referral_per_sign_in: Rate = Rate(5, 600)
    """Referral key attempts within one sign-in."""


@dataclass
class Limiter:
    """Counts events per key; :meth:`hit` says how long to wait once a rate is exceeded."""

    clock: object = time.monotonic
    _events: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    _last_sweep: float = 0.0

    def hit(self, bucket: str, key: str, rate: Rate) -> float | None:
        """Count one event; None if allowed, else the seconds until one would be."""
        now = self.clock()  # type: ignore[operator]
        self._sweep(now, rate.seconds)
        events = self._events.setdefault((bucket, key), deque())
        while events and events[0] <= now - rate.seconds:
            events.popleft()
        if len(events) >= rate.count:
            return max(0.0, events[0] + rate.seconds - now)
        events.append(now)
        return None

    def _sweep(self, now: float, horizon: float) -> None:
        # Forget idle keys now and then, so addresses seen once do not pile up.
        if now - self._last_sweep < 60:
            return
        self._last_sweep = now
        stale = [k for k, v in self._events.items() if not v or v[-1] <= now - max(horizon, 600)]
        for key in stale:
            del self._events[key]

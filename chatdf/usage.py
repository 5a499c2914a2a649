"""Token usage: the price table, cost of a call, and the rolling 24-hour summary.

The store keeps one row per Gemini call (user key, model, input and output
tokens, cost, timestamp). This module holds the pure logic around those rows so
it can be read and tested without a database:

- :data:`PRICES` is the one place model prices live;
- :func:`cost_of` prices one call;
- :func:`summarize` turns the calls of the last 24 hours into a
  :class:`UsageSummary` (used, limit, percent, remaining, when the total drops,
  per-model totals).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, computed_field

WINDOW_SECONDS = 24 * 60 * 60
"""Usage older than this no longer counts against the limit."""

WARN_PERCENT = 80
"""At or above this share of the limit the UI warns that the limit is near."""

DEFAULT_USER_KEY = "local"
"""The user key when nobody is signed in: an opaque local id, never a secret."""


class Price(NamedTuple):
    """US dollars per one million tokens."""

    input: float
    output: float


# Standard (paid tier) prices for prompts up to 200k tokens, from
# https://ai.google.dev/gemini-api/docs/pricing. Names match by longest prefix,
# so dated previews ("gemini-2.5-flash-preview-09-2025") take their family's price.
PRICES: dict[str, Price] = {
    "gemini-3-pro": Price(2.00, 12.00),
    "gemini-3-flash": Price(0.50, 3.00),
    "gemini-2.5-pro": Price(1.25, 10.00),
    "gemini-2.5-flash": Price(0.30, 2.50),
    "gemini-2.5-flash-lite": Price(0.10, 0.40),
    "gemini-2.0-flash": Price(0.10, 0.40),
    "gemini-2.0-flash-lite": Price(0.075, 0.30),
}


def price_of(model: str) -> Price | None:
    """The price of ``model`` (``models/`` prefix allowed), or None when unknown."""
    name = model.strip().lower().removeprefix("models/")
    matches = [key for key in PRICES if name == key or name.startswith(key + "-")]
    return PRICES[max(matches, key=len)] if matches else None


def cost_of(model: str, input_tokens: int, output_tokens: int) -> float:
    """US dollars one call cost; 0.0 for a model missing from :data:`PRICES`.

    Tokens still count against the limit for unknown models; only the cost is
    unknown, and 0.0 keeps the totals summable.
    """
    price = price_of(model)
    if price is None:
        return 0.0
    return (input_tokens * price.input + output_tokens * price.output) / 1_000_000


class UsageRow(NamedTuple):
    """One recorded call, as :func:`summarize` needs it."""

    timestamp: float
    model_name: str
    input_tokens: int
    output_tokens: int
    cost: float


class ModelUsage(BaseModel):
    """Totals of one model inside the window."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0


class UsageSummary(BaseModel):
    """Usage of one user key over the rolling 24-hour window.

    ``limit`` 0 means unlimited: then ``remaining`` is None and ``percent`` 0.
    ``resets_in_seconds`` says when the total next drops. Below the limit that
    is when the oldest counted call leaves the window; at or above the limit it
    is when enough calls have left the window for the total to fall below the
    limit again, i.e. when a new question will be accepted. 0 when nothing is
    counted.
    """

    model_config = ConfigDict(frozen=True)

    user_key: str
    used: int
    limit: int
    percent: float
    remaining: int | None
    resets_in_seconds: int
    cost: float
    per_model: dict[str, ModelUsage]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def warning(self) -> bool:
        """True at or above :data:`WARN_PERCENT` of a finite limit."""
        return self.limit > 0 and self.used * 100 >= self.limit * WARN_PERCENT

    @computed_field  # type: ignore[prop-decorator]
    @property
    def exhausted(self) -> bool:
        """True when a finite limit is reached: new questions must be refused."""
        return self.limit > 0 and self.used >= self.limit


def summarize(user_key: str, rows: Iterable[UsageRow], limit: int, now: float) -> UsageSummary:
    """Summarise the calls of ``user_key`` that fall inside the window ending at ``now``.

    Parameters
    ----------
    user_key
        Whose usage this is (echoed in the result).
    rows
        Recorded calls; those at or before ``now - WINDOW_SECONDS`` are ignored,
        so callers may pass more than the window.
    limit
        Tokens allowed per window; 0 for unlimited.
    now
        Epoch seconds the window ends at.
    """
    start = now - WINDOW_SECONDS
    counted = sorted((r for r in rows if r.timestamp > start), key=lambda r: r.timestamp)
    totals: dict[str, list[float]] = {}
    for row in counted:
        total = totals.setdefault(row.model_name, [0, 0, 0.0])
        total[0] += row.input_tokens
        total[1] += row.output_tokens
        total[2] += row.cost
    per_model = {
        model: ModelUsage(input_tokens=int(i), output_tokens=int(o), cost=c)
        for model, (i, o, c) in totals.items()
    }
    used = sum(r.input_tokens + r.output_tokens for r in counted)
    return UsageSummary(
        user_key=user_key,
        used=used,
        limit=limit,
        percent=used * 100 / limit if limit else 0.0,
        remaining=max(limit - used, 0) if limit else None,
        resets_in_seconds=_resets_in(counted, used, limit, now),
        cost=sum(r.cost for r in counted),
        per_model=per_model,
    )


def _resets_in(counted: list[UsageRow], used: int, limit: int, now: float) -> int:
    """Seconds until the total drops (below the limit, when it is reached)."""
    spending = [r for r in counted if r.input_tokens + r.output_tokens > 0]
    if not spending:
        return 0
    target = limit if limit and used >= limit else used
    left = used
    for row in spending:
        left -= row.input_tokens + row.output_tokens
        if left < target:
            return max(0, math.ceil(row.timestamp + WINDOW_SECONDS - now))
    return 0  # unreachable: removing every row leaves 0 < target

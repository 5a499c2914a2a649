"""Token usage: prices, the rolling 24-hour window, the 80 % warning and the hard limit."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest

from chatdf.errors import StoreError
from chatdf.store import Store
from chatdf.usage import PRICES, cost_of, price_of

if TYPE_CHECKING:
    from conftest import FakeClock  # type: ignore[import-not-found]

HOUR = 3600.0
MODEL = "gemini-2.5-flash"


def test_costs_come_from_the_price_table() -> None:
    flash = PRICES["gemini-2.5-flash"]
    assert cost_of(MODEL, 1_000_000, 0) == pytest.approx(flash.input)
    assert cost_of(MODEL, 2_000, 1_000) == pytest.approx(
        (2_000 * flash.input + 1_000 * flash.output) / 1e6
    )
    # Dated previews and the SDK's "models/" prefix take their family's price;
    # "flash-lite" is its own family, not flash.
    assert price_of("models/gemini-2.5-flash-preview-09-2025") == flash
    assert price_of("gemini-2.5-flash-lite") == PRICES["gemini-2.5-flash-lite"]
    assert price_of("gemini-2.5-flashy") is None
    assert cost_of("some-local-model", 10, 10) == 0.0


async def test_usage_older_than_24_hours_is_not_counted(store: Store, clock: FakeClock) -> None:
    now = clock.now
    await store.record_usage("local", None, MODEL, 1000, 0, now=now - 25 * HOUR)
    await store.record_usage("local", None, MODEL, 300, 0, now=now - 24 * HOUR)  # exactly out
    await store.record_usage("local", None, MODEL, 40, 2, now=now - 23 * HOUR)
    await store.record_usage("local", None, MODEL, 5, 1, now=now - 1)

    summary = await store.usage_summary("local", 10_000)

    assert summary.used == 48
    # The 23-hour-old call leaves the window in one hour, and the total drops.
    assert summary.resets_in_seconds == 3600
    assert summary.per_model[MODEL].input_tokens == 45
    assert summary.per_model[MODEL].output_tokens == 3
    assert summary.cost == pytest.approx(cost_of(MODEL, 45, 3))

    later = await store.usage_summary("local", 10_000, now=now + HOUR)
    assert later.used == 6


async def test_now_may_be_a_datetime(store: Store) -> None:
    at = datetime(2025, 3, 1, 12, tzinfo=timezone.utc)
    record = await store.record_usage("local", None, MODEL, 7, 3, now=at)

    assert record.timestamp == at
    assert (await store.usage_summary("local", 100, now=at + timedelta(hours=23))).used == 10
    assert (await store.usage_summary("local", 100, now=at + timedelta(hours=25))).used == 0


@pytest.mark.parametrize(
    ("used", "percent", "remaining", "warning", "exhausted"),
    [
        (0, 0.0, 1000, False, False),
        (799, 79.9, 201, False, False),
        (800, 80.0, 200, True, False),
        (999, 99.9, 1, True, False),
        (1000, 100.0, 0, True, True),
        (1500, 150.0, 0, True, True),
    ],
)
async def test_thresholds_show_in_the_summary(
    store: Store, used: int, percent: float, remaining: int, warning: bool, exhausted: bool
) -> None:
    if used:
        await store.record_usage("local", None, MODEL, used - used // 4, used // 4)

    summary = await store.usage_summary("local", 1000)

    assert (summary.used, summary.limit, summary.remaining) == (used, 1000, remaining)
    assert summary.percent == pytest.approx(percent)
    assert (summary.warning, summary.exhausted) == (warning, exhausted)


async def test_at_the_limit_reset_is_when_the_total_falls_below_it(
    store: Store, clock: FakeClock
) -> None:
    now = clock.now
    await store.record_usage("local", None, MODEL, 100, 0, now=now - 20 * HOUR)
    await store.record_usage("local", None, MODEL, 800, 0, now=now - 10 * HOUR)
    await store.record_usage("local", None, MODEL, 300, 0, now=now - 1 * HOUR)

    blocked = await store.usage_summary("local", 1000)
    # Losing the 20-hour-old 100 leaves 1100, still over; losing the 800 (in 14 h) frees it.
    assert blocked.exhausted and blocked.resets_in_seconds == 14 * 3600

    just_before = await store.usage_summary("local", 1000, now=now + 14 * HOUR - 1)
    assert just_before.exhausted
    after = await store.usage_summary("local", 1000, now=now + 14 * HOUR)
    assert not after.exhausted and after.used == 300

    below = await store.usage_summary("local", 5000)
    assert not below.exhausted and below.resets_in_seconds == 4 * 3600


async def test_zero_limit_means_unlimited(store: Store) -> None:
    await store.record_usage("local", None, MODEL, 10**9, 10**8)

    summary = await store.usage_summary("local", 0)

    assert summary.used == 1_100_000_000
    assert (summary.limit, summary.remaining, summary.percent) == (0, None, 0.0)
    assert not summary.warning and not summary.exhausted


async def test_nothing_recorded_means_nothing_to_reset(store: Store) -> None:
    summary = await store.usage_summary("local", 1000)

    assert (summary.used, summary.remaining, summary.resets_in_seconds) == (0, 1000, 0)
    assert summary.per_model == {}


async def test_usage_is_per_user_key_and_per_model(store: Store) -> None:
    conversation = await store.create_conversation()
    await store.record_usage("local", conversation.id, MODEL, 100, 10)
    await store.record_usage("local", conversation.id, "gemini-2.5-pro", 50, 5)
    await store.record_usage("someone-else", None, MODEL, 999, 999)

    summary = await store.usage_summary("local", 1000)

    assert summary.used == 165
    assert set(summary.per_model) == {MODEL, "gemini-2.5-pro"}
    assert summary.per_model["gemini-2.5-pro"].cost == pytest.approx(
        cost_of("gemini-2.5-pro", 50, 5)
    )


async def test_usage_of_a_deleted_conversation_is_still_recorded(store: Store, raw) -> None:
    record = await store.record_usage("local", "deleted-meanwhile", MODEL, 10, 1)

    assert record.conversation_id is None
    assert raw("SELECT user_key, conversation_id, input_tokens FROM token_usage") == [
        ("local", None, 10)
    ]


@pytest.mark.parametrize("tokens", [-1, 1.5, "10", True])
async def test_bad_token_counts_are_refused(store: Store, tokens: object) -> None:
    with pytest.raises(StoreError, match="input_tokens"):
        await store.record_usage("local", None, MODEL, tokens, 0)  # type: ignore[arg-type]
    assert (await store.usage_summary("local", 10)).used == 0

"""The one retry helper: counts, time budgets and doubling delays."""

from __future__ import annotations

import asyncio

from chatdf.retry import Backoff, RetryPolicy


def test_a_count_limit_allows_attempts_minus_one_retries() -> None:
    backoff = RetryPolicy(attempts=3, initial_delay=0.0).start()
    allowed = 0
    while backoff.can_retry():
        asyncio.run(backoff.wait())
        allowed += 1
    assert (allowed, backoff.attempts) == (2, 3)


def test_a_time_budget_stops_retries_once_spent() -> None:
    now = [0.0]
    policy = RetryPolicy(attempts=None, initial_delay=0.0, budget=10.0)
    backoff = Backoff(policy, clock=lambda: now[0])
    now[0] = 9.9
    assert backoff.can_retry()
    now[0] = 10.0
    assert not backoff.can_retry()


def test_delays_double_up_to_the_cap_and_honour_a_server_hint() -> None:
    policy = RetryPolicy(initial_delay=0.02, max_delay=0.5, jitter=(1.0, 1.0))
    assert [policy.delay(i) for i in range(6)] == [0.02, 0.04, 0.08, 0.16, 0.32, 0.5]
    assert policy.delay(0, hint=0.3) == 0.3
    assert policy.delay(0, hint=99) == 0.5


def test_wait_reports_each_retry_before_sleeping() -> None:
    seen: list[tuple[int, float]] = []
    backoff = RetryPolicy(initial_delay=0.001, jitter=(1.0, 1.0)).start()
    asyncio.run(backoff.wait(note=lambda n, d: seen.append((n, d))))
    asyncio.run(backoff.wait(note=lambda n, d: seen.append((n, d))))
    assert seen == [(1, 0.001), (2, 0.002)]


def test_the_llm_client_and_the_store_share_it() -> None:
    from chatdf.llm.client import RetryPolicy as ClientPolicy
    from chatdf.store import sqlite

    assert ClientPolicy is RetryPolicy
    assert isinstance(sqlite._BUSY_RETRY, RetryPolicy)

"""Benchmark of the history store on a large history.

Builds 1,000 conversations x 50 messages (plus token usage over a week) in a
temporary file through the store's own API, then times what a user waits for:
opening the store, listing the history (target < 50 ms), opening one
conversation with its messages (target < 100 ms), writing one message, and
reading the 24-hour usage before a question. Prints a table, then one JSON line.

    .venv/bin/python bench/store.py [--conversations 1000] [--messages 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chatdf.store import NewMessage, ResultPreview, Store

TARGETS_MS = {"list_conversations": 50.0, "get_conversation": 100.0}

QUESTION = "Which {} had the highest total revenue in {} and how does it compare to last year?"
ANSWER = (
    "The top region was North with 1,234,567 in revenue, 12% above last year. "
    "The next three were close behind; the table below lists all of them with the "
    "year-over-year change so you can sort by the column that matters to you. " * 3
)
SQL = "SELECT region, sum(amount) AS revenue FROM sales WHERE year = {} GROUP BY region"


def turn(i: int) -> list[NewMessage]:
    """Five messages: question, tool call, tool response, answer, follow-up question."""
    sql = SQL.format(2000 + i % 25)
    preview = ResultPreview(
        columns=["region", "revenue"],
        rows=[[f"region {k}", 1000.5 * k] for k in range(5)],
        total_rows=12,
    )
    return [
        NewMessage(role="user", content=QUESTION.format("region", 2000 + i % 25)),
        NewMessage(
            role="assistant",
            sql_query=sql,
            tool_payload={"function_call": {"name": "run_sql", "args": {"sql": sql}}},
        ),
        NewMessage(
            role="tool",
            sql_query=sql,
            result_preview=preview,
            tool_payload={
                "function_response": {"name": "run_sql", "response": preview.model_dump()}
            },
        ),
        NewMessage(role="assistant", content=ANSWER, token_count=1800),
        NewMessage(role="user", content="And per month?"),
    ]


async def build(path: Path, conversations: int, messages: int) -> list[str]:
    """Fill the file through the store (one transaction per conversation)."""
    now = time.time()
    clock_at = [now - 7 * 86400]
    store = await Store.open(path, clock=lambda: clock_at[0])
    ids = []
    for c in range(conversations):
        clock_at[0] += 7 * 86400 / conversations
        conversation = await store.create_conversation()
        batch = [m for i in range(messages // 5 + 1) for m in turn(c + i)][:messages]
        await store.add_messages(conversation.id, batch)
        for _ in range(25):
            await store.record_usage(
                "local", conversation.id, "gemini-2.5-flash", 2000, 300, now=clock_at[0]
            )
        ids.append(conversation.id)
    await store.close()
    return ids


async def timed(runs: int, call: Callable[[], Awaitable[Any]]) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 3),
        "max_ms": round(ordered[-1], 3),
        "runs": len(ordered),
    }


async def measure(path: Path, ids: list[str]) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}

    async def open_close() -> None:
        await (await Store.open(path)).close()

    results["open_store"] = stats(await timed(20, open_close))
    store = await Store.open(path)
    try:
        results["list_conversations"] = stats(await timed(50, store.list_conversations))
        results["list_conversations_first_50"] = stats(
            await timed(50, lambda: store.list_conversations(limit=50))
        )
        results["get_conversation"] = stats(
            await timed(50, lambda: store.get_conversation(random.choice(ids)))
        )
        target = ids[len(ids) // 2]
        results["add_message"] = stats(
            await timed(
                500,
                lambda: store.add_message(target, NewMessage(role="user", content="One more?")),
            )
        )
        results["record_usage"] = stats(
            await timed(
                200, lambda: store.record_usage("local", target, "gemini-2.5-flash", 100, 20)
            )
        )
        results["usage_summary"] = stats(
            await timed(50, lambda: store.usage_summary("local", 5_000_000))
        )
    finally:
        await store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=50)
    args = parser.parse_args()
    random.seed(4)

    with tempfile.TemporaryDirectory(prefix="chatdf-bench-") as folder:
        path = Path(folder) / "history.db"
        start = time.perf_counter()
        ids = asyncio.run(build(path, args.conversations, args.messages))
        build_s = time.perf_counter() - start
        size_mb = sum(p.stat().st_size for p in Path(folder).iterdir()) / 1e6
        results = asyncio.run(measure(path, ids))

    print(
        f"history: {args.conversations:,} conversations x {args.messages} messages, "
        f"{size_mb:.1f} MB, built in {build_s:.1f} s\n"
    )
    print(f"{'operation':<30}{'median ms':>11}{'p95 ms':>10}{'max ms':>10}{'target':>10}  ok")
    ok = True
    for name, s in results.items():
        target = TARGETS_MS.get(name)
        passed = target is None or s["p95_ms"] < target
        ok = ok and passed
        print(
            f"{name:<30}{s['median_ms']:>11.2f}{s['p95_ms']:>10.2f}{s['max_ms']:>10.2f}"
            f"{(f'< {target:g}' if target else '-'):>10}  {'yes' if passed else 'NO'}"
        )
    print()
    print(
        json.dumps(
            {
                "conversations": args.conversations,
                "messages_per_conversation": args.messages,
                "file_mb": round(size_mb, 1),
                "build_s": round(build_s, 1),
                "results": results,
                "targets_met": ok,
            }
        )
    )


if __name__ == "__main__":
    main()

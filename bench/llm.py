"""Time to first token against the local fake Gemini API.

Run::

    .venv/bin/python bench/llm.py [--calls 50]

It measures, over ``--calls`` streamed calls each (after a short warm-up),
the time from starting a call to the first text chunk for

* ``raw SDK``: ``genai.Client(...).aio.models.generate_content_stream``;
* ``GeminiClient``: chatdf's wrapper (error mapping, chunk conversion);
* ``controller``: a whole ``chat.stream`` turn (prompt, events, thread hop, store);

then a full turn with two execute_sql rounds, and how late a callback on the
caller's loop (the kernel's) runs while a turn streams and while a 10 s query runs.

First it prints the size of the system prompt (characters and estimated tokens,
how many columns it lists, how long it takes to build) for 1, 10 and 20
datasets of 50 and 600 columns, with and without category values, against the
default budget (``CHATDF_PROMPT_BUDGET_TOKENS``), then how long the column
profiles take in a worker for a 600-column frame (the category values a first
turn computes, and ``describe_table``); ``--prompt-only`` stops there.

:func:`time_to_first_token` takes any factory of async iterators, so the
controller comparison (``chat.stream(question)``) plugs into the same
measurement. Nothing here reaches the internet: the fake listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl
from google import genai
from google.genai import types

from chatdf import ChatDF, QueryError
from chatdf.llm.client import GeminiClient
from chatdf.llm.prompts import DEFAULT_BUDGET_TOKENS, system_prompt
from chatdf.llm.schema_view import approx_tokens
from chatdf.models import Dataset, columns_of
from chatdf.settings import Settings
from tests.fake_gemini import TEST_API_KEY, FakeGemini, function_call, text_chunks

QUESTION = [types.Content(role="user", parts=[types.Part(text="How many rows are there?")])]
RESPONSIVENESS: list[str] = []
ANSWER = "There are **1,234** rows in the orders table; I counted them with COUNT(*)."


@dataclass(frozen=True)
class Timing:
    """Seconds per call of one measured path."""

    label: str
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    def __str__(self) -> str:
        return (
            f"{self.label:<22} median {self.median * 1000:7.2f} ms   p95 {self.p95 * 1000:7.2f} ms   "
            f"min {min(self.samples) * 1000:7.2f} ms   n={len(self.samples)}"
        )


async def time_to_first_token(
    label: str,
    open_stream: Callable[[], AsyncIterator[Any]],
    *,
    calls: int = 50,
    warmup: int = 3,
    has_text: Callable[[Any], bool] = lambda item: bool(getattr(item, "text", None)),
) -> Timing:
    """Median/p95 seconds from opening a stream to its first item with text.

    Each stream is drained to the end before the next call starts, so calls
    do not overlap; the first ``warmup`` calls (connection set-up, imports)
    are not counted.
    """
    samples = []
    for index in range(warmup + calls):
        start = time.perf_counter()
        first = None
        async for item in open_stream():
            if first is None and has_text(item):
                first = time.perf_counter() - start
        if first is None:
            raise RuntimeError(f"{label}: a stream ended without any text")
        if index >= warmup:
            samples.append(first)
    return Timing(label, samples)


def raw_sdk_stream(
    client: genai.Client, model: str = "gemini-2.5-flash"
) -> Callable[[], AsyncIterator[Any]]:
    """A factory of plain SDK streams (the baseline)."""

    async def stream() -> AsyncIterator[Any]:
        responses = await client.aio.models.generate_content_stream(
            model=model,
            contents=QUESTION,
            config=types.GenerateContentConfig(
                system_instruction="You are a benchmark.",
                automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            ),
        )
        async for chunk in responses:
            yield chunk

    return stream


def gemini_client_stream(client: GeminiClient) -> Callable[[], AsyncIterator[Any]]:
    """A factory of chatdf GeminiClient streams."""
    return lambda: client.stream(QUESTION, system="You are a benchmark.")


def start_fake(chunks: int = 8) -> FakeGemini:
    """A fake that answers every request with ``ANSWER`` in ``chunks`` pieces."""
    fake = FakeGemini(loop=True)
    fake.add_stream(text_chunks(ANSWER, n=chunks, usage=(40, 20)))
    return fake.start()


def controller_stream(chat: ChatDF) -> Callable[[], AsyncIterator[Any]]:
    """A factory of whole chatdf turns (``chat.stream``), each in a fresh conversation."""

    def stream() -> AsyncIterator[Any]:
        chat.new()  # the same context every call: no history growth between samples
        return chat.stream("How many rows are there?")

    return stream


async def two_tool_turns(chat: ChatDF, fake: FakeGemini, turns: int) -> Timing:
    """Seconds per whole turn: two execute_sql rounds, then the streamed answer."""
    fake.reset()
    fake.add_stream([function_call("execute_sql", {"query": "SELECT count(*) AS n FROM orders"})])
    fake.add_stream(
        [function_call("execute_sql", {"query": "SELECT max(amount) AS m FROM orders"})]
    )
    fake.add_stream(text_chunks(ANSWER, n=8, usage=(40, 20)))
    samples = []
    for index in range(turns + 2):
        chat.new()
        start = time.perf_counter()
        answer = await chat.ask_async("Count and max please")
        if answer.error or len(answer.sql) != 2:
            raise RuntimeError(f"unexpected turn: {answer}")
        if index >= 2:
            samples.append(time.perf_counter() - start)
    return Timing("two-tool-call turn", samples)


async def loop_delays(work: Callable[[], Any], tick: float = 0.01) -> tuple[float, float, int]:
    """Run ``work()`` while a callback re-schedules itself every ``tick`` seconds on this
    loop (the kernel's); returns the median and max lateness in seconds and the tick count."""
    late: list[float] = []
    done = False

    async def ticker() -> None:
        while not done:
            due = time.perf_counter() + tick
            await asyncio.sleep(tick)
            late.append(max(0.0, time.perf_counter() - due))

    task = asyncio.create_task(ticker())
    try:
        await work()
    finally:
        done = True
        await task
    return statistics.median(late), max(late), len(late)


async def responsiveness(chat: ChatDF, fake: FakeGemini) -> list[str]:
    fake.reset()
    # A turn streaming 40 chunks over about 2 s.
    fake.add_stream(text_chunks(ANSWER * 4, n=40, usage=(40, 20), delay=0.05))
    streaming = await loop_delays(lambda: chat.ask_async("stream slowly"))
    # A query that runs until the 10 s timeout kills it.
    chat._session.settings.query_timeout = 10.0
    slow = "SELECT count(*) AS n FROM big a CROSS JOIN big b WHERE (a.x * b.x) % 7 = 3"

    async def long_query() -> None:
        try:
            await chat._session.call_async(chat._session.run_sql(slow))
        except QueryError as exc:
            assert exc.error_type == "timeout", exc

    querying = await loop_delays(long_query)
    return [
        f"kernel-loop lateness while a turn streams   median {streaming[0] * 1000:6.2f} ms   "
        f"max {streaming[1] * 1000:6.2f} ms   ticks={streaming[2]}",
        f"kernel-loop lateness during a 10 s query    median {querying[0] * 1000:6.2f} ms   "
        f"max {querying[1] * 1000:6.2f} ms   ticks={querying[2]}",
    ]


async def run(calls: int) -> list[Timing]:
    fake = start_fake()
    try:
        raw = genai.Client(
            api_key=TEST_API_KEY,
            vertexai=False,
            http_options=types.HttpOptions(
                base_url=fake.url, retry_options=types.HttpRetryOptions(attempts=1)
            ),
        )
        ours = GeminiClient(
            Settings(api_key=TEST_API_KEY, gemini_base_url=fake.url, _env_file=None)
        )
        timings = [
            await time_to_first_token("raw SDK", raw_sdk_stream(raw), calls=calls),
            await time_to_first_token(
                "GeminiClient.stream", gemini_client_stream(ours), calls=calls
            ),
        ]
        await raw.aio.aclose()
        await ours.aclose()
        chat = ChatDF(api_key=TEST_API_KEY, gemini_base_url=fake.url, db_path=":memory:")
        try:
            chat.add(pl.DataFrame({"amount": range(1000)}), name="orders")
            chat.add(pl.DataFrame({"x": range(200_000)}), name="big")
            timings.append(
                await time_to_first_token("controller (stream)", controller_stream(chat), calls=calls)
            )
            timings.append(await two_tool_turns(chat, fake, turns=max(5, calls // 5)))
            RESPONSIVENESS.extend(await responsiveness(chat, fake))
        finally:
            chat.close()
        return timings
    finally:
        fake.close()


_TYPES = [pl.Int64, pl.String, pl.Float64, pl.Date, pl.Datetime("us"), pl.Boolean]


def wide_dataset(name: str, width: int) -> Dataset:
    """A table of ``width`` columns with realistic-length names and mixed types."""
    schema = {f"{name}_measure_{i:03d}": _TYPES[i % len(_TYPES)] for i in range(width)}
    return Dataset(
        name=name, source=f"/data/{name}.parquet", kind="parquet", row_count=1_000_000,
        column_count=width, columns=columns_of(schema),
    )


def prompt_sizes(budget: int = DEFAULT_BUDGET_TOKENS) -> list[str]:
    """One line per case: datasets x columns, with or without category values."""
    lines = [
        f"System prompt size (budget {budget:,} estimated tokens = characters / 4):",
        f"  {'datasets':>8} {'columns':>7} {'categories':>10} {'chars':>8} {'tokens':>7} "
        f"{'listed':>13} {'build ms':>8}",
    ]
    for count in (1, 10, 20):
        for width in (50, 600):
            datasets = [wide_dataset(f"t{i}", width) for i in range(count)]
            for with_values in (False, True):
                # Every text column a category of five 8-letter values (the worst case).
                categories = {
                    d.name: {c.name: [f"value_{k:02d}" for k in range(5)] for c in d.columns
                             if c.friendly == "Text"}
                    for d in datasets
                } if with_values else None
                started = time.perf_counter()
                prompt = system_prompt(datasets, budget_tokens=budget, categories=categories)
                build_ms = (time.perf_counter() - started) * 1000
                listed = prompt.count("\n- t")
                lines.append(
                    f"  {count:>8} {width:>7} {'yes' if with_values else 'no':>10} {len(prompt):>8,} "
                    f"{approx_tokens(prompt):>7,} {f'{listed:,}/{count * width:,}':>13} {build_ms:>8.1f}"
                )
    return lines


def profile_times(rows: int = 200_000, width: int = 600) -> list[str]:
    """Seconds for the prompt's category values and for describe_table, in a real worker."""
    frame = pl.DataFrame(
        {
            f"c{i:03d}": (
                pl.Series([f"status_{k % 7}" for k in range(rows)]) if i % 3 == 0
                else pl.Series(range(rows)) * i if i % 3 == 1
                else pl.Series([k / 7 for k in range(rows)])
            )
            for i in range(width)
        }
    )
    chat = ChatDF(api_key=TEST_API_KEY, workers=1, db_path=":memory:")
    try:
        chat.add(frame, name="wide")
        session = chat._session
        profiler = session.controller.profiler
        lines = [f"Column profiles of a {rows:,}-row x {width}-column frame (1 worker):"]
        for label, job in (
            ("category values (first turn)", lambda: profiler.categories(session.registry.datasets)),
            ("describe_table, 100 columns", lambda: profiler.describe("wide", [f"c{i:03d}" for i in range(100)])),
            ("describe_table again (cached)", lambda: profiler.describe("wide", [f"c{i:03d}" for i in range(100)])),
        ):
            started = time.perf_counter()
            session.call(job())
            lines.append(f"  {label:<32} {time.perf_counter() - started:7.2f} s")
        return lines
    finally:
        chat.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls", type=int, default=50, help="measured calls per path (default 50)"
    )
    parser.add_argument(
        "--prompt-only", action="store_true", help="print the prompt sizes and stop"
    )
    args = parser.parse_args(argv)
    print("\n".join(prompt_sizes()))
    if args.prompt_only:
        return
    print("\n".join(profile_times()))
    timings = asyncio.run(run(args.calls))
    print(f"Time to first token against the local fake ({args.calls} calls each):")
    for timing in timings:
        print(" ", timing)
    base = timings[0].median
    for timing in timings[1:3]:
        print(
            f"  overhead of {timing.label} vs raw SDK (median): {(timing.median - base) * 1000:+.2f} ms"
        )


    for line in RESPONSIVENESS:
        print(" ", line)


if __name__ == "__main__":
    main()

"""Time to first token against the local fake Gemini API.

Run::

    .venv/bin/python bench/llm.py [--calls 50]

It measures, over ``--calls`` streamed calls each (after a short warm-up),
the time from starting a call to the first text chunk for

* ``raw SDK``: ``genai.Client(...).aio.models.generate_content_stream``;
* ``GeminiClient``: chatdf's wrapper (error mapping, chunk conversion).

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

from google import genai
from google.genai import types

from chatdf.llm.client import GeminiClient
from chatdf.settings import Settings
from tests.fake_gemini import TEST_API_KEY, FakeGemini, text_chunks

QUESTION = [types.Content(role="user", parts=[types.Part(text="How many rows are there?")])]
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
        return timings
    finally:
        fake.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls", type=int, default=50, help="measured calls per path (default 50)"
    )
    args = parser.parse_args(argv)
    timings = asyncio.run(run(args.calls))
    print(f"Time to first token against the local fake ({args.calls} calls each):")
    for timing in timings:
        print(" ", timing)
    base = timings[0].median
    for timing in timings[1:]:
        print(
            f"  overhead of {timing.label} vs raw SDK (median): {(timing.median - base) * 1000:+.2f} ms"
        )


if __name__ == "__main__":
    main()

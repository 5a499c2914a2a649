"""What the team gateway adds: time to first token and streaming throughput, direct vs through it.

Run::

    .venv/bin/python bench/gateway.py [--calls 100] [--chunks 5000]

Three processes on 127.0.0.1: the fake Gemini (``python -m tests.fake_gemini``),
the real gateway (``python -m chatdf.gateway serve``) and this one, which signs
in once through a fake OpenID provider (a thread here, used only for the
sign-in) and then measures with the google-genai SDK and with plain httpx:

* time to first token: a streamed call of 8 small chunks, from starting the
  call to the first text chunk, alternating direct / through the gateway;
* throughput: one streamed answer of ``--chunks`` chunks, read as raw bytes
  (the relay itself) and through the SDK (what a kernel sees).

Each gateway call also authenticates the token, checks the user's 24-hour
total and records usage, so the numbers include the gateway's SQLite work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from google import genai
from google.genai import types

from tests.fake_gemini import TEST_API_KEY, text_chunks
from tests.gateway.browser import Browser
from tests.gateway.fake_oidc import CLIENT_ID, CLIENT_SECRET, FakeProvider
from tests.gateway.servers import UvicornThread

MODEL = "gemini-2.5-flash"
QUESTION = "How many rows are there?"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.1)


def script(fake_url: str, replies: list[dict]) -> None:
    httpx.post(f"{fake_url}/_fake/reset").raise_for_status()
    httpx.post(f"{fake_url}/_fake/replies", json={"replies": replies}).raise_for_status()


async def first_token(client: genai.Client) -> float:
    started = time.perf_counter()
    stream = await client.aio.models.generate_content_stream(model=MODEL, contents=QUESTION)
    elapsed = None
    async for chunk in stream:
        if elapsed is None and chunk.text:
            elapsed = time.perf_counter() - started
    assert elapsed is not None
    return elapsed


async def ttft(direct: genai.Client, gateway: genai.Client, calls: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {"direct": [], "gateway": []}
    for i in range(calls + 3):
        for label, client in (("direct", direct), ("gateway", gateway)):
            seconds = await first_token(client)
            if i >= 3:  # warm-up: connections, imports
                samples[label].append(seconds)
    return samples


def raw_stream(url: str, key: str) -> tuple[float, int, int]:
    """Seconds, bytes and SSE events of one streamed answer read as raw bytes."""
    started = time.perf_counter()
    size = events = 0
    with httpx.stream(
        "POST",
        f"{url}/v1beta/models/{MODEL}:streamGenerateContent",
        params={"alt": "sse"},
        headers={"x-goog-api-key": key},
        json={"contents": [{"role": "user", "parts": [{"text": QUESTION}]}]},
        timeout=120,
    ) as answer:
        answer.raise_for_status()
        for piece in answer.iter_bytes():
            size += len(piece)
            events += piece.count(b"data:")
    return time.perf_counter() - started, size, events


async def sdk_stream(client: genai.Client) -> float:
    started = time.perf_counter()
    stream = await client.aio.models.generate_content_stream(model=MODEL, contents=QUESTION)
    async for _ in stream:
        pass
    return time.perf_counter() - started


def sign_in(gateway_url: str) -> str:
    keys = subprocess.run(
        [sys.executable, "-m", "chatdf.gateway", "referral", "create"],
        env=os.environ,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    started = httpx.post(f"{gateway_url}/v1/sign-in").json()
    browser = Browser()
    page = browser.sign_in(started["url"], referral_key=keys[0])
    browser.close()
    assert "Signed in as" in page.text, page.text
    answer = httpx.post(f"{gateway_url}/v1/sign-in/token", data={"device_code": started["device_code"]})
    return answer.json()["access_token"]


def describe(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"  {label:<8} median {statistics.median(samples) * 1000:7.2f} ms   "
        f"p95 {p95 * 1000:7.2f} ms   min {ordered[0] * 1000:7.2f} ms   n={len(samples)}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100, help="streamed calls per path for TTFT")
    parser.add_argument("--chunks", type=int, default=5000, help="chunks in the throughput answer")
    parser.add_argument("--repeats", type=int, default=5, help="throughput runs per path")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="chatdf-bench-gateway-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_gemini", "--loop"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    fake_url = fake.stdout.readline().strip() if fake.stdout else ""
    provider = FakeProvider()
    provider_server = UvicornThread()
    provider.issuer = provider_server.url
    provider_server.start(provider.app())

    port = free_port()
    gateway_url = f"http://127.0.0.1:{port}"
    os.environ.update(
        {
            "CHATDF_GATEWAY_UPSTREAM_API_KEY": TEST_API_KEY,
            "CHATDF_GATEWAY_UPSTREAM_URL": fake_url,
            "CHATDF_GATEWAY_OIDC_DISCOVERY_URL": f"{provider.issuer}/.well-known/openid-configuration",
            "CHATDF_GATEWAY_CLIENT_ID": CLIENT_ID,
            "CHATDF_GATEWAY_CLIENT_SECRET": CLIENT_SECRET,
            "CHATDF_GATEWAY_PUBLIC_URL": gateway_url,
            "CHATDF_GATEWAY_DB_PATH": str(workdir / "gateway.sqlite"),
            "CHATDF_GATEWAY_TOKEN_LIMIT": "0",
        }
    )
    gateway = subprocess.Popen(
        [sys.executable, "-m", "chatdf.gateway", "serve", "--port", str(port), "--log-level", "warning"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        wait_until_up(f"{gateway_url}/sign-in", gateway)
        token = sign_in(gateway_url)
        provider_server.stop()

        def client(url: str, key: str) -> genai.Client:
            return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=url))

        direct, through = client(fake_url, TEST_API_KEY), client(gateway_url, token)

        print(f"chatdf gateway bench: fake Gemini {fake_url}, gateway {gateway_url} (separate processes)")
        script(fake_url, [{"chunks": text_chunks("There are 1,234 rows in the orders table.", n=8)}])
        samples = asyncio.run(ttft(direct, through, args.calls))
        print("\nTime to first token (SDK, streamed answer of 8 chunks):")
        for label, values in samples.items():
            print(describe(label, values))
        added = statistics.median(samples["gateway"]) - statistics.median(samples["direct"])
        print(f"  added by the gateway: {added * 1000:+.2f} ms (median)")

        text = "Rows, columns and totals, streamed in many small pieces. " * (args.chunks * 2 // 57 + 1)
        chunks = text_chunks(text[: args.chunks * 2], n=args.chunks)
        script(fake_url, [{"chunks": chunks}])
        print(f"\nStreaming throughput (one answer of {args.chunks:,} chunks, best of {args.repeats}):")
        for label, url, key in (("direct", fake_url, TEST_API_KEY), ("gateway", gateway_url, token)):
            runs = [raw_stream(url, key) for _ in range(args.repeats)]
            seconds, size, events = min(runs)
            print(
                f"  {label:<8} raw bytes  {size / seconds / 1e6:7.2f} MB/s   "
                f"{events / seconds:9,.0f} chunks/s   ({seconds * 1000:.0f} ms, {size:,} bytes)"
            )
        for label, sdk in (("direct", direct), ("gateway", through)):
            seconds = min(asyncio.run(sdk_stream(sdk)) for _ in range(args.repeats))
            print(f"  {label:<8} via SDK    {args.chunks / seconds:9,.0f} chunks/s   ({seconds * 1000:.0f} ms)")

        usage = httpx.get(f"{gateway_url}/v1/usage", headers={"x-goog-api-key": token}).json()
        calls = args.calls + 3 + 2 * args.repeats
        print(f"\nThe gateway metered {usage['used']:,} tokens for {calls} calls: {json.dumps(usage['per_model'])}")
    finally:
        for process in (gateway, fake):
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()

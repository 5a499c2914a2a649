"""Benchmark of CSV by URL (issue #10): adding it, and querying it through the egress proxy.

Run from the repository root::

    .venv/bin/python bench/csv_url.py            # ~100 MB CSV, 3 repeats
    .venv/bin/python bench/csv_url.py --quick    # ~20 MB, 1 repeat

A CSV is served over HTTP by a separate process, once with byte ranges and once
without. Prints, and then as JSON:

- the time to add each URL (sniff the first MiB, infer the types through the
  proxy, count the rows in one streamed GET; without ranges that GET is also
  written to the session folder) and the kernel's peak RSS growth while adding;
- queries (a full-scan aggregate, a selective filter, ``LIMIT 10``) read through
  the egress proxy, from the downloaded copy, and from the original local file,
  with the kernel CPU each took (the proxy relays the bytes in the kernel).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402
import psutil  # noqa: E402

from chatdf.datasets import DatasetRegistry  # noqa: E402
from chatdf.engine import Engine  # noqa: E402
from chatdf.models import TableSource  # noqa: E402
from chatdf.settings import load_settings  # noqa: E402

QUERIES = {
    "full scan": "SELECT COUNT(*) AS n, SUM(value) AS v, MAX(name) AS top, "
    "COUNT(DISTINCT category) AS c, SUM(amount) AS a FROM t",
    "selective": "SELECT * FROM t WHERE id BETWEEN 1000000 AND 1000100",
    "limit 10": "SELECT * FROM t LIMIT 10",
}


def ensure_csv(rows: int) -> Path:
    path = DATA / f"csv-url-{rows}.csv"
    if not path.exists():
        print(f"generating {path.name} ...", flush=True)
        DATA.mkdir(parents=True, exist_ok=True)
        i = pl.int_range(0, rows, dtype=pl.Int64)
        pl.LazyFrame().select(
            id=i,
            value=(i * 2654435761 % 1000003).cast(pl.Float64) * 0.001,
            name=pl.format("customer-{}", (i * 48271) % 10_000_019),
            category=pl.format("cat-{}", i % 20),
            amount=(i * 69069) % 999_983,
        ).sink_csv(path)
    return path


def serve(folder: Path, no_range: str) -> None:
    """``--serve DIR NAME``: serve DIR, NAME without byte ranges; print the port first."""
    from tests.http_server import LocalHTTPServer

    server = LocalHTTPServer(folder)
    server.no_range.add(f"/{no_range}")
    server.start()
    print(server.port, flush=True)
    server._thread.join()


class PeakRss:
    """The kernel's peak RSS growth (MB) while the block runs, sampled every 10 ms."""

    def __enter__(self) -> PeakRss:
        self._process = psutil.Process()
        self._base = self._process.memory_info().rss
        self.peak_mb = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._done.wait(0.01):
            grown = (self._process.memory_info().rss - self._base) / 1e6
            self.peak_mb = max(self.peak_mb, grown)

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


async def run(rows: int, repeats: int) -> dict[str, Any]:
    path = ensure_csv(rows)
    size_mb = path.stat().st_size / 1e6
    link = path.with_name("no-ranges-" + path.name)
    if not link.exists():
        link.symlink_to(path.name)
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(path.parent), link.name],
        stdout=subprocess.PIPE,
        text=True,
    )
    added: dict[str, dict[str, float]] = {}
    timings: dict[str, dict[str, float]] = {}
    kernel_cpu: dict[str, dict[str, float]] = {}
    try:
        assert server.stdout is not None
        origin = f"http://127.0.0.1:{int(server.stdout.readline())}"
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            settings = load_settings(allow_private_urls=True, workers=1)  # server on 127.0.0.1
            registry = DatasetRegistry(settings, workdir)
            engine = Engine(settings, workdir)
            try:
                for name, file in (("ranged", path.name), ("copy", link.name)):
                    with PeakRss() as rss:
                        t = time.perf_counter()
                        await registry.add(f"{origin}/{file}", name)
                        seconds = time.perf_counter() - t
                    added[name] = {"s": seconds, "peak_rss_mb": rss.peak_mb}
                local = TableSource(name="t", kind="csv", location=str(path))
                sources = {
                    "egress proxy": registry.tables()["ranged"].model_copy(update={"name": "t"}),
                    "downloaded copy": registry.tables()["copy"].model_copy(update={"name": "t"}),
                    "local file": local,
                }
                await engine.run("SELECT 1 AS one", {})  # start the pool
                for query, sql in QUERIES.items():
                    for mode, table in sources.items():
                        runs, cpu = [], []
                        for _ in range(repeats):
                            c, t = time.process_time(), time.perf_counter()
                            await engine.run(sql, {"t": table})
                            runs.append(time.perf_counter() - t)
                            cpu.append(time.process_time() - c)
                        timings.setdefault(query, {})[mode] = statistics.median(runs)
                        kernel_cpu.setdefault(query, {})[mode] = statistics.median(cpu)
            finally:
                await engine.close()
                registry.close()
    finally:
        server.kill()
        server.wait()
    print(f"\nCSV by URL: {size_mb:.0f} MB, {rows:,} rows; median of {repeats}")
    for name, numbers in added.items():
        print(
            f"  add ({name}): {numbers['s']:.2f} s, kernel RSS +{numbers['peak_rss_mb']:.0f} MB"
        )
    for query, by_mode in timings.items():
        for mode, seconds in by_mode.items():
            cpu_s = kernel_cpu[query][mode]
            print(f"  {query:10} / {mode:16} {seconds:7.3f} s   kernel CPU {cpu_s:.2f} s")
    return {
        "size_mb": size_mb,
        "rows": rows,
        "add": added,
        "seconds": timings,
        "kernel_cpu_s": kernel_cpu,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="~20 MB and one repeat")
    parser.add_argument("--json", type=Path, help="also write the JSON to this file")
    parser.add_argument("--serve", nargs=2, metavar=("DIR", "NAME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), args.serve[1])
        sys.exit(0)
    numbers = asyncio.run(run(400_000 if args.quick else 2_000_000, 1 if args.quick else 3))
    text = json.dumps(numbers, indent=2)
    print("\nJSON\n" + text)
    if args.json:
        args.json.write_text(text + "\n")

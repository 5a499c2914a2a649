"""Benchmark of CSV by URL (issue #10): adding it, and querying the copy or through the proxy.

Run from the repository root::

    .venv/bin/python bench/csv_url.py            # ~94 MB CSV, 3 repeats
    .venv/bin/python bench/csv_url.py --quick    # ~19 MB, 1 repeat

A CSV is served over HTTP by a separate process, once with byte ranges and once
without. Prints, and then as JSON:

- the time to add the URL (sniff the first MiB, count the rows in one streamed
  GET that is kept as the session's copy, infer the types) and the kernel's
  peak RSS growth while adding: as chatdf does by default (a copy), with the
  copy turned off (``download_limit=0``: scanned through the egress proxy, as
  files over the cap are), and from a server without byte ranges;
- queries (a full-scan aggregate, a selective filter, ``LIMIT 10``) read from
  the copy, through the egress proxy, and from the original local file, with
  the kernel CPU each took (the proxy relays the bytes in the kernel);
- how fast the row count runs on bytes in memory (plain, every field quoted,
  gzip): the kernel-side cost of adding, whatever the network.
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

import polars as pl
import psutil

from chatdf.datasets import DatasetRegistry
from chatdf.engine import Engine
from chatdf.models import TableSource
from chatdf.settings import load_settings

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


def counting_speed(path: Path) -> dict[str, float]:
    """MB of CSV text per second that :func:`chatdf.datasets.csvsniff.count_rows` counts."""
    import gzip

    from chatdf.datasets.csvsniff import count_rows

    plain = path.read_bytes()
    shapes: dict[str, tuple[bytes, Any]] = {
        "plain": (plain, None),
        "every field quoted": (b'"' + plain.replace(b",", b'","').replace(b"\n", b'"\n"'), None),
        "gzip": (gzip.compress(plain, 6), "gzip"),
    }
    speeds = {}
    for shape, (data, compression) in shapes.items():
        chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
        t = time.perf_counter()
        count_rows(chunks, compression=compression)
        text = len(plain) if compression else len(data)
        speeds[shape] = text / (time.perf_counter() - t) / 1e6
    return speeds


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
            uncopied = DatasetRegistry(settings, workdir, download_limit=0)
            engine = Engine(settings, workdir)
            try:
                adds = (
                    ("copy, server without ranges", registry, link.name),
                    ("copy", registry, path.name),
                    ("egress proxy", uncopied, path.name),
                )
                for mode, target, file in adds:
                    if "t" in target:
                        target.remove("t")
                    with PeakRss() as rss:
                        t = time.perf_counter()
                        await target.add(f"{origin}/{file}", "t")
                        seconds = time.perf_counter() - t
                    added[mode] = {"s": seconds, "peak_rss_mb": rss.peak_mb}
                sources = {
                    "copy": registry.tables()["t"],
                    "egress proxy": uncopied.tables()["t"],
                    "local file": TableSource(name="t", kind="csv", location=str(path)),
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
                uncopied.close()
    finally:
        server.kill()
        server.wait()
    speeds = counting_speed(path)
    print(f"\nCSV by URL: {size_mb:.0f} MB, {rows:,} rows; median of {repeats}")
    for name, numbers in added.items():
        print(
            f"  add ({name}): {numbers['s']:.2f} s, kernel RSS +{numbers['peak_rss_mb']:.0f} MB"
        )
    for query, by_mode in timings.items():
        for mode, seconds in by_mode.items():
            cpu_s = kernel_cpu[query][mode]
            print(f"  {query:10} / {mode:13} {seconds:7.3f} s   kernel CPU {cpu_s:.2f} s")
    for shape, speed in speeds.items():
        print(f"  counting rows in memory, {shape}: {speed:,.0f} MB/s")
    return {
        "size_mb": size_mb,
        "rows": rows,
        "count_mb_per_s": speeds,
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

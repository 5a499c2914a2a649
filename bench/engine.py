"""Benchmarks of the query engine (issue #2): the worker pool against in-process Polars.

Run from the repository root::

    .venv/bin/python bench/engine.py            # full run (TPC-H SF1, 1M and 10M rows)
    .venv/bin/python bench/engine.py --quick    # smaller: TPC-H SF0.1, 1M rows, shorter waits
    .venv/bin/python bench/engine.py --json out.json
    .venv/bin/python bench/engine.py --engine spark [--quick] [--spark-remote sc://host:15002]

``--engine spark`` runs the Spark Connect engine's numbers instead, on a local
standalone cluster (a master, two workers, a Connect server: see
tests/spark/cluster.py; ``.spark-venv`` or ``CHATDF_TEST_SPARK_HOME``) unless
``--spark-remote`` names one: the TPC-H subset through ``engine="spark"``
against the Polars engine on the same parquet, the median of 10 ``chat.sql``
round trips (``SELECT 1``) on each engine, and the time to the first grid page
of a 50M-row result.

Prints a table per section and, at the end, every number as one JSON object.
Data goes to bench/data/ (gitignored) and is generated once: TPC-H parquet
with ``tpchgen-cli``, wide-row parquet files with Polars.

Sections
--------
roundtrip   ``SELECT 1`` through the pool vs ``pl.SQLContext`` in process
transfer    1M / 10M-row results into the kernel: time and peak RSS, each
            measured in a fresh subprocess so the peaks do not mix
tpch        a handful of TPC-H queries: Engine vs in-process Polars vs DuckDB
loop        max scheduling delay of a 10 ms ticker on the kernel loop while a
            long query runs in a worker
egress      a ~100 MB parquet served over HTTP (by a separate process): a full
            scan and a selective query read through chatdf's egress proxy, read
            by Polars straight from the server (unguarded, as before issue #9),
            and from the local file; plus the time to add the URL
limits      with default settings: the 1M-row sort's time and peak worker RSS;
            how long a memory hog (a sorted 200k x 200k cross join) and a disk
            hog (the same join written out) run before they are stopped; peak
            worker RSS of the TPC-H queries above
kernel      kernel RSS over 20 queries with 5M-row results through a session
            with default settings (results kept by size), then one grid sort of
            such a result by a text column (run in a worker); fresh process
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
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

from bench.tpch_queries import TPCH_QUERIES as TPCH_ALL
from chatdf.engine import Engine
from chatdf.errors import QueryError
from chatdf.models import TableSource
from chatdf.settings import load_settings

TPCH_TABLES = ["lineitem", "orders", "customer", "supplier", "nation", "region", "part", "partsupp"]

# Written once for Polars' SQL, sqlglot's guard and DuckDB alike: DATE literals
# instead of interval arithmetic, explicit joins.
TPCH_QUERIES = {
    "q1": """
        SELECT l_returnflag, l_linestatus,
               SUM(l_quantity) AS sum_qty, SUM(l_extendedprice) AS sum_base_price,
               SUM(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
               SUM(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge,
               AVG(l_quantity) AS avg_qty, AVG(l_extendedprice) AS avg_price,
               AVG(l_discount) AS avg_disc, COUNT(*) AS count_order
        FROM lineitem
        WHERE l_shipdate <= DATE '1998-09-02'
        GROUP BY l_returnflag, l_linestatus
        ORDER BY l_returnflag, l_linestatus""",
    "q3": """
        SELECT l_orderkey, SUM(l_extendedprice * (1 - l_discount)) AS revenue,
               o_orderdate, o_shippriority
        FROM customer
        JOIN orders ON c_custkey = o_custkey
        JOIN lineitem ON l_orderkey = o_orderkey
        WHERE c_mktsegment = 'BUILDING'
          AND o_orderdate < DATE '1995-03-15' AND l_shipdate > DATE '1995-03-15'
        GROUP BY l_orderkey, o_orderdate, o_shippriority
        ORDER BY revenue DESC, o_orderdate
        LIMIT 10""",
    "q5": """
        SELECT n_name, SUM(l_extendedprice * (1 - l_discount)) AS revenue
        FROM customer
        JOIN orders ON c_custkey = o_custkey
        JOIN lineitem ON l_orderkey = o_orderkey
        JOIN supplier ON l_suppkey = s_suppkey AND c_nationkey = s_nationkey
        JOIN nation ON s_nationkey = n_nationkey
        JOIN region ON n_regionkey = r_regionkey
        WHERE r_name = 'ASIA'
          AND o_orderdate >= DATE '1994-01-01' AND o_orderdate < DATE '1995-01-01'
        GROUP BY n_name
        ORDER BY revenue DESC""",
    "q6": """
        SELECT SUM(l_extendedprice * l_discount) AS revenue
        FROM lineitem
        WHERE l_shipdate >= DATE '1994-01-01' AND l_shipdate < DATE '1995-01-01'
          AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24""",
    "q10": """
        SELECT c_custkey, c_name, SUM(l_extendedprice * (1 - l_discount)) AS revenue,
               c_acctbal, n_name, c_address, c_phone, c_comment
        FROM customer
        JOIN orders ON c_custkey = o_custkey
        JOIN lineitem ON l_orderkey = o_orderkey
        JOIN nation ON c_nationkey = n_nationkey
        WHERE o_orderdate >= DATE '1993-10-01' AND o_orderdate < DATE '1994-01-01'
          AND l_returnflag = 'R'
        GROUP BY c_custkey, c_name, c_acctbal, c_phone, n_name, c_address, c_comment
        ORDER BY revenue DESC
        LIMIT 20""",
    "q12": """
        SELECT l_shipmode,
               SUM(CASE WHEN o_orderpriority = '1-URGENT' OR o_orderpriority = '2-HIGH'
                        THEN 1 ELSE 0 END) AS high_line_count,
               SUM(CASE WHEN o_orderpriority <> '1-URGENT' AND o_orderpriority <> '2-HIGH'
                        THEN 1 ELSE 0 END) AS low_line_count
        FROM orders JOIN lineitem ON o_orderkey = l_orderkey
        WHERE l_shipmode IN ('MAIL', 'SHIP')
          AND l_commitdate < l_receiptdate AND l_shipdate < l_commitdate
          AND l_receiptdate >= DATE '1994-01-01' AND l_receiptdate < DATE '1995-01-01'
        GROUP BY l_shipmode
        ORDER BY l_shipmode""",
}

TRANSFER_SQL = "SELECT * FROM wide"
SECTIONS = ("roundtrip", "transfer", "tpch", "loop", "egress", "limits", "kernel")
SORT_SQL = "SELECT id, price, tag, price*1.2+id AS adjusted FROM data ORDER BY price DESC, id"
MEMORY_HOG_SQL = "SELECT a.x * 200000 + b.x AS k FROM slow a CROSS JOIN slow b ORDER BY k DESC"
DISK_HOG_SQL = "SELECT a.x, b.x AS y FROM slow a CROSS JOIN slow b"


# -- helpers -------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across fork and
    # exec, so a child would report its parent's peak.
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def anon_mb(pid: int | None = None) -> float:
    """Anonymous resident memory (the heap, not mapped files) of ``pid`` (default: us)."""
    info = psutil.Process(pid).memory_info()
    return (info.rss - info.shared) / 2**20


class PeakSampler:
    """Samples the RSS of some processes every 5 ms on a thread; keeps the peaks."""

    def __init__(self, pids: Any) -> None:
        self._pids = pids  # a callable giving the pids to watch now
        self.peak_rss_mb = 0.0
        self.peak_anon_mb = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.is_set():
            for pid in self._pids():
                try:
                    info = psutil.Process(pid).memory_info()
                except psutil.Error:
                    continue
                self.peak_rss_mb = max(self.peak_rss_mb, info.rss / 2**20)
                self.peak_anon_mb = max(self.peak_anon_mb, (info.rss - info.shared) / 2**20)
            time.sleep(0.005)


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


def engine_for(workdir: Path, **settings: Any) -> Engine:
    settings.setdefault("workers", 2)
    settings.setdefault("query_timeout", 600)
    settings.setdefault("worker_memory_mb", 0)  # benchmarks measure, they do not limit
    return Engine(load_settings(**settings), workdir)


def table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    cells = [header] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for i, row in enumerate(cells):
        print(
            "  "
            + "  ".join(
                c.rjust(w) if j else c.ljust(w)
                for j, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


# -- data ----------------------------------------------------------------------------------


def ensure_tpch(scale: float) -> Path:
    folder = DATA / f"tpch-sf{scale:g}"
    if all((folder / f"{t}.parquet").exists() for t in TPCH_TABLES):
        return folder
    exe = shutil.which("tpchgen-cli") or str(Path(sys.executable).with_name("tpchgen-cli"))
    print(f"generating TPC-H SF{scale:g} into {folder} ...", flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([exe, "parquet", "-s", f"{scale:g}", f"--output-dir={folder}"], check=True)
    return folder


def ensure_wide(rows: int) -> Path:
    path = DATA / f"wide-{rows}.parquet"
    if not path.exists():
        print(f"generating {path.name} ...", flush=True)
        DATA.mkdir(parents=True, exist_ok=True)
        i = pl.int_range(0, rows, dtype=pl.Int64)
        (
            pl.LazyFrame()
            .select(
                id=i,
                value=i.cast(pl.Float64) * 0.5,
                name=pl.format("customer-{}", i),
                category=pl.format("cat-{}", i % 20),
                day=pl.date(2024, 1, 1) + pl.duration(days=i % 365),
            )
            .sink_parquet(path)
        )
    return path


# -- sections ------------------------------------------------------------------------------


async def bench_roundtrip(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = engine_for(Path(tmp))
        try:
            await engine.run("SELECT 1 AS one", {})  # start the pool
            await asyncio.sleep(1)  # let the second worker finish starting
            pool = []
            for _ in range(n):
                t = time.perf_counter()
                await engine.run("SELECT 1 AS one", {})
                pool.append((time.perf_counter() - t) * 1000)
        finally:
            await engine.close()
    local = []
    for _ in range(n):
        t = time.perf_counter()
        pl.SQLContext().execute("SELECT 1 AS one", eager=True)
        local.append((time.perf_counter() - t) * 1000)
    result = {
        "engine_median_ms": median(pool),
        "engine_p95_ms": p95(pool),
        "inproc_median_ms": median(local),
        "inproc_p95_ms": p95(local),
        "n": n,
    }
    table(
        f"SELECT 1 round trip ({n} runs)",
        ["", "median ms", "p95 ms"],
        [
            ["engine (pool)", result["engine_median_ms"], result["engine_p95_ms"]],
            ["in-process polars", result["inproc_median_ms"], result["inproc_p95_ms"]],
        ],
    )
    return result


def bench_transfer(sizes: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rows = []
    for n in sizes:
        path = ensure_wide(n)
        runs = {}
        for mode in ("inproc", "engine"):
            proc = subprocess.run(
                [sys.executable, __file__, "--measure-transfer", mode, str(path)],
                check=True,
                capture_output=True,
                text=True,
            )
            runs[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
        ratio_rss = runs["engine"]["peak_rss_mb"] / runs["inproc"]["peak_rss_mb"]
        ratio_growth = runs["engine"]["growth_mb"] / runs["inproc"]["growth_mb"]
        ratio_time = runs["engine"]["seconds"] / runs["inproc"]["seconds"]
        out[str(n)] = {
            **runs,
            "peak_rss_ratio": ratio_rss,
            "growth_ratio": ratio_growth,
            "time_ratio": ratio_time,
        }
        for mode in ("inproc", "engine"):
            r = runs[mode]
            rows.append(
                [
                    f"{n:,} rows {mode}",
                    r["seconds"],
                    r["frame_mb"],
                    r["base_rss_mb"],
                    r["peak_rss_after_query_mb"],
                    r["peak_rss_mb"],
                    r["growth_mb"],
                ]
            )
        rows.append([f"{n:,} rows engine/inproc", ratio_time, "", "", "", ratio_rss, ratio_growth])
    table(
        "Results into the kernel (fresh process each; SELECT * of id, value, name, category, day)",
        [
            "",
            "seconds",
            "frame MB",
            "base RSS MB",
            "peak after query",
            "peak after reading",
            "peak - base",
        ],
        rows,
    )
    return out


def measure_transfer(mode: str, path: str) -> None:
    """Child process: run TRANSFER_SQL one way, print time and memory as JSON."""
    import pyarrow  # noqa: F401 - the kernel has it loaded either way; keep the bases equal

    tables = {"wide": TableSource(name="wide", kind="parquet", location=path)}
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        if mode == "engine":

            async def go() -> tuple[pl.DataFrame, float, float, Engine]:
                engine = engine_for(workdir, workers=1)
                await engine.run("SELECT 1 AS one", {})
                base = rss_mb()
                t = time.perf_counter()
                result = await engine.run(TRANSFER_SQL, tables)
                return result.data, time.perf_counter() - t, base, engine

            frame, seconds, base, engine = asyncio.run(go())
        else:
            base = rss_mb()
            t = time.perf_counter()
            frame = pl.SQLContext(wide=pl.scan_parquet(path)).execute(TRANSFER_SQL, eager=True)
            seconds = time.perf_counter() - t
        peak_after_query = peak_rss_mb()
        # Read every value (cheaply) so mapped pages count as they will once used.
        maxima = frame.select(pl.all().max()).row(0)
        print(
            json.dumps(
                {
                    "seconds": seconds,
                    "rows": frame.height,
                    "frame_mb": frame.estimated_size() / 2**20,
                    "base_rss_mb": base,
                    "peak_rss_after_query_mb": peak_after_query,
                    "peak_rss_mb": peak_rss_mb(),
                    "growth_mb": peak_rss_mb() - base,
                    "max_id": maxima[0],
                }
            )
        )
        if mode == "engine":
            engine.close_now()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def bench_tpch(scale: float, repeats: int) -> dict[str, Any]:
    import duckdb

    folder = ensure_tpch(scale)
    tables = {
        t: TableSource(name=t, kind="parquet", location=str(folder / f"{t}.parquet"))
        for t in TPCH_TABLES
    }
    con = duckdb.connect()
    for t in TPCH_TABLES:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{folder / f'{t}.parquet'}')")
    ctx = pl.SQLContext({t: pl.scan_parquet(folder / f"{t}.parquet") for t in TPCH_TABLES})

    def timed(fn: Any) -> tuple[float, Any]:
        times, value = [], None
        for _ in range(repeats):
            t = time.perf_counter()
            value = fn()
            times.append(time.perf_counter() - t)
        return min(times), value

    out: dict[str, Any] = {}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = engine_for(Path(tmp), workers=1)
        try:
            await engine.run("SELECT 1 AS one", {})
            for name, sql in TPCH_ALL.items():
                times = []
                for _ in range(repeats):
                    t = time.perf_counter()
                    result = await engine.run(sql, tables)
                    times.append(time.perf_counter() - t)
                t_engine = min(times)
                # In-process Polars runs the text the dialect layer made (what the worker ran).
                ran = result.polars_sql or sql
                t_polars, local = timed(lambda ran=ran: ctx.execute(ran, eager=True))
                t_duck, duck = timed(lambda sql=sql: con.execute(sql).fetchall())
                assert result.total_rows == local.height == len(duck), name
                out[name] = {
                    "engine_s": t_engine,
                    "polars_s": t_polars,
                    "duckdb_s": t_duck,
                    "engine_vs_polars": t_engine / t_polars,
                    "engine_vs_duckdb": t_engine / t_duck,
                    "rows": result.total_rows,
                }
                rows.append(
                    [name, t_engine, t_polars, t_duck, t_engine / t_polars, t_engine / t_duck]
                )
        finally:
            await engine.close()
    table(
        f"TPC-H SF{scale:g} (best of {repeats}, seconds; 1 worker, Polars and DuckDB use all cores)",
        ["query", "engine", "polars", "duckdb", "engine/polars", "engine/duckdb"],
        rows,
    )
    return out


async def bench_loop(target_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        calib_rows = 20_000
        pl.DataFrame({"x": range(400_000)}).write_parquet(folder / "n.parquet")
        engine = engine_for(folder / "work", workers=1)
        try:
            tables = {
                "n": TableSource(name="n", kind="parquet", location=str(folder / "n.parquet"))
            }

            def sql(rows: int) -> str:
                return (
                    f"SELECT COUNT(*) AS c FROM (SELECT x FROM n LIMIT {rows}) a "
                    f"CROSS JOIN (SELECT x FROM n LIMIT {rows}) b WHERE (a.x * b.x) % 7 = 3"
                )

            await engine.run("SELECT 1 AS one", {})
            t = time.perf_counter()
            await engine.run(sql(calib_rows), tables)
            per_pair = (time.perf_counter() - t) / calib_rows**2
            rows = min(400_000, int((target_s / per_pair) ** 0.5))

            loop = asyncio.get_running_loop()
            delays: list[float] = []
            running = True

            async def ticker() -> None:
                while running:
                    t0 = loop.time()
                    await asyncio.sleep(0.01)
                    delays.append((loop.time() - t0 - 0.01) * 1000)

            tick = asyncio.ensure_future(ticker())
            t = time.perf_counter()
            await engine.run(sql(rows), tables)
            query_s = time.perf_counter() - t
            running = False
            await tick
        finally:
            await engine.close()
    result = {
        "query_s": query_s,
        "ticks": len(delays),
        "max_delay_ms": max(delays),
        "p99_delay_ms": sorted(delays)[int(0.99 * (len(delays) - 1))],
        "median_delay_ms": median(delays),
    }
    table(
        "Kernel loop while a long query runs in a worker (10 ms ticker)",
        ["query s", "ticks", "median late ms", "p99 late ms", "max late ms"],
        [
            [
                query_s,
                len(delays),
                result["median_delay_ms"],
                result["p99_delay_ms"],
                result["max_delay_ms"],
            ]
        ],
    )
    return result


EGRESS_QUERIES = {
    "full scan": "SELECT COUNT(*) AS n, SUM(value) AS v, MAX(name) AS top, "
    "COUNT(DISTINCT category) AS c, MAX(day) AS d, SUM(amount) AS a FROM t",
    "selective": "SELECT * FROM t WHERE id BETWEEN 1000000 AND 1000100",
}


def ensure_egress_file(rows: int) -> Path:
    """Parquet that compresses about as badly as real data (~7 bytes a row)."""
    path = DATA / f"egress-{rows}.parquet"
    if not path.exists():
        print(f"generating {path.name} ...", flush=True)
        DATA.mkdir(parents=True, exist_ok=True)
        i = pl.int_range(0, rows, dtype=pl.Int64)
        (
            pl.LazyFrame()
            .select(
                id=i,
                value=(i * 2654435761 % 1000003).cast(pl.Float64) * 0.001,
                name=pl.format("customer-{}", (i * 48271) % 10_000_019),
                category=pl.format("cat-{}", i % 20),
                day=pl.date(2024, 1, 1) + pl.duration(days=i % 365),
                amount=(i * 69069) % 999_983,
            )
            .sink_parquet(path)
        )
    return path


def serve_http(folder: Path) -> None:
    """``--serve-http DIR``: serve DIR (HEAD, ranges) until killed; print the port first."""
    from tests.http_server import LocalHTTPServer

    server = LocalHTTPServer(folder).start()
    print(server.port, flush=True)
    server._thread.join()


async def bench_egress(rows: int, repeats: int) -> dict[str, Any]:
    """Full and selective queries: egress proxy vs Polars' own HTTP vs the local file."""
    from chatdf.datasets import DatasetRegistry

    path = ensure_egress_file(rows)
    size_mb = path.stat().st_size / 1e6
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve-http", str(path.parent)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}/{path.name}"
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            settings = load_settings(allow_private_urls=True)  # the server is on 127.0.0.1
            registry = DatasetRegistry(settings, workdir)
            engine = engine_for(workdir)
            try:
                t = time.perf_counter()
                await registry.add(url, "t")
                add_s = time.perf_counter() - t
                sources = {
                    "local file": {"t": TableSource(name="t", kind="parquet", location=str(path))},
                    "HTTP, Polars direct (unguarded)": {
                        "t": TableSource(name="t", kind="url", location=url)
                    },
                    "HTTP via egress proxy": {"t": registry.tables()["t"]},
                }
                await engine.run("SELECT 1 AS one", {})  # start the pool
                await asyncio.sleep(1)
                timings: dict[str, dict[str, float]] = {}
                kernel_cpu: dict[str, dict[str, float]] = {}
                for query_name, sql in EGRESS_QUERIES.items():
                    for mode, tables in sources.items():
                        runs, cpu = [], []
                        for _ in range(repeats):
                            c, t = time.process_time(), time.perf_counter()
                            await engine.run(sql, tables)
                            runs.append(time.perf_counter() - t)
                            cpu.append(time.process_time() - c)
                        timings.setdefault(query_name, {})[mode] = median(runs)
                        kernel_cpu.setdefault(query_name, {})[mode] = median(cpu)
            finally:
                await engine.close()
                registry.close()
    finally:
        server.kill()
        server.wait()
    local = "local file"
    rows_out = [
        [f"{query} / {mode}", seconds, seconds / by_mode[local], kernel_cpu[query][mode]]
        for query, by_mode in timings.items()
        for mode, seconds in by_mode.items()
    ]
    table(
        f"Remote parquet ({size_mb:.0f} MB, {rows:,} rows; median of {repeats}); "
        f"adding the URL took {add_s:.2f} s",
        ["query / read by", "s", "x local", "kernel CPU s"],
        rows_out,
    )
    return {
        "size_mb": size_mb,
        "rows": rows,
        "add_s": add_s,
        "seconds": timings,
        "kernel_cpu_s": kernel_cpu,
    }
async def bench_limits(sort_runs: int, tpch_scale: float) -> dict[str, Any]:
    """Default settings (no overrides): ordinary work passes, hogs are stopped, and how fast."""
    settings = load_settings()
    out: dict[str, Any] = {
        "worker_memory_mb": settings.worker_memory_mb,
        "max_result_mb": settings.max_result_mb,
        "workers": settings.worker_count,
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        n = 1_000_000
        pl.select(
            id=pl.int_range(n),
            price=pl.int_range(n).hash(7) % 10_000 / 100,
            tag=pl.format("tag-{}", pl.int_range(n) % 977),
        ).write_parquet(folder / "data.parquet")
        pl.DataFrame({"x": range(200_000)}).write_parquet(folder / "slow.parquet")
        tables = {
            name: TableSource(name=name, kind="parquet", location=str(folder / f"{name}.parquet"))
            for name in ("data", "slow")
        }
        engine = Engine(settings, folder / "work")
        rows = []
        try:
            await engine.run("SELECT 1 AS one", {})
            times = []
            with PeakSampler(engine.worker_pids) as sampler:
                for _ in range(sort_runs):
                    t = time.perf_counter()
                    result = await engine.run(SORT_SQL, tables)
                    times.append(time.perf_counter() - t)
                    assert result.total_rows == n
                    del result
            out["sort_1m"] = {
                "median_s": median(times),
                "peak_worker_rss_mb": sampler.peak_rss_mb,
                "peak_worker_anon_mb": sampler.peak_anon_mb,
            }
            rows.append(["1M-row sort (passes)", median(times), sampler.peak_rss_mb, sampler.peak_anon_mb, "ok"])
            for label, key, sql in (
                ("memory hog: sorted cross join", "memory_hog", MEMORY_HOG_SQL),
                ("disk hog: cross join written out", "disk_hog", DISK_HOG_SQL),
            ):
                with PeakSampler(engine.worker_pids) as sampler:
                    t = time.perf_counter()
                    try:
                        await engine.run(sql, tables)
                        outcome = "NOT STOPPED"
                    except QueryError as exc:
                        outcome = f"{exc.error_type}/{exc.details.get('reason', '')}"
                    stopped_s = time.perf_counter() - t
                t = time.perf_counter()
                await engine.run("SELECT COUNT(*) AS n FROM data", tables)  # on a fresh worker
                next_s = time.perf_counter() - t
                out[key] = {
                    "stopped_after_s": stopped_s,
                    "outcome": outcome,
                    "peak_worker_rss_mb": sampler.peak_rss_mb,
                    "peak_worker_anon_mb": sampler.peak_anon_mb,
                    "next_query_s": next_s,
                }
                rows.append([label, stopped_s, sampler.peak_rss_mb, sampler.peak_anon_mb, outcome])
            # TPC-H under the default limit: every query passes, and how close it comes.
            tpch = ensure_tpch(tpch_scale)
            tpch_tables = {
                t: TableSource(name=t, kind="parquet", location=str(tpch / f"{t}.parquet"))
                for t in TPCH_TABLES
            }
            peaks = {}
            for name, sql in TPCH_QUERIES.items():
                with PeakSampler(engine.worker_pids) as sampler:
                    await engine.run(sql, tpch_tables)
                peaks[name] = sampler.peak_rss_mb
            worst = max(peaks, key=peaks.__getitem__)
            out["tpch"] = {"scale": tpch_scale, "peak_worker_rss_mb": peaks}
            rows.append(
                [f"TPC-H SF{tpch_scale:g}, {len(peaks)} queries (all pass)", "", peaks[worst], "", f"max: {worst}"]
            )
        finally:
            await engine.close()
    table(
        f"Limits with default settings (worker memory {out['worker_memory_mb']} MB = auto, "
        f"result cap {out['max_result_mb']} MB, {out['workers']} workers)",
        ["query", "seconds", "peak worker RSS MB", "peak worker heap MB", "outcome"],
        rows,
    )
    return out


def bench_kernel(queries: int, rows: int) -> dict[str, Any]:
    path = ensure_wide(rows)
    proc = subprocess.run(
        [sys.executable, __file__, "--measure-kernel", str(queries), str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    table(
        f"Kernel memory over {queries} queries of {rows:,}-row results (default settings, fresh process)",
        ["", "MB"],
        [
            ["result size (on disk)", out["result_mb"]],
            ["kernel RSS before", out["base_rss_mb"]],
            ["kernel RSS growth, max over the queries", out["max_rss_growth_mb"]],
            ["kernel RSS growth after the last", out["rss_growth_mb"]],
            ["kernel heap growth after the last", out["anon_growth_mb"]],
            ["results kept (count / MB)", f"{out['kept']} / {out['kept_mb']:.0f}"],
            ["grid sort by text: kernel heap peak growth", out["sort_anon_peak_mb"]],
            ["grid sort by text: seconds (in a worker)", out["sort_s"]],
        ],
    )
    return out


def measure_kernel(queries: int, path: str) -> None:
    """Child process: run ``queries`` large queries through a session, print memory as JSON."""
    from chatdf.session import Session

    session = Session(load_settings(db_path=":memory:"))
    try:
        session.call(session.registry.add(path, "wide"))
        session.call(session.run_sql("SELECT 1 AS one"))
        base_rss, base_anon, growth = rss_mb(), anon_mb(), []
        result_mb = 0.0
        for i in range(queries):
            result = session.call(session.run_sql(f"SELECT *, id + {i} AS k FROM wide"))
            result_mb = result.nbytes / 2**20
            result.data.select(pl.all().max())  # touch every value, as a user would
            del result
            growth.append(rss_mb() - base_rss)
        last = session.results[next(reversed(session.results))]
        me = os.getpid()
        with PeakSampler(lambda: [me]) as sampler:
            before = anon_mb()
            t = time.perf_counter()
            session.call(session.page(last.id, 1_000_000, 50, ("name", True)))
            sort_s = time.perf_counter() - t
        print(
            json.dumps(
                {
                    "result_mb": result_mb,
                    "base_rss_mb": base_rss,
                    "max_rss_growth_mb": max(growth),
                    "rss_growth_mb": growth[-1],
                    "anon_growth_mb": anon_mb() - base_anon,
                    "kept": len(session.results),
                    "kept_mb": session.results.total_bytes / 2**20,
                    "sort_anon_peak_mb": sampler.peak_anon_mb - before,
                    "sort_s": sort_s,
                }
            )
        )
    finally:
        session.close()


def bench_spark(remote: str | None, scale: float) -> dict[str, Any]:
    """The Spark engine: TPC-H vs the Polars engine, round trips, first page of 50M rows."""
    from chatdf import ChatDF

    cluster = None
    if remote is None:
        from tests.spark.cluster import LocalCluster, spark_home

        home = spark_home()
        if home is None:
            sys.exit("No full pyspark: make .spark-venv (bash .ci/run) or set CHATDF_TEST_SPARK_HOME.")
        started = time.perf_counter()
        cluster = LocalCluster(home).start()
        remote = cluster.remote
        print(f"local cluster up in {time.perf_counter() - started:.1f} s at {remote}", flush=True)
    folder = ensure_tpch(scale)
    out: dict[str, Any] = {"remote": remote, "scale": scale}
    spark = ChatDF(engine="spark", spark_remote=remote, query_timeout=600, db_path=":memory:")
    polars = ChatDF(workers=2, query_timeout=600, worker_memory_mb=0, db_path=":memory:")
    try:
        for chat in (spark, polars):
            for t in TPCH_TABLES:
                chat.add(folder / f"{t}.parquet", name=t)

        def timed(chat: Any, sql: str) -> tuple[float, Any]:
            t = time.perf_counter()
            frame = chat.sql(sql)
            return time.perf_counter() - t, frame

        rows = []
        for name, sql in TPCH_QUERIES.items():
            t_spark, got = timed(spark, sql)
            t_polars, want = timed(polars, sql)
            assert got.height == want.height, name
            out[name] = {"spark_s": t_spark, "polars_s": t_polars, "rows": got.height}
            rows.append([name, t_spark, t_polars, t_spark / t_polars])
        table(
            f"TPC-H SF{scale:g} (seconds, one run each; local cluster: 2 workers x 1 core)",
            ["query", "spark", "polars engine", "spark/polars"],
            rows,
        )
        trips: dict[str, float] = {}
        for label, chat in (("spark", spark), ("polars", polars)):
            chat.sql("SELECT 1 AS one")
            times = [timed(chat, "SELECT 1 AS one")[0] for _ in range(10)]
            trips[label] = statistics.median(times) * 1000
        out["roundtrip_median_ms"] = trips
        table(
            "chat.sql round trip, SELECT 1 (median of 10, ms)",
            ["engine", "median ms"],
            [[k, v] for k, v in trips.items()],
        )
        spark.add(pl.DataFrame({"i": range(10_000)}), name="big_a")
        spark.add(pl.DataFrame({"j": range(5_000)}), name="big_b")
        session = spark._session
        t = time.perf_counter()
        result = session.call(session.run_sql("SELECT i * 5000 + j AS n FROM big_a CROSS JOIN big_b"))
        t_result = time.perf_counter() - t
        page = session.call(session.page(result.id, offset=0, limit=50))
        t_first = time.perf_counter() - t
        t = time.perf_counter()
        sorted_page = session.call(session.page(result.id, offset=0, limit=50, sort=("n", True)))
        t_sorted = time.perf_counter() - t
        assert result.total_rows == 50_000_000 and page.rows == sorted_page.rows == 50
        out["first_page_50m"] = {
            "query_and_count_s": t_result,
            "first_page_s": t_first,
            "first_sorted_page_s": t_sorted,
            "kernel_bytes": result.nbytes,
        }
        table(
            "50M-row result (rows stay on the cluster)",
            ["step", "seconds"],
            [
                ["query + count + first rows", t_result],
                ["time to the first page", t_first],
                ["first page sorted desc", t_sorted],
            ],
        )
    finally:
        spark.close()
        polars.close()
        if cluster is not None:
            cluster.stop()
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    results: dict[str, Any] = {
        "quick": quick,
        "cpu_count": os.cpu_count(),
        "polars": pl.__version__,
        "python": sys.version.split()[0],
    }
    if args.engine == "spark":
        results["spark"] = bench_spark(args.spark_remote, 0.1 if quick else 1)
        return results
    only = set(args.only or SECTIONS)
    if "roundtrip" in only:
        results["roundtrip"] = await bench_roundtrip(50 if quick else 300)
    if "transfer" in only:
        results["transfer"] = bench_transfer([1_000_000] if quick else [1_000_000, 10_000_000])
    if "tpch" in only:
        results["tpch"] = await bench_tpch(0.1 if quick else 1, 1 if quick else 3)
    if "loop" in only:
        results["loop"] = await bench_loop(3.0 if quick else 10.0)
    if "egress" in only:
        rows, repeats = (3_000_000, 1) if quick else (14_500_000, 3)  # 21 MB / 102 MB
        results["egress"] = await bench_egress(rows, repeats)
    if "limits" in only:
        results["limits"] = await bench_limits(3 if quick else 5, 0.1 if quick else 1)
    if "kernel" in only:
        results["kernel"] = bench_kernel(20, 1_000_000 if quick else 5_000_000)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller data and fewer repeats")
    parser.add_argument("--json", type=Path, help="also write the JSON to this file")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--engine", choices=("polars", "spark"), default="polars")
    parser.add_argument("--spark-remote", help="a Spark Connect server (default: a local cluster)")
    parser.add_argument(
        "--measure-transfer", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS
    )
    parser.add_argument("--serve-http", type=Path, metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument(
        "--measure-kernel", nargs=2, metavar=("QUERIES", "PATH"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.measure_transfer:
        measure_transfer(*args.measure_transfer)
        sys.exit(0)
    if args.serve_http:
        serve_http(args.serve_http)
        sys.exit(0)
    if args.measure_kernel:
        measure_kernel(int(args.measure_kernel[0]), args.measure_kernel[1])
        sys.exit(0)
    numbers = asyncio.run(main(args))
    text = json.dumps(numbers, indent=2)
    print("\nJSON\n" + text)
    if args.json:
        args.json.write_text(text + "\n")

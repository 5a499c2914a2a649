"""What the two SQL checks cost per query (issue #9): the text guard and the plan check.

Run from the repository root::

    .venv/bin/python bench/guard.py            # TPC-H SF0.1 files, 200 repeats
    .venv/bin/python bench/guard.py --quick    # SF0.01, 30 repeats

Text guard, per TPC-H query (the queries of ``bench/engine.py``):

parse       tokenize + parse with sqlglot (what the guard did before)
guard       the whole guard: parse, checks, generation from the tree, parsing
            the generated text again and comparing the trees, token screening
of which    ``to_polars_sql`` alone (generate + round trip + screening)

Plan check, per query, over the TPC-H tables as the worker registers them
(parquet scans; ``lineitem`` also as an IPC file, the in-memory dataset path,
whose scans are matched through ``explain()``):

plan        ``SQLContext.execute`` + ``collect_schema`` (Polars builds the plan anyway)
allowed     walking the registered frames' plans (once per query in the worker)
check       walking the query's plan

Prints a table and the numbers as JSON. Medians in milliseconds; no asserts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import polars as pl
from engine import TPCH_QUERIES, TPCH_TABLES, ensure_tpch, table

from chatdf.engine.plan import allowed_sources, check_plan
from chatdf.engine.sqlguard import _DIALECT, guard, to_polars_sql


def median_ms(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_text(repeats: int) -> dict[str, Any]:
    rows, out = [], {}
    for name, sql in TPCH_QUERIES.items():
        parse = median_ms(lambda sql=sql: _DIALECT.parse(sql), repeats)
        whole = median_ms(lambda sql=sql: guard(sql, TPCH_TABLES), repeats)
        tree = guard(sql, TPCH_TABLES).tree
        generate = median_ms(lambda tree=tree: to_polars_sql(tree), repeats)
        out[name] = {"parse_ms": parse, "guard_ms": whole, "to_polars_sql_ms": generate}
        rows.append([name, len(sql), parse, whole, generate, whole - parse])
    table(
        "text guard (ms, median)",
        ["query", "chars", "parse", "guard", "of which to_polars_sql", "added"],
        rows,
    )
    return out


def bench_plan(folder: Path, repeats: int) -> dict[str, Any]:
    lineitem_ipc = folder / "lineitem.arrow"
    if not lineitem_ipc.exists():
        pl.read_parquet(folder / "lineitem.parquet").write_ipc(lineitem_ipc)
    results: dict[str, Any] = {}
    for layout in ("parquet", "lineitem as IPC"):
        rows = []
        for name, sql in TPCH_QUERIES.items():
            text = guard(sql, TPCH_TABLES).sql

            # The frames a worker builds for a new dataset, then keeps between queries.
            registered = {t: pl.scan_parquet(folder / f"{t}.parquet") for t in TPCH_TABLES}
            if layout != "parquet":
                registered["lineitem"] = pl.scan_ipc(lineitem_ipc)

            def plan(text: str = text, frames: dict = registered) -> pl.LazyFrame:
                query = pl.SQLContext(frames).execute(text, eager=False)
                query.collect_schema()
                return query

            query = plan()
            allowed = allowed_sources(registered.values())
            t_plan = median_ms(plan, repeats)
            t_allowed = median_ms(lambda f=registered: allowed_sources(f.values()), repeats)
            t_check = median_ms(lambda q=query, a=allowed, t=text: check_plan(q, a, t), repeats)
            results.setdefault(layout, {})[name] = {
                "plan_ms": t_plan,
                "allowed_ms": t_allowed,
                "check_ms": t_check,
            }
            rows.append([name, t_plan, t_allowed, t_check, t_allowed + t_check])
        table(
            f"plan check, {layout} (ms, median)",
            ["query", "plan", "allowed", "check", "added"],
            rows,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="SF0.01 and fewer repeats")
    parser.add_argument("--json", type=Path, help="also write the JSON to this file")
    args = parser.parse_args()
    repeats = 30 if args.quick else 200
    folder = ensure_tpch(0.01 if args.quick else 0.1)
    numbers = {
        "polars": pl.__version__,
        "repeats": repeats,
        "text": bench_text(repeats),
        "plan": bench_plan(folder, repeats),
    }
    text = json.dumps(numbers, indent=2)
    print("\nJSON\n" + text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()

"""Charts over a 10-million-row result: time to compute the chart data, bytes sent.

Usage::

    .venv/bin/python bench/charts.py [--rows 10000000] [--repeat 3] [--json out.json]

A ChatDF (one worker, default settings) runs ``SELECT * FROM wide`` over the
generated parquet file of ``--rows`` rows (``bench/data``, shared with
``bench/engine.py``), so the result is a worker-written Arrow file the kernel
maps. Each chart below is then made from it as ``create_chart`` makes it
(``Session.chart``: check, read the mapped columns, VegaFusion, Altair), and
asked for as the widget asks (the ``chart`` request: the whole spec with its
data as one JSON buffer). Per chart:

* ``first_ms``: the first chart of the run (includes starting vl-convert's
  JavaScript engine), and ``ms``: the median of ``--repeat`` later runs;
* ``rows``: rows the chart carries; ``bytes``: the buffer the browser gets;
* ``inline_mb``: the same columns of every row as Altair would inline them
  (estimated from 100,000 rows), i.e. what charting without the kernel-side
  transforms would send;
* ``rss_mb``: the kernel's resident memory after the charts.

Nothing here reaches the internet.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import comm
import psutil

from bench.engine import ensure_wide
from tests.unit.widget._widget_helpers import Browser, RecordingComm

CHARTS: dict[str, dict[str, Any]] = {
    "bar: mean by category": {
        "mark": "bar",
        "encoding": {"x": {"field": "category"}, "y": {"field": "value", "aggregate": "mean"}},
    },
    "histogram: value, 30 bins": {
        "mark": "bar",
        "encoding": {"x": {"field": "value", "bin": {"maxbins": 30}}, "y": {"aggregate": "count"}},
    },
    "line: sum per month and category": {
        "mark": "line",
        "encoding": {
            "x": {"field": "day", "timeUnit": "yearmonth"},
            "y": {"field": "value", "aggregate": "sum"},
            "color": {"field": "category"},
        },
    },
    "filter + count by category": {
        "mark": "bar",
        "transform": [{"filter": "datum.value < 1000000"}],
        "encoding": {"x": {"field": "category"}, "y": {"aggregate": "count"}},
    },
}


def inline_megabytes(result: Any, spec: dict[str, Any]) -> float:
    """What inlining every row of the plotted columns would weigh, from a 100k-row sample."""
    import narwhals.stable.v1 as nw
    from altair.utils.data import to_values

    text = json.dumps(spec)
    columns = [c.name for c in result.columns if json.dumps(c.name) in text]
    sample = result.head(100_000).select(columns)
    size = len(json.dumps(to_values(nw.from_native(sample, eager_only=True))["values"]))
    return round(size * result.total_rows / sample.height / 2**20, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    path = ensure_wide(args.rows)
    comm.create_comm = RecordingComm  # play the browser: keep what the widget sends
    from chatdf import ChatDF

    chat = ChatDF(workers=1)
    numbers: dict[str, Any] = {"rows": args.rows, "charts": {}}
    try:
        chat.add(str(path), name="wide")
        session = chat._session
        started = time.perf_counter()
        result = session.call(session.run_sql("SELECT * FROM wide"))
        numbers["query_ms"] = round((time.perf_counter() - started) * 1000)
        browser = Browser(chat)
        first = True
        for name, spec in CHARTS.items():
            times = []
            for run in range(args.repeat + (1 if first else 0)):
                started = time.perf_counter()
                record = session.call(session.chart(spec, result.id))
                elapsed = (time.perf_counter() - started) * 1000
                if first and run == 0:
                    numbers["first_ms"] = round(elapsed)
                    continue
                times.append(elapsed)
            first = False
            reply, buffers = browser.request("chart", chart_id=record.id)
            assert "error" not in reply, reply
            numbers["charts"][name] = {
                "ms": round(statistics.median(times)),
                "vegafusion_ms": round(record.elapsed_ms),
                "rows": record.rows,
                "bytes": len(buffers[0]),
                "inline_mb": inline_megabytes(result, spec),
            }
        numbers["rss_mb"] = round(psutil.Process().memory_info().rss / 2**20)
    finally:
        chat.close()

    print(f"{args.rows:,}-row result: query {numbers['query_ms']} ms; first chart of the run "
          f"(vl-convert starting) {numbers['first_ms']} ms; kernel RSS after {numbers['rss_mb']} MB")
    print(f"{'chart':<36}{'ms':>8}{'in VF':>8}{'rows':>7}{'bytes sent':>12}{'all rows inline':>18}")
    for name, row in numbers["charts"].items():
        print(f"{name:<36}{row['ms']:>8}{row['vegafusion_ms']:>8}{row['rows']:>7}{row['bytes']:>12,}"
              f"{row['inline_mb']:>15} MB")
    print(json.dumps(numbers))
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2))


if __name__ == "__main__":
    main()

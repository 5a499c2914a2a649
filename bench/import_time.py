"""How long ``import chatdf`` and ``%load_ext chatdf`` take, and what they pull in.

Each measurement runs in a fresh interpreter (nothing cached in ``sys.modules``)
and times the statement with ``time.perf_counter``; the script repeats it and
prints the median and the best run. It then lists which heavy dependencies the
statement loaded, and the slowest top-level imports from ``python -X importtime``.
``%load_ext chatdf`` is timed in a shell whose IPython is already imported, as
in a kernel. Prints a table, then one JSON line.

    .venv/bin/python bench/import_time.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HEAVY = ("google.genai", "aiosqlite", "anywidget", "ipywidgets", "polars", "httpx", "sqlglot")

CASES = {
    "import chatdf": ("", "import chatdf"),
    "%load_ext chatdf": (
        "from IPython.core.interactiveshell import InteractiveShell\nip = InteractiveShell.instance()",
        "ip.run_line_magic('load_ext', 'chatdf')",
    ),
    "chatdf.ChatDF (first access)": ("import chatdf", "chatdf.ChatDF"),
}

_PROBE = """
import json, sys, time
{setup}
before = set(sys.modules)
started = time.perf_counter()
{statement}
elapsed = time.perf_counter() - started
loaded = sorted(m for m in {heavy!r} if m in sys.modules and m not in before)
print(json.dumps({{"seconds": elapsed, "loaded": loaded}}))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def measure(setup: str, statement: str) -> dict:
    code = _PROBE.format(setup=setup, statement=statement, heavy=HEAVY)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_env(), cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def slowest_imports(limit: int = 8) -> list[tuple[str, float]]:
    """Packages by the import time of all their modules under ``-X importtime`` (ms)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import chatdf"],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
        cwd=ROOT,
    )
    totals: dict[str, float] = {}
    for line in out.stderr.splitlines():
        # "import time:  self [us] | cumulative | imported package"
        parts = line.split("|")
        if len(parts) != 3 or not parts[0].startswith("import time:"):
            continue
        try:
            self_us = int(parts[0].removeprefix("import time:"))
        except ValueError:
            continue  # the header line
        package = parts[2].strip().split(".")[0]
        totals[package] = totals.get(package, 0.0) + self_us / 1000
    return sorted(totals.items(), key=lambda item: -item[1])[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    report: dict[str, dict] = {}
    print(f"{'statement':<30} {'median':>9} {'best':>9}  heavy modules it loaded")
    for label, (setup, statement) in CASES.items():
        runs = [measure(setup, statement) for _ in range(args.runs)]
        seconds = [r["seconds"] for r in runs]
        loaded = runs[-1]["loaded"]
        report[label] = {
            "median_ms": round(statistics.median(seconds) * 1000, 1),
            "best_ms": round(min(seconds) * 1000, 1),
            "loaded": loaded,
        }
        print(
            f"{label:<30} {report[label]['median_ms']:>7.0f}ms {report[label]['best_ms']:>7.0f}ms"
            f"  {', '.join(loaded) or '-'}"
        )
    print("\npackages `import chatdf` spends its time in (python -X importtime, self times summed):")
    slow = slowest_imports()
    for name, ms in slow:
        print(f"  {name:<28} {ms:>7.0f} ms")
    print(json.dumps({"runs": args.runs, "cases": report, "importtime_ms": dict(slow)}))


if __name__ == "__main__":
    main()

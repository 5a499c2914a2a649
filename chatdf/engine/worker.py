"""The main loop of one query worker process.

A worker registers the tables a request names in a fresh ``pl.SQLContext``,
plans the (already guarded) SQL, refuses the plan unless it reads only those
tables' sources (``plan.py``), and streams the result to an Arrow IPC file
that the kernel memory-maps. It answers each request on its pipe with a small
dict, never with rows.

The pool starts this file as a script (``python worker.py '<json>'``) rather
than importing it as ``chatdf.engine.worker``, so a new worker loads only the
standard library and Polars, not the whole chatdf package (widget, Gemini
SDK, ...). Hence no chatdf imports here. Its stderr goes to a log file the
pool reads when the process dies (Polars' panics and allocation failures).

Its life is tied to the kernel's: a watchdog thread exits the process when the
kernel's end of the ``lifeline`` pipe closes (the kernel exited or was killed)
or the kernel's pid is gone, so no worker outlives it. The same thread limits
the worker's resident memory: every ``WATCH_INTERVAL`` it reads the process's
anonymous resident pages and, past the limit, logs ``MEMORY_MARKER`` and
exits; the pool reports that as a memory error and starts a fresh worker.
Resident memory, not address space: Polars' allocator reserves far more
address space than it touches, so ``RLIMIT_DATA``/``RLIMIT_AS`` stop ordinary
sorts long before memory is short.

Besides queries, a worker answers ``order`` requests: the row numbers of a
kept result file, filtered and sorted, written as a one-column IPC file. The
grid uses them to page large sorted results without sorting in the kernel.
And ``summary`` requests: one column's summary (a grid header click) over the
whole filtered result file, a pass over that column; the few aggregates go
back in the reply, no file.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import math
import os
import select
import signal
import sys
import threading
import time
from collections import OrderedDict
from typing import Any

# Polars' allocator aborts the process with this line when an allocation fails
# (the system is out of memory); the pool looks for it in the log.
OOM_MARKER = "memory allocation of"
MEMORY_MARKER = "chatdf: worker memory limit reached"
"""Logged by the watchdog just before it stops a worker over its memory limit."""
MEMORY_EXIT_CODE = 75
WATCH_INTERVAL = 0.05
"""Seconds between two memory readings (one read of /proc/self/statm: microseconds)."""

HISTOGRAM_BINS = 12
TOP_VALUES = 5

_CACHE_SIZE = 32
_MESSAGE_LIMIT = 2000
# A "url" table is read only through the kernel's egress proxy on 127.0.0.1
# (chatdf/net/proxy.py), which fetches the real URL through the checked egress
# path; a worker never contacts the remote host. The proxy answers a refused or
# failed fetch with a body starting with this marker, which Polars quotes in its
# error. (Literals, not imports: this script loads no chatdf modules.)
_EGRESS_ORIGIN = "http://127.0.0.1:"
_EGRESS_MARKER = "chatdf-egress: "
_URL_STORAGE_OPTIONS = {"max_retries": 2}
_CSV_ARGUMENTS = ("separator", "infer_schema_length")


def main(
    conn: Any, lifeline_fd: int, kernel_pid: int, memory_mb: int, nice: int = 0
) -> None:
    """Serve requests from ``conn`` until it closes.

    Parameters
    ----------
    conn
        Duplex ``multiprocessing.connection.Connection`` to the kernel.
    lifeline_fd
        Read end of a pipe whose write end only the kernel holds; EOF means
        the kernel is gone.
    kernel_pid
        Process id of the kernel, checked as a second sign of life.
    memory_mb
        Limit of the process's resident memory in MiB (0: none).
    nice
        Niceness to run at (0: the kernel's own priority).
    """
    # Ctrl-C in a terminal reaches the whole process group; the kernel decides
    # when a query stops, by killing the worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice > 0:
        with contextlib.suppress(OSError):
            os.nice(nice)
    # If the system runs out of memory before the watchdog sees it, the
    # kernel's OOM killer should pick a worker, never the notebook kernel.
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as fh:
        fh.write("1000")
    state = _State()
    _start_watchdog(lifeline_fd, kernel_pid, state, memory_mb)
    _plan()  # a worker that cannot check plans must not start

    import polars as pl

    frames: OrderedDict[tuple[str, str, str, int], Any] = OrderedDict()
    conn.send({"op": "ready", "pid": os.getpid(), "polars": pl.__version__})
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        op = request.get("op")
        if op == "stop":
            return
        state.out = request["out"]
        if op == "order":
            reply = _order(pl, request)
        elif op == "summary":
            reply = _summary(pl, request)
        else:
            reply = _run(pl, request, frames)
        state.out = None
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return


def _run(pl: Any, request: dict[str, Any], frames: OrderedDict) -> dict[str, Any]:
    started = time.perf_counter()
    out = request["out"]
    plan = _plan()
    registered: list[Any] = []
    checked = False
    try:
        ctx = pl.SQLContext()
        for spec in request["tables"]:
            registered.append(_frame(pl, spec, frames))
            ctx.register(spec["name"], registered[-1])
        query = ctx.execute(request["sql"], eager=False)
        # Whatever the text said: the plan may read the registered sources only.
        plan.check_plan(query, plan.allowed_sources(registered), request["sql"])
        checked = True
        query.sink_ipc(out, compression="uncompressed")
    except plan.PlanRefused as exc:
        _remove(out)
        return {"ok": False, **_error("validation", exc.message, exc.details)}
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a reply
        _remove(out)
        reply = {"ok": False, **_describe(pl, exc, request["tables"])}
        if not checked:  # may quote the schema of a source the plan check never saw
            reply["message"] = plan.redact(
                reply["message"], _known_names(request, registered), request["sql"]
            )
        return reply
    return {"ok": True, "elapsed_ms": (time.perf_counter() - started) * 1000}


@functools.cache
def _plan() -> Any:
    """``plan.py`` beside this file, loaded by path (this script imports no chatdf)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plan.py")
    spec = importlib.util.spec_from_file_location("chatdf_worker_plan", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the plan check from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _known_names(request: dict[str, Any], registered: list[Any]) -> set[str]:
    """Table and column names of the registered datasets (safe to quote in errors)."""
    names = {spec["name"] for spec in request["tables"]}
    for frame in registered:
        with contextlib.suppress(Exception):
            names.update(frame.collect_schema().names())
    return names


def _frame(pl: Any, spec: dict[str, Any], frames: OrderedDict) -> Any:
    """A LazyFrame over one source, cached while its version stays the same."""
    key = (spec["name"], spec["kind"], spec["location"], spec["version"])
    if key in frames:
        frames.move_to_end(key)
        return frames[key]
    kind, location, csv = spec["kind"], spec["location"], spec.get("csv")
    if kind == "url":
        if not location.startswith(_EGRESS_ORIGIN):
            raise ConnectionRefusedError("a URL table is read only through chatdf's egress proxy")
        remote = {"storage_options": dict(_URL_STORAGE_OPTIONS)}
        if csv is not None:
            frame = pl.scan_csv(location, **_csv_arguments(csv), **remote)
        else:
            frame = pl.scan_parquet(location, **remote)
    elif kind == "parquet":
        frame = pl.scan_parquet(location)
    elif kind == "csv":
        frame = pl.scan_csv(location, **_csv_arguments(csv or {}))
    elif kind == "ipc":
        frame = pl.scan_ipc(location)
    else:
        raise ValueError(f"unknown table kind {kind!r}")
    frames[key] = frame
    while len(frames) > _CACHE_SIZE:
        frames.popitem(last=False)
    return frame


def _order(pl: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Row numbers of the result file ``source``, filtered and sorted, into ``out``."""
    started = time.perf_counter()
    out = request["out"]
    try:
        where = _where(pl, request.get("where"))
        rows = row_order(pl, pl.scan_ipc(request["source"]), request["sort"], where)
        rows.sink_ipc(out, compression="uncompressed")
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a reply
        _remove(out)
        return {"ok": False, **_describe(pl, exc, [])}
    return {"ok": True, "elapsed_ms": (time.perf_counter() - started) * 1000}


def _where(pl: Any, serialized: bytes | None) -> Any:
    """The kernel's filter expression (binary-serialized), or None."""
    if serialized is None:
        return None
    import io

    return pl.Expr.deserialize(io.BytesIO(serialized), format="binary")


def _summary(pl: Any, request: dict[str, Any]) -> dict[str, Any]:
    """The summary of column ``position`` of the result file ``source``, in the reply."""
    started = time.perf_counter()
    try:
        where = _where(pl, request.get("where"))
        summary = column_summary(pl, pl.scan_ipc(request["source"]), request["position"], where)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a reply
        return {"ok": False, **_describe(pl, exc, [])}
    return {"ok": True, "summary": summary, "elapsed_ms": (time.perf_counter() - started) * 1000}


def column_summary(pl: Any, frame: Any, position: int, where: Any = None) -> dict[str, Any]:
    """Rows, nulls, distinct values, min/max and a histogram (numbers) or the top values
    of column ``position`` of the LazyFrame ``frame``, rows filtered by ``where``; values
    as JSON carries them exactly. The kernel uses it too, for results with no file.
    """
    if where is not None:
        frame = frame.filter(where)
    values = frame.select(pl.nth(position).alias("v"))
    dtype = values.collect_schema()["v"]
    orderable = dtype.is_numeric() or dtype.is_temporal() or dtype in (pl.String, pl.Boolean)
    hashable = not isinstance(dtype, (pl.List, pl.Array, pl.Struct, pl.Object))
    stats = [pl.len().alias("rows"), pl.col("v").null_count().alias("nulls")]
    if hashable:
        stats.append(pl.col("v").n_unique().alias("distinct"))
    if orderable:
        stats += [pl.col("v").min().alias("min"), pl.col("v").max().alias("max")]
    row = values.select(stats).collect().row(0, named=True)
    summary: dict[str, Any] = {
        "rows": row["rows"],
        "nulls": row["nulls"],
        "distinct": row.get("distinct"),
        "min": json_value(row.get("min")),
        "max": json_value(row.get("max")),
        "histogram": None,
        "top": None,
    }
    low, high = row.get("min"), row.get("max")
    if dtype.is_numeric() and low is not None and high is not None and _finite(low, high):
        summary["histogram"] = _histogram(pl, values, float(low), float(high))
    elif hashable:
        top = (
            values.drop_nulls()
            .group_by("v")
            .agg(pl.len().alias("count"))
            .sort(["count", "v"], descending=[True, False], nulls_last=True)
            .head(TOP_VALUES)
            .collect()
        )
        summary["top"] = [
            {"value": json_value(v), "count": c} for v, c in zip(top["v"].to_list(), top["count"].to_list(), strict=True)
        ]
    return summary


def _finite(*numbers: Any) -> bool:
    return all(math.isfinite(float(n)) for n in numbers)


def _histogram(pl: Any, values: Any, low: float, high: float) -> dict[str, Any]:
    """Counts in ``HISTOGRAM_BINS`` equal bins from ``low`` to ``high`` (one bin when they are equal)."""
    bins = HISTOGRAM_BINS if high > low else 1
    width = (high - low) / bins if high > low else 1.0
    index = ((pl.col("v").cast(pl.Float64) - low) / width).floor().clip(0, bins - 1).cast(pl.Int32)
    counted = (
        values.filter(pl.col("v").is_not_null() & pl.col("v").cast(pl.Float64).is_finite())
        .select(index.alias("bin"))
        .group_by("bin")
        .agg(pl.len().alias("count"))
        .collect()
    )
    counts = [0] * bins
    for b, c in zip(counted["bin"].to_list(), counted["count"].to_list(), strict=True):
        counts[b] = c
    return {"low": low, "high": high, "counts": counts}


def json_value(value: Any) -> Any:
    """A value JSON carries exactly: numbers that fit a double stay numbers, the rest is text."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def row_order(pl: Any, frame: Any, sort: list[tuple[int, bool]], where: Any = None) -> Any:
    """A LazyFrame of one column, ``row``: the row numbers of ``frame`` that ``where``
    keeps, in the order of the ``(column position, descending)`` keys, nulls last,
    ties in the frame's own order. The kernel uses it too, for small results.

    Columns are taken by position (``pl.nth``), never by name: a column named
    ``*`` or ``^.*$`` is a pattern to ``pl.col``.
    """
    row_type = pl.get_index_type()
    columns = [pl.int_range(pl.len(), dtype=row_type).alias("row")]
    columns += [pl.nth(position).alias(f"key{i}") for i, (position, _) in enumerate(sort)]
    if where is not None:
        columns.append(where.alias("keep"))
    rows = frame.select(columns)
    if where is not None:
        rows = rows.filter(pl.col("keep"))
    if sort:
        rows = rows.sort(
            [f"key{i}" for i in range(len(sort))],
            descending=[descending for _, descending in sort],
            nulls_last=True,
            maintain_order=True,
        )
    return rows.select("row")


def _csv_arguments(csv: dict[str, Any]) -> dict[str, Any]:
    """The ``pl.scan_csv`` arguments the kernel chose (the same it read the schema with)."""
    return {key: csv[key] for key in _CSV_ARGUMENTS if key in csv}


def _describe(pl: Any, exc: BaseException, tables: list[dict[str, Any]]) -> dict[str, Any]:
    """``error_type``, ``message``, ``details`` and ``fatal`` for one failure."""
    name = type(exc).__name__
    text = _polars_message(exc)
    details: dict[str, Any] = {"exception": name}
    if isinstance(exc, MemoryError):
        return _error("memory", "The query ran out of memory in its worker.", details, fatal=True)
    if isinstance(exc, pl.exceptions.PanicException):
        return _error("crashed", f"Polars failed unexpectedly: {text}", details, fatal=True)
    urls = [t for t in tables if t["kind"] == "url"]
    if _is_network(exc, text) and urls:
        names = ", ".join(t["name"] for t in urls)
        details["tables"] = [t["name"] for t in urls]
        failure = _egress_failure(str(exc))
        if failure is not None:  # the egress path refused or failed: say what and why
            details["reason"] = failure["reason"]
            return _error(
                "network", f"Could not read {names} over the network: {failure['message']}", details
            )
        details["reason"] = "connection"
        for table in urls:  # the proxy's location carries its secret; name the table instead
            text = text.replace(table["location"], table["name"])
            text = text.replace(table["location"].split("/", 3)[-1], table["name"])
        return _error("network", f"Could not read {names} over the network: {text}", details)
    if isinstance(exc, OSError):
        return _error("sql", f"Could not read the data: {text}", details)
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return _error("cancelled", "The query was interrupted.", details, fatal=True)
    return _error("sql", text, details)


def _egress_failure(text: str) -> dict[str, Any] | None:
    """The proxy's ``{"reason", "message"}`` quoted in a Polars error, or None."""
    start = text.find(_EGRESS_MARKER)
    if start < 0:
        return None
    try:
        found, _ = json.JSONDecoder().raw_decode(text, start + len(_EGRESS_MARKER))
    except ValueError:
        return None
    return found if isinstance(found, dict) and "reason" in found and "message" in found else None


def _is_network(exc: BaseException, text: str) -> bool:
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    lowered = text.lower()
    return any(
        s in lowered for s in ("object-store", "http error", "error sending request", "dns error")
    )


def _polars_message(exc: BaseException) -> str:
    # Polars appends the plan it resolved so far; the first part is what a
    # person (or the model) can act on.
    text = str(exc).split("\n\nResolved plan until failure")[0].strip() or type(exc).__name__
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT] + " …"


def _error(
    error_type: str, message: str, details: dict[str, Any], *, fatal: bool = False
) -> dict[str, Any]:
    return {"error_type": error_type, "message": message, "details": details, "fatal": fatal}


# -- process plumbing ------------------------------------------------------------------


class _State:
    """What the watchdog must clean up if the kernel dies mid-query."""

    out: str | None = None


def _start_watchdog(lifeline_fd: int, kernel_pid: int, state: _State, memory_mb: int) -> None:
    limit = memory_mb * 2**20

    def watch() -> None:
        while True:
            readable, _, _ = select.select([lifeline_fd], [], [], WATCH_INTERVAL)
            # The kernel never writes, so readable means EOF: its end is closed.
            if readable or not _alive(kernel_pid):
                break
            if limit and (used := _resident_bytes()) > limit:
                # Written straight to the log (stderr), which the pool reads.
                os.write(
                    2,
                    f"\n{MEMORY_MARKER}: {used / 2**20:.0f} MB resident, limit {memory_mb} MB\n".encode(),
                )
                if state.out:
                    _remove(state.out)
                os._exit(MEMORY_EXIT_CODE)
        if state.out:
            _remove(state.out)
        os._exit(0)

    threading.Thread(target=watch, name="chatdf-watchdog", daemon=True).start()


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _resident_bytes() -> int:
    """Anonymous resident memory: what the process allocated and touched.

    File-backed pages (mapped inputs, libraries) are left out: the system can
    drop them at any time, so they are not memory the query holds.
    """
    try:
        with open("/proc/self/statm", "rb") as fh:
            fields = fh.read().split()
        return (int(fields[1]) - int(fields[2])) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):  # no /proc (macOS): all resident pages
        import psutil

        return psutil.Process().memory_info().rss


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _entry() -> None:
    """Script entry: ``python worker.py '<json args>'`` as the pool starts it."""
    args = json.loads(sys.argv[1])
    # Import what the kernel can import, and nothing from this folder by accident.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in args["sys_path"] if os.path.abspath(p) != here]
    from multiprocessing.connection import Connection

    main(
        Connection(args["conn_fd"]),
        args["lifeline_fd"],
        args["kernel_pid"],
        args["memory_mb"],
        args.get("nice", 0),
    )


if __name__ == "__main__":
    _entry()

"""The main loop of one query worker process.

A worker registers the tables a request names in a fresh ``pl.SQLContext``,
runs the (already guarded) SQL and streams the result to an Arrow IPC file
that the kernel memory-maps. It answers each request on its pipe with a small
dict, never with rows.

The pool starts this file as a script (``python worker.py '<json>'``) rather
than importing it as ``chatdf.engine.worker``, so a new worker loads only the
standard library and Polars, not the whole chatdf package (widget, Gemini
SDK, ...). Hence no chatdf imports here. Its stderr goes to a log file the
pool reads when the process dies (Polars' panics and allocation failures).

Its life is tied to the kernel's: a watchdog thread exits the process when the
kernel's end of the ``lifeline`` pipe closes (the kernel exited or was killed)
or the kernel's pid is gone, so no worker outlives it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
import threading
import time
from collections import OrderedDict
from typing import Any

# Polars' allocator aborts the process with this line when an allocation fails
# (for instance at the RLIMIT_DATA limit); the pool looks for it in the log.
OOM_MARKER = "memory allocation of"

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


def main(conn: Any, lifeline_fd: int, kernel_pid: int, memory_mb: int) -> None:
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
        Limit of the process's data segment in MiB (0: none).
    """
    # Ctrl-C in a terminal reaches the whole process group; the kernel decides
    # when a query stops, by killing the worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Queries use every core; a slightly lower priority keeps the kernel (the
    # notebook, the widget's event loop) responsive when they compete for CPU.
    with contextlib.suppress(OSError):
        os.nice(5)
    state = _State()
    _start_watchdog(lifeline_fd, kernel_pid, state)
    _limit_memory(memory_mb)

    import polars as pl

    frames: OrderedDict[tuple[str, str, str, int], Any] = OrderedDict()
    conn.send({"op": "ready", "pid": os.getpid(), "polars": pl.__version__})
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request.get("op") == "stop":
            return
        state.out = request["out"]
        reply = _run(pl, request, frames)
        state.out = None
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return


def _run(pl: Any, request: dict[str, Any], frames: OrderedDict) -> dict[str, Any]:
    started = time.perf_counter()
    out = request["out"]
    try:
        ctx = pl.SQLContext()
        for spec in request["tables"]:
            ctx.register(spec["name"], _frame(pl, spec, frames))
        query = ctx.execute(request["sql"], eager=False)
        query.sink_ipc(out, compression="uncompressed")
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a reply
        _remove(out)
        return {"ok": False, **_describe(pl, exc, request["tables"])}
    return {"ok": True, "elapsed_ms": (time.perf_counter() - started) * 1000}


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


def _start_watchdog(lifeline_fd: int, kernel_pid: int, state: _State) -> None:
    def watch() -> None:
        while True:
            readable, _, _ = select.select([lifeline_fd], [], [], 1.0)
            # The kernel never writes, so readable means EOF: its end is closed.
            if readable or not _alive(kernel_pid):
                break
        if state.out:
            _remove(state.out)
        os._exit(0)

    threading.Thread(target=watch, name="chatdf-watchdog", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _limit_memory(memory_mb: int) -> None:
    """Cap the data segment, which is what Polars' allocator grows.

    RLIMIT_AS would also count the address space reserved for thread stacks
    and mapped libraries (about 1 GiB before the first query), so a limit of a
    few hundred MiB would stop Polars from starting its thread pools.
    RLIMIT_DATA counts only private writable memory: allocations beyond it
    fail, and Polars aborts with "memory allocation of N bytes failed".
    """
    if memory_mb <= 0:
        return
    import resource

    limit = memory_mb * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


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

    main(Connection(args["conn_fd"]), args["lifeline_fd"], args["kernel_pid"], args["memory_mb"])


if __name__ == "__main__":
    _entry()

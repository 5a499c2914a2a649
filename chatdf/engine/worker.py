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
or the kernel's pid is gone, so no worker outlives it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
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
    _plan()  # a worker that cannot check plans must not start

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
    kind, location = spec["kind"], spec["location"]
    if kind in ("parquet", "url"):
        frame = pl.scan_parquet(location)
    elif kind == "csv":
        frame = pl.scan_csv(location)
    elif kind == "ipc":
        frame = pl.scan_ipc(location)
    else:
        raise ValueError(f"unknown table kind {kind!r}")
    frames[key] = frame
    while len(frames) > _CACHE_SIZE:
        frames.popitem(last=False)
    return frame


def _describe(pl: Any, exc: BaseException, tables: list[dict[str, Any]]) -> dict[str, Any]:
    """``error_type``, ``message``, ``details`` and ``fatal`` for one failure."""
    name = type(exc).__name__
    text = _polars_message(exc)
    details: dict[str, Any] = {"exception": name}
    if isinstance(exc, MemoryError):
        return _error("memory", "The query ran out of memory in its worker.", details, fatal=True)
    if isinstance(exc, pl.exceptions.PanicException):
        return _error("crashed", f"Polars failed unexpectedly: {text}", details, fatal=True)
    urls = [t["name"] for t in tables if t["kind"] == "url"]
    if _is_network(exc, text) and urls:
        details["tables"] = urls
        return _error(
            "network", f"Could not read {', '.join(urls)} over the network: {text}", details
        )
    if isinstance(exc, OSError):
        return _error("sql", f"Could not read the data: {text}", details)
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return _error("cancelled", "The query was interrupted.", details, fatal=True)
    return _error("sql", text, details)


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

"""The query engine: a pool of worker processes running Polars SQL.

::

    Engine.run(sql, tables)
      guard(sql)             read-only check, before any worker sees the text
      _call()
        _acquire()           an idle worker, or wait in a queue of queue_depth
        _exchange()          request over a socket; wait without blocking the loop,
                             watching the size of the result file as it grows
      ResultFile()           memory-map the Arrow IPC result the worker wrote
    Engine.order(file, sort, where)
                             the same trip: a worker sorts/filters a kept result
                             file and writes the row order, which the grid pages by
    Engine.summary(file, position, where)
                             the same trip: a worker summarizes one column of a kept
                             result file (a grid header click); the reply carries it

Workers are fresh interpreters (``subprocess`` with ``close_fds``, the
equivalent of multiprocessing's *spawn*), never forks of the kernel: the
kernel runs threads (Polars' own pools, the runtime loop, ZMQ) and a forked
child can inherit their locks held. A forkserver that preloads Polars would
not help either: importing Polars starts threads too, so its forks would
carry the same risk. Each worker runs ``worker.py`` as a script, which loads
Polars but not the chatdf package, and is ready in about half a second.

A worker that times out, is cancelled, goes over its memory limit (its own
watchdog stops it), writes a result over ``max_result_mb`` or crashes is
killed and replaced in the background; the next query gets a healthy one.
Workers stop with :meth:`Engine.close`, at interpreter exit, and on their own
when the kernel disappears (see ``worker.py``'s watchdog).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import QueryError
from ..models import QueryResult, TableSource, columns_of
from ..settings import Settings
from ..sql.dialect import Catalog, explain_error
from .ipc import ResultFile, read_result, remove, result_path
from .sqlguard import GuardedQuery, guard
from .worker import MEMORY_EXIT_CODE, MEMORY_MARKER, OOM_MARKER

log = logging.getLogger("chatdf.engine")

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
START_TIMEOUT = 60.0
"""Seconds a new worker may take to import Polars and say it is ready."""
BUSY_MESSAGE = "Server busy, please retry"
SIZE_CHECK_INTERVAL = 0.1
"""Seconds between two looks at the size of the result file a worker is writing."""


class Engine:
    """Runs guarded Polars SQL in a pool of worker processes.

    Parameters
    ----------
    settings
        Uses ``worker_count``, ``query_timeout``, ``worker_memory_mb``,
        ``worker_nice``, ``max_result_mb`` and ``queue_depth``.
    workdir
        A folder this session owns; the engine keeps its result files and
        worker logs in a subfolder it removes on close.
    guard
        The text check every query passes first: SQL and the registered
        table names in, a :class:`~chatdf.engine.sqlguard.GuardedQuery` out
        (the text a worker runs and the tables it reads). Workers check each
        query's plan whatever this lets through.

    Notes
    -----
    Nothing starts until the first :meth:`run`. All methods except
    :meth:`close_now` must be called from one event loop.
    """

    def __init__(
        self,
        settings: Settings,
        workdir: Path,
        *,
        guard: Callable[[str, Iterable[str]], GuardedQuery] = guard,
    ) -> None:
        self._settings = settings
        self._guard = guard
        self._dir = Path(workdir) / f"engine-{uuid.uuid4().hex[:8]}"
        self._workers: set[_Worker] = set()
        self._idle: list[_Worker] = []
        self._waiters: collections.deque[asyncio.Future[_Worker]] = collections.deque()
        self._starting = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._spawner: concurrent.futures.ThreadPoolExecutor | None = None
        self._closed = False
        self.jobs: collections.Counter[str] = collections.Counter()
        """Requests sent to workers, by op ("query", "order", "summary"): diagnostics and tests."""
        # Shared with the finalizer, which must not hold a reference to self.
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._finalizer = weakref.finalize(self, _shutdown, self._procs, self._dir)

    # -- public ------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for diagnostics and tests)."""
        return sorted(w.pid for w in self._workers)

    async def run(
        self,
        sql: str,
        tables: Mapping[str, TableSource],
        *,
        timeout: float | None = None,
        catalog: Catalog | None = None,
    ) -> QueryResult:
        """Run one read-only query over ``tables`` in a worker.

        Parameters
        ----------
        sql
            One SELECT statement in Polars' SQL dialect.
        tables
            The registered datasets by name; only the ones the query uses are
            sent to the worker.
        timeout
            Seconds the query may run on its worker (not counting time spent
            waiting for one); ``settings.query_timeout`` if not given.
        catalog
            Column names and types of ``tables``: the dialect layer reads types
            from it and exploration statements (DESCRIBE t, SHOW TABLES) are
            answered from it.

        Returns
        -------
        QueryResult
            The whole result, memory-mapped from the worker's IPC file.

        Raises
        ------
        QueryError
            ``error_type`` is validation (refused by the guard), sql (Polars
            rejected or failed the query), network (a URL dataset could not be
            read), timeout, memory, crashed, busy or cancelled.
        """
        limit = self._limit(timeout)
        guarded = (
            self._guard(sql, tables.keys())
            if catalog is None
            else self._guard(sql, tables.keys(), catalog=catalog)  # type: ignore[call-arg]
        )
        started = time.perf_counter()
        request = {
            "op": "query",
            "sql": guarded.sql,
            "tables": [_source(name, tables[name]) for name in guarded.tables],
        }
        try:
            out = await self._call(request, limit)
        except QueryError as exc:
            if exc.error_type != "sql":
                raise
            message = explain_error(exc.message, guarded.tree)
            if message == exc.message:
                raise
            raise QueryError(message, "sql", details=exc.details) from None
        try:
            file = await asyncio.to_thread(ResultFile, out)
        except Exception as exc:  # noqa: BLE001 - a truncated or vanished file: the worker's answer is lost
            raise QueryError(
                f"The query ran but its result could not be read: {exc}", "crashed"
            ) from None
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.debug("query %.1f ms (%d rows): %s", elapsed_ms, file.rows, sql)
        return QueryResult(
            sql=sql.strip(),
            columns=columns_of(file.schema),
            total_rows=file.rows,
            file=file,
            elapsed_ms=elapsed_ms,
            tables=guarded.tables,
            polars_sql=guarded.sql,
        )

    async def order(
        self,
        file: ResultFile,
        sort: list[tuple[int, bool]],
        where: pl.Expr | None = None,
        *,
        timeout: float | None = None,
    ) -> pl.Series:
        """Row numbers of a kept result, filtered by ``where`` and sorted, computed in a worker.

        Parameters
        ----------
        file
            The result's file (see :attr:`QueryResult.file`).
        sort
            ``(column position, descending)`` keys, nulls last; ties keep the result's order.
        where
            A boolean expression over the result's columns (by position), or None.

        Returns
        -------
        polars.Series
            The row numbers, memory-mapped from the file the worker wrote (deleted already).

        Raises
        ------
        QueryError
            As :meth:`run`; ``validation`` when a key cannot be sorted.
        """
        limit = self._limit(timeout)
        request = {
            "op": "order",
            "source": str(file.path),
            "sort": [(int(position), bool(descending)) for position, descending in sort],
            "where": where.meta.serialize(format="binary") if where is not None else None,
        }
        out = await self._call(request, limit)
        try:
            return (await asyncio.to_thread(read_result, out)).to_series()
        except Exception as exc:  # noqa: BLE001 - an unreadable order file is a crashed worker
            raise QueryError(f"The sorted order could not be read: {exc}", "crashed") from None

    async def summary(
        self,
        file: ResultFile,
        position: int,
        where: pl.Expr | None = None,
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """One column's summary over a kept result, filtered by ``where``, computed in a worker.

        Returns
        -------
        dict
            ``rows``, ``nulls``, ``distinct``, ``min``, ``max``, ``histogram``, ``top``
            (see :func:`chatdf.engine.worker.column_summary`).

        Raises
        ------
        QueryError
            As :meth:`run`.
        """
        limit = self._limit(timeout)
        request = {
            "op": "summary",
            "source": str(file.path),
            "position": int(position),
            "where": where.meta.serialize(format="binary") if where is not None else None,
        }
        _, reply = await self._send(request, limit)
        return dict(reply["summary"])

    def _limit(self, timeout: float | None) -> float:
        if self._closed:
            raise QueryError("This query engine is closed; start a new session.", "cancelled")
        limit = self._settings.query_timeout if timeout is None else float(timeout)
        if limit <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        return limit

    async def _call(self, request: dict[str, Any], limit: float) -> Path:
        """Send ``request`` to a worker; the path of the file it wrote, or its error raised."""
        return (await self._send(request, limit))[0]

    async def _send(self, request: dict[str, Any], limit: float) -> tuple[Path, dict[str, Any]]:
        """Send ``request`` to a worker; the path of the file it may write and its reply,
        or its error raised."""
        worker = await self._acquire()
        self.jobs[request["op"]] += 1
        self._dir.mkdir(parents=True, exist_ok=True)
        out = result_path(self._dir)
        request["out"] = str(out)
        try:
            reply = await self._exchange(worker, request, limit)
        except BaseException:
            # Timed out, cancelled, too large or dead: the worker may still be busy, so it goes.
            self._retire(worker)
            remove(out)
            raise
        if reply.get("fatal"):
            self._retire(worker)
        else:
            self._release(worker)
        if not reply["ok"]:
            remove(out)
            raise QueryError(reply["message"], reply["error_type"], details=reply["details"])
        return out, reply

    async def close(self) -> None:
        """Stop every worker, fail queued queries and delete the engine's files."""
        self._begin_close()
        await asyncio.to_thread(self._finalizer)
        for worker in list(self._idle):
            worker.close()
        self._idle.clear()

    def close_now(self) -> None:
        """Synchronous :meth:`close`, safe from any thread, atexit or ``__del__``."""
        self._begin_close()
        self._finalizer()

    # -- the pool ----------------------------------------------------------------------

    async def _acquire(self) -> _Worker:
        self._ensure_workers()
        while self._idle:
            worker = self._idle.pop()
            if worker.proc.poll() is None:
                return worker
            self._retire(worker)  # died while idle (killed from outside)
        if len(self._waiters) >= self._settings.queue_depth:
            raise QueryError(
                BUSY_MESSAGE,
                "busy",
                details={
                    "queue_depth": self._settings.queue_depth,
                    "workers": self._settings.worker_count,
                },
            )
        waiter: asyncio.Future[_Worker] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            # Cancelled just after a worker was handed over: give it back.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._release(waiter.result())
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _release(self, worker: _Worker) -> None:
        if self._closed:
            self._retire(worker)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(worker)
                return
        self._idle.append(worker)

    def _retire(self, worker: _Worker) -> None:
        """Kill ``worker`` and start a replacement."""
        self._workers.discard(worker)
        with contextlib.suppress(ValueError):
            self._idle.remove(worker)
        worker.kill()
        # Reaping takes a few ms after SIGKILL; a thread keeps it off the loop.
        threading.Thread(target=self._reap, args=(worker,), daemon=True).start()
        self._ensure_workers()

    def _reap(self, worker: _Worker) -> None:
        with contextlib.suppress(Exception):
            worker.proc.wait(10)
        self._procs.pop(worker.pid, None)
        worker.close()

    def _ensure_workers(self) -> None:
        if self._closed:
            return
        missing = self._settings.worker_count - len(self._workers) - self._starting
        for _ in range(max(0, missing)):
            self._starting += 1
            task = asyncio.get_running_loop().create_task(self._spawn())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _spawn(self) -> None:
        if self._spawner is None:
            # One thread: workers start one after another, the first is ready soonest.
            self._spawner = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="chatdf-spawn"
            )
        loop = asyncio.get_running_loop()
        try:
            if self._closed:
                raise RuntimeError("engine closed")
            worker = await loop.run_in_executor(self._spawner, self._start_worker)
        except Exception as exc:  # noqa: BLE001 - any failure to start a worker is reported to the waiters
            self._starting -= 1
            if self._closed:
                return
            log.debug("could not start a query worker: %s", exc)
            if not self._workers and not self._starting:
                error = (
                    exc
                    if isinstance(exc, QueryError)
                    else QueryError(f"Could not start a query worker: {exc}", "crashed")
                )
                self._fail_waiters(error)
            return
        self._starting -= 1
        if self._closed:
            worker.kill()
            self._reap(worker)
            return
        self._workers.add(worker)
        self._release(worker)

    def _start_worker(self) -> _Worker:
        """Start one worker and wait until it has imported Polars (blocking)."""
        self._dir.mkdir(parents=True, exist_ok=True)
        log_path = self._dir / f"worker-{uuid.uuid4().hex[:8]}.log"
        ours, theirs = socket.socketpair()
        life_read, life_write = os.pipe()
        lifeline = open(life_write, "wb", buffering=0)  # noqa: SIM115 - lives as long as the worker
        args = {
            "conn_fd": theirs.fileno(),
            "lifeline_fd": life_read,
            "kernel_pid": os.getpid(),
            "memory_mb": self._settings.worker_memory_mb,
            "nice": self._settings.worker_nice,
            "sys_path": [p for p in sys.path if p],
        }
        try:
            with open(log_path, "wb") as log_file:
                proc = subprocess.Popen(
                    [sys.executable, str(WORKER_SCRIPT), json.dumps(args)],
                    pass_fds=(theirs.fileno(), life_read),
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=log_file,
                    close_fds=True,
                )
        except BaseException:
            ours.close()
            lifeline.close()
            raise
        finally:
            theirs.close()
            os.close(life_read)
        self._procs[proc.pid] = proc
        worker = _Worker(proc, Connection(ours.detach()), lifeline, log_path)
        try:
            if not worker.conn.poll(START_TIMEOUT):
                raise QueryError(
                    f"A query worker did not start within {START_TIMEOUT:.0f} s.", "crashed"
                )
            hello = worker.conn.recv()
        except BaseException as exc:
            worker.kill()
            tail = worker.log_tail()
            self._reap(worker)
            if isinstance(exc, QueryError):
                raise
            last = tail.splitlines()[-1] if tail else type(exc).__name__
            hint = ""
            if self._settings.worker_memory_mb and _out_of_memory(tail):
                hint = (
                    f" The worker memory limit ({self._settings.worker_memory_mb} MB, "
                    "CHATDF_WORKER_MEMORY_MB) is too low for Polars to start; raise it."
                )
            raise QueryError(
                f"A query worker failed to start: {last}.{hint}",
                "memory" if hint else "crashed",
                details={"log": tail[-1000:]},
            ) from None
        log.debug("worker %d ready (polars %s)", worker.pid, hello.get("polars"))
        return worker

    def _fail_waiters(self, error: QueryError) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            with contextlib.suppress(RuntimeError):  # its loop is closed
                waiter.get_loop().call_soon_threadsafe(_set_exception, waiter, error)

    def _begin_close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._fail_waiters(
            QueryError("The query was cancelled because the engine was closed.", "cancelled")
        )
        for worker in list(self._workers):
            worker.kill()
        if self._spawner is not None:
            self._spawner.shutdown(wait=False, cancel_futures=True)

    # -- one query on one worker ---------------------------------------------------------

    async def _exchange(
        self, worker: _Worker, request: dict[str, Any], limit: float
    ) -> dict[str, Any]:
        try:
            worker.conn.send(request)
        except OSError:
            raise await self._death_error(worker) from None
        cap = self._settings.max_result_mb * 2**20
        deadline = time.monotonic() + limit
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QueryError(
                    f"The query took longer than {limit:g} s and was stopped "
                    "(CHATDF_QUERY_TIMEOUT). Narrow it down, or raise the limit.",
                    "timeout",
                    details={"timeout_s": limit},
                )
            if await _readable(worker.conn, min(left, SIZE_CHECK_INTERVAL)):
                break
            if cap and _size(request["out"]) > cap:
                raise QueryError(
                    f"The result grew past {self._settings.max_result_mb} MB on disk "
                    "(CHATDF_MAX_RESULT_MB) and the query was stopped. Aggregate, filter or "
                    "add a LIMIT, or raise the limit.",
                    "memory",
                    details={"reason": "result_too_large", "limit_mb": self._settings.max_result_mb},
                )
        try:
            return worker.conn.recv()
        except (EOFError, OSError):
            raise await self._death_error(worker) from None

    async def _death_error(self, worker: _Worker) -> QueryError:
        """Why ``worker`` died mid-query, as the error the caller sees."""
        if self._closed:
            return QueryError("The query was cancelled because the engine was closed.", "cancelled")
        code = await asyncio.to_thread(worker.wait_exit, 5.0)
        tail = worker.log_tail()
        limit_mb = self._settings.worker_memory_mb
        if MEMORY_MARKER in tail or code == MEMORY_EXIT_CODE:
            return QueryError(
                f"The query needed more memory than a worker may use ({limit_mb} MB, "
                "CHATDF_WORKER_MEMORY_MB) and was stopped. Filter or aggregate first, select "
                "fewer columns, or raise CHATDF_WORKER_MEMORY_MB (0: no limit). The next "
                "query runs on a fresh worker.",
                "memory",
                details={"reason": "worker_memory", "limit_mb": limit_mb},
            )
        if _out_of_memory(tail):
            return QueryError(
                "The machine ran out of memory for this query and its worker stopped. Filter "
                "or aggregate first, or select fewer columns; the next query runs on a fresh "
                "worker.",
                "memory",
                details={"reason": "system_memory", "limit_mb": limit_mb},
            )
        how = _exit_description(code)
        hint = " (possibly the system ran out of memory)" if code == -signal.SIGKILL else ""
        return QueryError(
            f"The query worker crashed ({how}){hint}. It was restarted; run the query again.",
            "crashed",
            details={"exit_code": code, "log": tail[-1000:]},
        )


class _Worker:
    """The kernel's handle on one worker process."""

    def __init__(
        self, proc: subprocess.Popen[bytes], conn: Connection, lifeline: Any, log_path: Path
    ) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.conn = conn
        self.lifeline = lifeline
        self.log_path = log_path

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.wait()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        with contextlib.suppress(OSError):
            self.lifeline.close()  # the worker's watchdog sees EOF
        remove(self.log_path)

    def log_tail(self, size: int = 8192) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - size))
                return fh.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""


async def _readable(conn: Connection, timeout: float) -> bool:
    """Wait until ``conn`` has a message or EOF without blocking the loop.

    Returns False when ``timeout`` seconds pass first.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bool] = loop.create_future()

    def settle(value: bool) -> None:
        if not done.done():
            done.set_result(value)

    fd = conn.fileno()
    loop.add_reader(fd, settle, True)  # POSIX only, as the engine is (README: What it is)
    timer = loop.call_later(timeout, settle, False)
    try:
        return await done
    finally:
        timer.cancel()
        loop.remove_reader(fd)


def _out_of_memory(log_tail: str) -> bool:
    return MEMORY_MARKER in log_tail or OOM_MARKER in log_tail or "MemoryError" in log_tail


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _source(name: str, table: TableSource) -> dict[str, Any]:
    return {
        "name": name,
        "kind": table.kind,
        "location": table.location,
        "version": table.version,
        "csv": table.csv.scan_arguments() if table.csv is not None else None,
    }


def _set_exception(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def _exit_description(code: int | None) -> str:
    if code is None:
        return "no exit status"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _shutdown(procs: dict[int, subprocess.Popen[bytes]], folder: Path) -> None:
    """Kill and reap every worker, then remove the engine's folder (finalizer)."""
    for proc in list(procs.values()):
        with contextlib.suppress(OSError):
            proc.kill()
    deadline = time.monotonic() + 5
    for pid, proc in list(procs.items()):
        with contextlib.suppress(Exception):
            proc.wait(max(0.1, deadline - time.monotonic()))
        procs.pop(pid, None)
    shutil.rmtree(folder, ignore_errors=True)

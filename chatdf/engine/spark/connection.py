"""One Spark Connect session per chatdf session: lazy, bounded retries, reconnecting.

Every call into ``pyspark`` blocks, so it runs on a thread; a timeout or Stop
interrupts the operation *on the cluster* by its tag (``interruptTag``), not
just the wait here. Errors are translated at this boundary: the layers above
only see ``QueryError`` / ``DatasetError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from ...errors import ConfigError, QueryError

log = logging.getLogger("chatdf.engine.spark")

T = TypeVar("T")

RETRIES = 3
"""Client retries of a failed RPC (initial 200 ms, ×4): an unreachable server fails within ~4 s."""
CONNECT_TIMEOUT = 15.0
"""Seconds any single call may wait for an unreachable or silent server."""

_NETWORK_MARKERS = (
    "UNAVAILABLE",
    "RETRIES_EXCEEDED",
    "Connection refused",
    "failed to connect",
    "DEADLINE_EXCEEDED",
    "Socket closed",
    "CANNOT_CONNECT",
    "NO_ACTIVE_SESSION",
    "INVALID_HANDLE",
)


def import_pyspark() -> Any:
    try:
        from pyspark.sql.connect.session import SparkSession
    except ImportError as exc:
        raise ConfigError(
            'The Spark engine needs the Spark Connect client: pip install "chatdf[spark]" '
            f"({exc})."
        ) from None
    return SparkSession


class Connection:
    """The Spark Connect session at ``remote``, made on first use and again after a drop.

    Parameters
    ----------
    remote
        ``sc://host:port`` (Spark Connect's own URL form, options after ``/;``).
    on_connect
        Called (on the calling thread) with each new session before it is used,
        so temporary views can be registered again after a reconnect.
    """

    def __init__(self, remote: str, on_connect: Callable[[Any], None] | None = None) -> None:
        if not remote.startswith("sc://"):
            raise ConfigError(
                f"CHATDF_SPARK_REMOTE must be a Spark Connect URL like sc://host:15002, not {remote!r}.",
                details={"reason": "invalid_setting"},
            )
        self.remote = remote
        self._on_connect = on_connect
        self._session: Any = None
        self._lock = threading.Lock()
        self.connects = 0
        """How many sessions were made (tests see the reconnect)."""

    def session(self) -> Any:
        """The live session, connecting first if there is none (blocking)."""
        with self._lock:
            if self._session is None:
                spark_session = import_pyspark()
                from pyspark.sql.connect.client.retries import DefaultPolicy

                session = spark_session.builder.remote(self.remote).create()
                session._client.set_retry_policies(
                    [DefaultPolicy(max_retries=RETRIES, initial_backoff=200, max_backoff=2000)]
                )
                if self._on_connect is not None:
                    self._on_connect(session)
                self._session = session
                self.connects += 1
            return self._session

    def drop(self) -> None:
        """Forget the session (after a network error); the next call reconnects."""
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            threading.Thread(target=_quiet_stop, args=(session,), daemon=True).start()

    async def call(
        self, work: Callable[[Any], T], *, timeout: float, what: str = "The query"
    ) -> T:
        """Run ``work(session)`` on a thread under a fresh tag; interrupt it on timeout/cancel."""
        tag = f"chatdf-{uuid.uuid4().hex[:12]}"

        def tagged() -> T:
            session = self.session()
            session.addTag(tag)
            try:
                return work(session)
            finally:
                with contextlib.suppress(Exception):
                    session.removeTag(tag)

        future = asyncio.ensure_future(asyncio.to_thread(self.guarded, tagged))
        # After a timeout or Stop nobody awaits it; its error (interrupted) is expected.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            await self.interrupt(tag)
            raise QueryError(
                f"{what} took longer than {timeout:g} s and was stopped on the cluster.",
                "timeout",
            ) from None
        except asyncio.CancelledError:
            await self.interrupt(tag)
            raise

    async def interrupt(self, tag: str) -> None:
        """Interrupt every operation carrying ``tag`` on the cluster (best effort, bounded)."""
        session = self._session
        if session is None:
            return
        try:
            await asyncio.wait_for(asyncio.to_thread(session.interruptTag, tag), CONNECT_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - the server may be gone; nothing left to stop
            log.debug("interrupting %s failed: %s", tag, exc)

    def guarded(self, work: Callable[[], T]) -> T:
        """``work()`` with pyspark and gRPC errors translated; a network error drops the session."""
        try:
            return work()
        except QueryError:
            raise
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - translated below, never leaked as pyspark types
            error = translate(exc, self.remote)
            if error.error_type == "network":
                self.drop()
            raise error from None

    def close(self) -> None:
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            _quiet_stop(session)


def translate(exc: BaseException, remote: str) -> QueryError:
    """A pyspark / gRPC error as a ``QueryError`` with the right ``error_type``."""
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    name = type(exc).__name__
    if any(marker in text for marker in _NETWORK_MARKERS) or "grpc" in type(exc).__module__:
        return QueryError(
            f"The Spark Connect server at {remote} could not be reached ({first[:200]}). "
            "Check that it runs; the next query connects again.",
            "network",
            details={"reason": "unreachable", "remote": remote},
        )
    if "OPERATION_CANCELED" in text or "cancelled" in first.lower() or "INTERRUPTED" in text:
        return QueryError("The query was stopped on the cluster.", "cancelled")
    if "OutOfMemory" in text or "Not enough memory" in text:
        return QueryError(f"The cluster ran out of memory: {first}", "memory")
    return QueryError(f"Spark refused or failed the query: {first}", "sql", details={"spark_error": name})


def _quiet_stop(session: Any) -> None:
    with contextlib.suppress(Exception):
        session.stop()

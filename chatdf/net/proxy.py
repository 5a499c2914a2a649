"""The kernel-local egress proxy: how Polars reads URL datasets through :class:`Egress`.

Polars fetches parquet (and CSV) over HTTP with its own client, which resolves host
names and follows redirects by itself. So Polars is never given a dataset's
real URL. Each URL dataset gets a route on this proxy::

    http://127.0.0.1:<port>/<secret>/<n>.parquet      (or <n>.csv, <n>.csv.gz)

and that is the location the kernel's schema read, the query workers and
lazy exports scan (and the one the plan check sees registered). The proxy
answers ``HEAD`` and ``GET`` (with ``Range``, which is how Polars reads: a
suffix range for the footer, then the byte ranges of the row groups it
needs) by making the same request to the registered URL through
:class:`~chatdf.net.egress.Egress`, every hop and redirect checked again.

It is private and bounded:

- bound to 127.0.0.1; the path must carry the session's random secret and a
  registered route, and the ``Host`` header must name the proxy itself (a web
  page that rebinds a name to 127.0.0.1 cannot use it); anything else is 404;
- one thread per connection, at most ``max_connections`` of them. Polars
  opens about a hundred connections for one scan and keeps them open, so
  when all are taken the connection idle the longest is closed to make room
  (its client opens another), and a connection idle for ``idle_timeout`` is
  closed anyway. Each upstream request is bounded by ``upstream_timeout``
  per read, each response by ``max_response_bytes``;
- only ``Range`` and conditional headers are forwarded; only content
  headers come back. An error status from upstream is passed on with a body
  of our own, never the server's.

A refused or failed fetch is answered with a status (403 refused, 502
unreachable, 504 timed out, or upstream's own error status) and a one-line
body ``chatdf-egress: {"reason": ..., "message": ...}``. Polars puts the body
into its error text, where the worker (and :func:`egress_failure`) find it.
An answer to ``HEAD`` has no body, so a refused ``HEAD`` of a route whose size
the proxy has seen is answered with that size instead: the ranged ``GET`` that
follows is refused with the reason (Polars reads a CSV's size with ``HEAD``).
"""

from __future__ import annotations

import contextlib
import hmac
import itertools
import json
import logging
import secrets
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .egress import Egress, EgressError, EgressResponse

log = logging.getLogger("chatdf.net")

MARKER = "chatdf-egress: "
"""Starts the body of every failure the proxy answers (the worker looks for it)."""
MAX_CONNECTIONS = 256
IDLE_TIMEOUT = 30.0
UPSTREAM_TIMEOUT = 20.0
MAX_RESPONSE_BYTES = 2 * 1024**3
POLARS_STORAGE_OPTIONS = {"max_retries": 2}
"""What chatdf passes to ``pl.scan_parquet`` for a proxy location: Polars retries a 5xx
(e.g. 504, upstream timed out) twice, not its default ten times."""
_FORWARDED = ("Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since")
_RELAYED = (
    "Content-Type",
    "Content-Range",
    "Content-Encoding",
    "Accept-Ranges",
    "ETag",
    "Last-Modified",
)
_REFUSED_STATUS = 403
_STATUS_FOR_REASON = {"timeout": 504, "unresolvable": 502, "connection": 502}


@dataclass(eq=False)
class _Route:
    url: str
    allow_private: bool
    size: int | None = None
    """The Content-Length upstream last answered a HEAD with."""


class EgressProxy:
    """Serves registered URLs to Polars on 127.0.0.1, fetching them through ``egress``.

    Parameters
    ----------
    egress
        The checked client every upstream request goes through.
    max_connections
        Connections (threads) at once; a new one beyond closes the connection
        idle the longest, or waits in the listen queue if none is idle.
    idle_timeout
        Seconds a client connection may stay silent (also bounds slow writes).
    upstream_timeout
        Seconds for connecting upstream and for each read from it.
    max_response_bytes
        Largest response relayed; a longer one is refused (declared length)
        or cut off (undeclared), which the client sees as an error.
    """

    def __init__(
        self,
        egress: Egress,
        *,
        max_connections: int = MAX_CONNECTIONS,
        idle_timeout: float = IDLE_TIMEOUT,
        upstream_timeout: float = UPSTREAM_TIMEOUT,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.egress = egress
        self.idle_timeout = idle_timeout
        self.upstream_timeout = upstream_timeout
        self.max_response_bytes = max_response_bytes
        self._secret = secrets.token_hex(16)
        self._routes: dict[str, _Route] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = _Server(self, max_connections)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(0.1,),
            name="chatdf-egress-proxy",
            daemon=True,
        )
        self._thread.start()

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(self, url: str, *, allow_private: bool, suffix: str = ".parquet") -> str:
        """Route a new local location to ``url``; returns the location to scan.

        ``suffix`` ends the route (``.csv`` for a CSV) so plans and messages read
        right; Polars decides how to read by what it is told, not by the name.
        """
        with self._lock:
            route = f"{next(self._ids)}{suffix}"
            self._routes[route] = _Route(url, allow_private)
        return f"{self.origin}/{self._secret}/{route}"

    def remove(self, location: str) -> None:
        """Forget a location :meth:`add` returned (later requests to it get 404)."""
        with self._lock:
            self._routes.pop(location.rsplit("/", 1)[-1], None)

    def target(self, location: str) -> str | None:
        """The URL a location of this proxy reads, or None."""
        route = self._route(urlsplit(location).path)
        return route.url if route else None

    def close(self) -> None:
        """Stop serving; requests in flight finish on their daemon threads or fail."""
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        with self._lock:
            self._routes.clear()

    def _route(self, path: str) -> _Route | None:
        parts = path.split("/")
        if len(parts) != 3 or parts[0]:
            return None
        if not hmac.compare_digest(parts[1].encode(), self._secret.encode()):
            return None
        with self._lock:
            return self._routes.get(parts[2])


def egress_failure(text: str) -> dict[str, Any] | None:
    """The ``{"reason", "message"}`` the proxy answered, found in an error text, or None."""
    start = text.find(MARKER)
    if start < 0:
        return None
    try:
        found, _end = json.JSONDecoder().raw_decode(text, start + len(MARKER))
    except ValueError:
        return None
    return found if isinstance(found, dict) and "reason" in found else None


# -- the server ------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    """A threaded HTTP server on 127.0.0.1 with a bound on connections (threads)."""

    daemon_threads = True
    request_queue_size = 128  # connections beyond the bound wait here to be accepted

    def __init__(self, proxy: EgressProxy, max_connections: int) -> None:
        self.proxy = proxy
        self.stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._idle: dict[_Handler, None] = {}  # waiting for a next request, oldest first
        self._idle_lock = threading.Lock()
        handler = type("_Handler", (_Handler,), {"timeout": proxy.idle_timeout})
        super().__init__(("127.0.0.1", 0), handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        while not self._slots.acquire(timeout=0.05):
            if self.stopping.is_set():
                self.shutdown_request(request)
                return
            self._evict_idle()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def park(self, handler: _Handler) -> None:
        with self._idle_lock:
            self._idle[handler] = None

    def unpark(self, handler: _Handler) -> bool:
        """Take ``handler`` off the idle list; False if it was evicted meanwhile."""
        with self._idle_lock:
            return self._idle.pop(handler, False) is None

    def _evict_idle(self) -> None:
        with self._idle_lock:
            if not self._idle:
                return
            handler = next(iter(self._idle))
            del self._idle[handler]
        # Wakes the handler's wait for a next request; its thread then ends.
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def handle(self) -> None:
        # BaseHTTPRequestHandler.handle, but a connection waiting for a request
        # may be taken back for a new one.
        self.close_connection = False
        while not self.close_connection and self._next_request_arrives():
            self.handle_one_request()

    def _next_request_arrives(self) -> bool:
        """Wait (idle, evictable) until the client sends more; False to hang up."""
        self.server.park(self)
        try:
            arrived = self.connection.recv(1, socket.MSG_PEEK) != b""
        except OSError:  # idle_timeout, or the connection is gone
            arrived = False
        return self.server.unpark(self) and arrived

    def log_message(self, format: str, *args: object) -> None:
        pass  # failures are answered to the client, which reports them

    def do_HEAD(self) -> None:
        self._relay(body=False)

    def do_GET(self) -> None:
        self._relay(body=True)

    def _relay(self, body: bool) -> None:
        proxy = self.server.proxy
        route = proxy._route(urlsplit(self.path).path)
        if route is None or self.headers.get("Host") != proxy.origin.removeprefix("http://"):
            return self._answer(404, None)
        forward = {name: value for name in _FORWARDED if (value := self.headers.get(name))}
        try:
            upstream = proxy.egress.open(
                self.command,
                route.url,
                allow_private=route.allow_private,
                headers=forward,
                timeout=proxy.upstream_timeout,
            )
        except EgressError as exc:
            # The host only: a URL's query may carry a signature or token.
            log.info("chatdf: egress to %s refused: %s", urlsplit(route.url).hostname, exc.reason)
            status = _STATUS_FOR_REASON.get(exc.reason, _REFUSED_STATUS)
            if not body and status == _REFUSED_STATUS and route.size is not None:
                # An answer to HEAD has no body to say why, and Polars (which sends
                # HEAD before it scans a CSV) would report the bare status. Told the
                # size last seen, it goes on to a ranged GET, whose refusal carries
                # the reason. No bytes are served either way.
                return self._answer_size(route.size)
            return self._answer(status, exc)
        with upstream:
            self._pass_on(upstream, route, body, proxy.max_response_bytes)

    def _pass_on(self, upstream: EgressResponse, route: _Route, body: bool, limit: int) -> None:
        if upstream.status >= 400:
            status = f"{upstream.status} {upstream.reason_phrase}".strip()
            failure = EgressError(
                f"Could not access URL ({status})", "status", status=upstream.status
            )
            return self._answer(upstream.status, failure)
        length = upstream.header("Content-Length")
        declared = int(length) if length and length.strip().isdigit() else None
        if not body and declared is not None:
            route.size = declared
        if body and declared is not None and declared > limit:
            return self._answer(
                _REFUSED_STATUS,
                EgressError(
                    f"Refused: the server sent {declared:,} bytes, more than chatdf relays "
                    f"in one response ({limit:,}).",
                    "too_large",
                ),
            )
        self.send_response(upstream.status)
        for name in _RELAYED:
            value = upstream.header(name)
            if value is not None:
                self.send_header(name, value)
        if declared is not None:
            self.send_header("Content-Length", str(declared))
        elif body:  # length unknown: the end of the body is the end of the connection
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if body:
            self._copy(upstream, declared, limit)

    def _copy(self, upstream: EgressResponse, declared: int | None, limit: int) -> None:
        """Relay the body: ``declared`` bytes, or up to ``limit`` when no length was sent."""
        wanted = limit if declared is None else declared
        sent = 0
        try:
            for chunk in upstream.iter_bytes():
                chunk = chunk[: wanted - sent]
                self.wfile.write(chunk)
                sent += len(chunk)
                if sent >= wanted:
                    break
        except (EgressError, OSError):
            pass  # a short body is the client's error
        if declared is None or sent < declared:
            self.close_connection = True

    def _answer_size(self, size: int) -> None:
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
        except OSError:
            self.close_connection = True

    def _answer(self, status: int, failure: EgressError | None) -> None:
        payload = b""
        if failure is not None:
            description = {"reason": failure.reason, "message": failure.message}
            payload = (MARKER + json.dumps(description) + "\n").encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except OSError:
            self.close_connection = True


__all__ = ["MARKER", "POLARS_STORAGE_OPTIONS", "EgressProxy", "egress_failure"]

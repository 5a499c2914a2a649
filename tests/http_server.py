"""A small threaded HTTP server on 127.0.0.1 for tests that load URLs.

It serves the files of one folder with HEAD, GET and single-range GET
(``Range: bytes=a-b``, ``a-`` and ``-n``), which is what Polars needs to read
parquet over HTTP. Tests shape its behaviour per path::

    server.redirects["/old.parquet"] = "/iris.parquet"      # 302 to a path or full URL
    server.redirect("/d.parquet", url, range_prefix="bytes=-")  # ...only Polars' footer reads
    server.redirect("/d.csv", url, range_prefix=None)        # ...only whole-body GETs
    server.statuses["/gone.parquet"] = 410                  # answer this status, empty body
    server.slow("/slow.parquet", 2.0, method="HEAD")        # sleep before answering
    server.slow("/big.parquet", 2.0, range_prefix="bytes=-") # ...only Polars' footer reads
    server.no_head.add("/s3ish.parquet")                    # answer HEAD with 405
    server.no_range.add("/plain.csv")                       # ignore Range: 200, whole body
    server.content_types["/data"] = "text/csv"              # Content-Type (else octet-stream)
    server.stall("/big.csv", after=2**21)                   # send 2 MiB of the body, then hang
    server.endless["/inf.csv"] = (b"a,b\n", b"1,2\n")        # a header, then rows forever
    server.keep_alive = False                               # one request per connection

Every request is recorded in ``server.requests`` as ``(method, path, range)``
so tests can assert on what a client actually fetched.

``LocalHTTPServer(root, host="127.0.0.2")`` listens on another loopback
address (Linux routes all of 127/8 to loopback), so a test can treat one
server as public and another as private; ``port=`` picks the port, so two
servers can share one (a rebinding host name then reaches either).
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO, NamedTuple
from urllib.parse import unquote, urlsplit

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Request(NamedTuple):
    method: str
    path: str
    range: str | None


class LocalHTTPServer:
    """Serve ``root`` on ``host`` (127.0.0.1) on a free port in a daemon thread."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = Path(root)
        self.host = host
        self.redirects: dict[str, str] = {}
        self.range_redirects: list[tuple[str, str | None, str]] = []
        self.statuses: dict[str, int] = {}
        self.delays: list[tuple[str, float, str | None, str | None]] = []
        self.no_head: set[str] = set()
        self.no_range: set[str] = set()
        self.content_types: dict[str, str] = {}
        self.stalls: dict[str, int] = {}
        self.endless: dict[str, tuple[bytes, bytes]] = {}
        self.streaming = 0
        """Endless or stalled bodies being sent right now (a client that left ends its own)."""
        self._streaming_lock = threading.Lock()
        self.keep_alive = True
        self.requests: list[Request] = []
        self._stopping = threading.Event()
        self._httpd = _Server((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        # A short poll interval lets stop() return quickly instead of in up to 0.5 s.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="test-http", daemon=True
        )

    def slow(
        self,
        path: str,
        seconds: float,
        *,
        method: str | None = None,
        range_prefix: str | None = None,
    ) -> None:
        """Sleep ``seconds`` before answering ``path`` (for one method / kind of range)."""
        self.delays.append((path, seconds, method, range_prefix))

    def stall(self, path: str, *, after: int) -> None:
        """Send the first ``after`` bytes of ``path``'s body, then hang until stopped."""
        self.stalls[path] = after

    def redirect(self, path: str, target: str, *, range_prefix: str | None) -> None:
        """Answer 302 to ``target`` only for requests to ``path`` whose Range starts so
        (``None``: only GETs without a Range, i.e. a download of the whole body)."""
        self.range_redirects.append((path, range_prefix, target))

    def _redirect_for(self, request: Request) -> str | None:
        for path, prefix, target in self.range_redirects:
            if path != request.path:
                continue
            if prefix is None:
                if request.method == "GET" and request.range is None:
                    return target
            elif (request.range or "").startswith(prefix):
                return target
        return self.redirects.get(request.path)

    def _delay_for(self, request: Request) -> float:
        for path, seconds, method, prefix in self.delays:
            if path != request.path or (method and method != request.method):
                continue
            if prefix and not (request.range or "").startswith(prefix):
                continue
            return seconds
        return 0.0

    def _count_stream(self, change: int) -> None:
        with self._streaming_lock:
            self.streaming += change

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, path: str = "/", host: str | None = None) -> str:
        """The full URL of ``path``; ``host="localhost"`` exercises name resolution."""
        return f"http://{host or self.host}:{self.port}/{path.lstrip('/')}"

    def start(self) -> LocalHTTPServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        # Wake handlers sleeping in a delay so shutdown does not wait for them.
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def __enter__(self) -> LocalHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    # Clients that read in parallel (Polars, the egress proxy) open dozens of
    # connections at once; the default backlog of 5 drops some and the client's
    # SYN retry costs a second.
    request_queue_size = 128


def _handler_for(server: LocalHTTPServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep pytest output clean

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def end_headers(self) -> None:
            if not server.keep_alive:
                self.send_header("Connection", "close")
                self.close_connection = True
            super().end_headers()

        def _serve(self, body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            request = Request(self.command, path, self.headers.get("Range"))
            server.requests.append(request)
            delay = server._delay_for(request)
            if delay and server._stopping.wait(delay):
                self.close_connection = True
                return
            target = server._redirect_for(request)
            if target is not None:
                return self._empty(HTTPStatus.FOUND, {"Location": target})
            if path in server.statuses:
                return self._empty(server.statuses[path])
            if not body and path in server.no_head:
                return self._empty(HTTPStatus.METHOD_NOT_ALLOWED)
            if path in server.endless:
                return self._endless(path, body)
            file = (server.root / path.lstrip("/")).resolve()
            if not file.is_file() or server.root.resolve() not in file.parents:
                return self._empty(HTTPStatus.NOT_FOUND)
            self._send_file(file, body)

        def _send_file(self, file: Path, body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            size = file.stat().st_size
            start, end = 0, size - 1
            status = HTTPStatus.OK
            wanted = self.headers.get("Range")
            if wanted and path not in server.no_range:
                match = _RANGE.match(wanted.strip())
                if not match or not (match[1] or match[2]):
                    return self._empty(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                if match[1]:
                    start = int(match[1])
                    end = min(int(match[2]), size - 1) if match[2] else size - 1
                else:  # suffix range: the last n bytes
                    start = max(0, size - int(match[2]))
                if start >= size or start > end:
                    return self._empty(
                        HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                        {"Content-Range": f"bytes */{size}"},
                    )
                status = HTTPStatus.PARTIAL_CONTENT
            self.send_response(status)
            self.send_header(
                "Content-Type", server.content_types.get(path, "application/octet-stream")
            )
            if path not in server.no_range:
                self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start + 1))
            if status == HTTPStatus.PARTIAL_CONTENT:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if not body:
                return
            with file.open("rb") as fh:
                fh.seek(start)
                # The client may leave once it has what it needs (e.g. 4 magic bytes).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    length, stall = end - start + 1, server.stalls.get(path)
                    if stall is None or stall >= length:
                        _copy(fh, self.wfile, length)
                    else:
                        _copy(fh, self.wfile, stall)
                        self._hang()

        def _hang(self) -> None:
            """Send nothing more until the client leaves or the server stops."""
            self.close_connection = True
            server._count_stream(1)
            try:
                while not server._stopping.wait(0.05):
                    # poll, not select: select() fails on descriptors past 1024.
                    poller = select.poll()
                    poller.register(self.connection, select.POLLIN)
                    if poller.poll(0) and not self.connection.recv(1, socket.MSG_PEEK):
                        return  # the client closed its end
            except OSError:
                return
            finally:
                server._count_stream(-1)

        def _endless(self, path: str, body: bool) -> None:
            header, row = server.endless[path]
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", server.content_types.get(path, "text/csv"))
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            if not body:
                return
            rows = row * max(1, 65536 // len(row))
            server._count_stream(1)
            try:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(header)
                    while not server._stopping.is_set():
                        self.wfile.write(rows)
            finally:
                server._count_stream(-1)

        def _empty(self, status: int, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


def _copy(src: BinaryIO, dst: BinaryIO, length: int) -> None:
    remaining = length
    while remaining > 0:
        chunk = src.read(min(remaining, 64 * 1024))
        if not chunk:
            break
        dst.write(chunk)
        remaining -= len(chunk)
    dst.flush()


__all__ = ["LocalHTTPServer", "Request"]

"""The kernel-local egress proxy: what Polars can read through it, and what it refuses."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from chatdf.engine import worker
from chatdf.net.egress import Egress
from chatdf.net.proxy import MARKER, POLARS_STORAGE_OPTIONS, EgressProxy, egress_failure
from tests.http_server import LocalHTTPServer


@pytest.fixture
def egress() -> Iterator[Egress]:
    client = Egress(timeout=2.0)
    yield client
    client.close()


@pytest.fixture
def proxy(egress: Egress) -> Iterator[EgressProxy]:
    server = EgressProxy(egress, idle_timeout=2.0, upstream_timeout=2.0)
    yield server
    server.close()


def request(
    location: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(location)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        conn.request(method, parts.path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def failure_of(body: bytes) -> dict[str, str]:
    found = egress_failure(body.decode())
    assert found is not None, body
    return found


def test_polars_reads_a_url_through_its_location(
    proxy: EgressProxy, http_server: LocalHTTPServer, sample_frame: pl.DataFrame
) -> None:
    location = proxy.add(http_server.url("sample.parquet"), allow_private=True)
    assert location.startswith(proxy.origin + "/")
    frame = pl.scan_parquet(location, storage_options=POLARS_STORAGE_OPTIONS).collect()
    assert_frame_equal(frame, sample_frame)
    # Polars asked in ranges; the proxy passed them on.
    assert all(r.range for r in http_server.requests)


def test_head_and_ranges_are_passed_on(
    proxy: EgressProxy, http_server: LocalHTTPServer, http_root: Path
) -> None:
    data = (http_root / "sample.parquet").read_bytes()
    location = proxy.add(http_server.url("sample.parquet"), allow_private=True)
    status, headers, body = request(location, "HEAD")
    assert (status, headers["Content-Length"], body) == (200, str(len(data)), b"")
    status, headers, body = request(location, headers={"Range": "bytes=4-9"})
    assert (status, body) == (206, data[4:10])
    assert headers["Content-Range"] == f"bytes 4-9/{len(data)}"
    status, _headers, body = request(location, headers={"Range": "bytes=-8"})
    assert (status, body) == (206, data[-8:])
    assert [r.range for r in http_server.requests] == [None, "bytes=4-9", "bytes=-8"]


@pytest.mark.parametrize("change", ["secret", "route", "extra", "nothing-but-secret"])
def test_unknown_paths_are_404_and_never_fetched(
    proxy: EgressProxy, http_server: LocalHTTPServer, change: str
) -> None:
    location = proxy.add(http_server.url("sample.parquet"), allow_private=True)
    base, secret, route = location.rsplit("/", 2)
    wrong = {
        "secret": f"{base}/{'0' * len(secret)}/{route}",
        "route": f"{base}/{secret}/99.parquet",
        "extra": f"{location}/x",
        "nothing-but-secret": f"{base}/{secret}/",
    }[change]
    assert request(wrong)[0] == 404
    assert http_server.requests == []


def test_a_removed_location_is_gone(proxy: EgressProxy, http_server: LocalHTTPServer) -> None:
    location = proxy.add(http_server.url("sample.parquet"), allow_private=True)
    assert proxy.target(location) == http_server.url("sample.parquet")
    proxy.remove(location)
    assert request(location)[0] == 404
    assert proxy.target(location) is None


def test_another_host_header_is_refused(proxy: EgressProxy, http_server: LocalHTTPServer) -> None:
    # A web page whose name was rebound to 127.0.0.1 sends its own name as Host.
    location = proxy.add(http_server.url("sample.parquet"), allow_private=True)
    assert request(location, headers={"Host": "evil.example"})[0] == 404
    assert http_server.requests == []


def test_a_refused_fetch_says_why(proxy: EgressProxy, http_server: LocalHTTPServer) -> None:
    location = proxy.add(http_server.url("sample.parquet"), allow_private=False)
    status, _headers, body = request(location)
    assert status == 403
    assert failure_of(body)["reason"] == "private_address"
    assert http_server.requests == []


def test_a_refused_head_leads_polars_to_a_get_that_says_why(
    http_server: LocalHTTPServer,
) -> None:
    # Polars sends HEAD before it scans a CSV, and an answer to HEAD has no body.
    # Here 127.0.0.1 counts as public and 127.0.0.2 as private.
    egress = Egress(is_private=lambda ip: str(ip) == "127.0.0.2", timeout=2.0)
    proxy = EgressProxy(egress, upstream_timeout=2.0)
    try:
        location = proxy.add(http_server.url("sample.parquet"), allow_private=False, suffix=".csv")
        assert location.endswith(".csv")
        size = str((http_server.root / "sample.parquet").stat().st_size)
        status, headers, _ = request(location, "HEAD")
        assert (status, headers["Content-Length"]) == (200, size)
        # The host now redirects to an address the egress refuses: HEAD still tells
        # the size it saw, and the GET that follows says why it is refused.
        http_server.redirects["/sample.parquet"] = "http://127.0.0.2:8/x.csv"
        status, headers, _ = request(location, "HEAD")
        assert (status, headers["Content-Length"]) == (200, size)
        status, _, body = request(location, headers={"Range": "bytes=0-0"})
        assert status == 403 and failure_of(body)["reason"] == "private_address"
        # Without a size seen before, a refused HEAD is a plain 403.
        fresh = proxy.add("http://127.0.0.2:8/x.csv", allow_private=False, suffix=".csv")
        assert request(fresh, "HEAD")[0] == 403
    finally:
        proxy.close()
        egress.close()


def test_an_upstream_error_is_passed_on_with_our_own_body(
    proxy: EgressProxy, http_server: LocalHTTPServer
) -> None:
    http_server.statuses["/sample.parquet"] = 410
    location = proxy.add(http_server.url("sample.parquet"), allow_private=True)
    status, _headers, body = request(location)
    assert status == 410
    assert body.decode().startswith(MARKER)
    assert failure_of(body) == {"reason": "status", "message": "Could not access URL (410 Gone)"}


def test_a_response_larger_than_the_limit_is_refused(
    egress: Egress, http_server: LocalHTTPServer
) -> None:
    proxy = EgressProxy(egress, max_response_bytes=100)
    try:
        location = proxy.add(http_server.url("sample.parquet"), allow_private=True)
        status, _headers, body = request(location)
        assert status == 403 and failure_of(body)["reason"] == "too_large"
        assert request(location, headers={"Range": "bytes=0-99"})[0] == 206
    finally:
        proxy.close()


def test_an_idle_connection_makes_room_for_a_new_one(
    egress: Egress, http_server: LocalHTTPServer
) -> None:
    proxy = EgressProxy(egress, max_connections=2, idle_timeout=30.0)
    location = proxy.add(http_server.url("sample.parquet"), allow_private=True)
    port = int(urlsplit(location).port or 0)
    idle = []
    for _ in range(2):
        idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(0.2)  # so "idle the longest" is one of them, even on a loaded machine
    try:
        with urllib.request.urlopen(location, timeout=5) as response:
            assert response.status == 200
        assert idle[0].recv(1) == b""  # the one idle the longest was closed
    finally:
        for sock in idle:
            sock.close()
        proxy.close()


def test_connections_beyond_the_limit_wait_for_busy_ones(
    egress: Egress, http_server: LocalHTTPServer
) -> None:
    http_server.slow("/sample.parquet", 1.0)
    proxy = EgressProxy(egress, max_connections=2)
    location = proxy.add(http_server.url("sample.parquet"), allow_private=True)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        statuses = [pool.submit(lambda: request(location)[0]) for _ in range(3)]
        time.sleep(0.5)
        assert len(http_server.requests) == 2  # the third waits: both threads are busy
        assert [f.result() for f in statuses] == [200, 200, 200]
    proxy.close()


def test_a_silent_client_is_disconnected(egress: Egress) -> None:
    proxy = EgressProxy(egress, idle_timeout=0.3)
    try:
        port = int(urlsplit(proxy.origin).port or 0)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.settimeout(5)
            assert sock.recv(1) == b""  # closed by the proxy, not by our timeout
    finally:
        proxy.close()


def test_a_closed_proxy_serves_nothing(egress: Egress, http_server: LocalHTTPServer) -> None:
    proxy = EgressProxy(egress)
    location = proxy.add(http_server.url("sample.parquet"), allow_private=True)
    proxy.close()
    with pytest.raises(OSError):
        request(location)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('403 Forbidden: chatdf-egress: {"reason": "x", "message": "m"}\n (path: p)', "x"),
        ('chatdf-egress: {"reason": "x", "message": "a {brace}"} tail', "x"),
        ("404 Not Found:  (path: p)", None),
        ("chatdf-egress: {not json", None),
        ('chatdf-egress: ["reason"]', None),
    ],
)
def test_the_failure_is_found_in_an_error_text(text: str, found: str | None) -> None:
    failure = egress_failure(text)
    assert (failure["reason"] if failure else None) == found
    # The worker (which imports nothing from chatdf) reads it the same way.
    assert worker._egress_failure(text) == failure


def test_the_worker_speaks_the_proxys_language() -> None:
    assert worker._EGRESS_MARKER == MARKER
    assert worker._URL_STORAGE_OPTIONS == POLARS_STORAGE_OPTIONS
    assert json.loads(json.dumps(POLARS_STORAGE_OPTIONS)) == POLARS_STORAGE_OPTIONS

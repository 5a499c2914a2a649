"""The egress path: URL syntax, the address actually connected to, redirects hop by hop.

Real sockets against local servers; "public" is 127.0.0.2 through the address
classifier passed to :class:`Egress` (see ``tests/egress_helpers.py``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatdf.net.egress import Egress, EgressError, IPAddress, is_private_address, is_url
from tests.egress_helpers import (
    PUBLIC_IP,
    REBINDING_HOST,
    RebindingResolver,
    public_127_0_0_2,
    public_and_private,
)
from tests.http_server import LocalHTTPServer


@pytest.fixture
def egress() -> Iterator[Egress]:
    client = Egress(timeout=2.0)
    yield client
    client.close()


@pytest.fixture
def servers(http_root: Path, tmp_path: Path) -> Iterator[tuple[LocalHTTPServer, LocalHTTPServer]]:
    private_root = tmp_path / "private"
    private_root.mkdir()
    (private_root / "secret.txt").write_text("PRIVATE")
    with public_and_private(http_root, private_root) as pair:
        yield pair


def fetch(egress: Egress, url: str, *, allow_private: bool = False) -> tuple[int, bytes]:
    with egress.open("GET", url, allow_private=allow_private) as response:
        return response.status, b"".join(response.iter_bytes())


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("http://example.com/a.parquet", True),
        ("HTTPS://example.com/a.parquet", True),
        ("file:///etc/passwd", True),
        ("s3://bucket/key.parquet", True),
        ("data/sales.parquet", False),
        ("/abs/path/*.csv", False),
        (r"C:\data\sales.csv", False),  # a drive letter is not a scheme
        ("http://[::1/a", True),
        ("", False),
    ],
)
def test_is_url_tells_urls_from_paths(source: str, expected: bool) -> None:
    assert is_url(source) is expected


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/a.parquet",
        "gopher://example.com/",
        "javascript:alert(1)",
        "data:application/octet-stream;base64,UEFSMQ==",
        "s3://bucket/a.parquet",
        "//example.com/a.parquet",
    ],
)
def test_only_http_and_https_are_accepted(egress: Egress, url: str) -> None:
    with pytest.raises(EgressError, match="Invalid URL format") as info:
        egress.check_url(url)
    assert info.value.details["reason"] == "scheme"


@pytest.mark.parametrize(
    "url",
    [
        "http://",
        "http:t.parquet",
        "https:///a.parquet",
        "http://example.com:99999/a",
        "http://example.com:0/a",
        "http://[::1/a.parquet",
        "http://a..b/a.parquet",
        "http://exa mple.com/a.parquet",
        "http://ex%61mple.com/",
        "http://[fe80::1%25eth0]/a.parquet",  # a zone id picks an interface
    ],
)
def test_a_url_without_a_valid_host_is_invalid(egress: Egress, url: str) -> None:
    with pytest.raises(EgressError, match="Invalid URL format") as info:
        egress.check_url(url)
    assert info.value.details["reason"] == "invalid_url"


@pytest.mark.parametrize(
    "url", ["http://user:pw@example.com/a.parquet", "http://example.com@127.0.0.1/a.parquet"]
)
def test_credentials_in_a_url_are_refused(egress: Egress, url: str) -> None:
    with pytest.raises(EgressError, match="user name or password") as info:
        egress.check_url(url)
    assert info.value.details["reason"] == "credentials"
    assert "pw" not in info.value.details["url"]


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",  # short forms the resolver expands to loopback
        "2130706433",
        "0x7f.1",
        "localhost",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.10",
        "169.254.169.254",  # cloud metadata endpoint
        "0.0.0.0",
        "100.64.0.1",  # carrier-grade NAT
        "224.0.0.1",
        "240.0.0.1",
        "[::1]",
        "[fe80::1]",
        "[fc00::1]",
        "[ff02::1]",
        "[::ffff:127.0.0.1]",
    ],
)
def test_non_public_addresses_are_refused_with_the_way_to_allow_them(
    egress: Egress, host: str
) -> None:
    with pytest.raises(EgressError) as info:
        egress.open("HEAD", f"http://{host}:8000/data.parquet", allow_private=False)
    assert "private" in info.value.message
    assert "CHATDF_ALLOW_PRIVATE_URLS=1" in info.value.message
    assert info.value.details["reason"] == "private_address"
    assert info.value.details["address"]


def test_a_hostname_is_refused_by_the_address_it_resolves_to(egress: Egress) -> None:
    with pytest.raises(EgressError, match=r"localhost \(127\.0\.0\.1\) .*\(loopback\)"):
        egress.open("HEAD", "http://localhost/x.parquet", allow_private=False)


def test_the_metadata_address_is_named_as_such(egress: Egress) -> None:
    with pytest.raises(EgressError, match=r"cloud metadata"):
        egress.open("GET", "http://169.254.169.254/latest/meta-data/", allow_private=False)


@pytest.mark.parametrize("url", ["http://93.184.216.34/a.parquet", "https://[2606:4700::1111]/a"])
def test_public_addresses_pass_the_syntax_check(egress: Egress, url: str) -> None:
    assert egress.check_url(f"  {url} ") == url


def test_allow_private_reaches_loopback(egress: Egress, http_server: LocalHTTPServer) -> None:
    status, body = fetch(egress, http_server.url("sample.parquet"), allow_private=True)
    assert status == 200 and body.startswith(b"PAR1")


def test_an_unknown_host_cannot_be_accessed(egress: Egress) -> None:
    with pytest.raises(EgressError, match=r"Could not access URL.*could not be resolved") as info:
        egress.open("HEAD", "http://no-such-host.invalid/a.parquet", allow_private=False)
    assert info.value.details["reason"] == "unresolvable"


@pytest.mark.parametrize(
    ("address", "private"),
    [("8.8.8.8", False), ("2001:4860:4860::8888", False), ("192.0.2.1", True), ("::", True)],
)
def test_address_classes(address: str, private: bool) -> None:
    assert is_private_address(ipaddress.ip_address(address)) is private


def test_redirects_are_followed_hop_by_hop(egress: Egress, http_server: LocalHTTPServer) -> None:
    http_server.redirects["/a"] = "/b"  # relative
    http_server.redirects["/b"] = http_server.url("sample.parquet")  # absolute
    with egress.open("HEAD", http_server.url("a"), allow_private=True) as response:
        assert response.status == 200
    assert response.url == http_server.url("sample.parquet")
    assert [r.path for r in http_server.requests] == ["/a", "/b", "/sample.parquet"]


def test_a_redirect_loop_stops_after_five_hops(
    egress: Egress, http_server: LocalHTTPServer
) -> None:
    http_server.redirects["/loop"] = "/loop"
    with pytest.raises(EgressError, match="more than 5 redirects") as info:
        egress.open("HEAD", http_server.url("loop"), allow_private=True)
    assert info.value.details["reason"] == "too_many_redirects"
    assert len(http_server.requests) == 6


def test_a_redirect_to_another_scheme_is_refused(
    egress: Egress, http_server: LocalHTTPServer
) -> None:
    http_server.redirects["/a"] = "file:///etc/passwd"
    with pytest.raises(EgressError, match="Invalid URL format"):
        egress.open("GET", http_server.url("a"), allow_private=True)


# -- the address actually connected to -----------------------------------------------------


def test_the_injected_classifier_decides_what_is_public(
    servers: tuple[LocalHTTPServer, LocalHTTPServer],
) -> None:
    public, private = servers
    egress = Egress(is_private=public_127_0_0_2, timeout=2.0)
    try:
        assert fetch(egress, public.url("sample.parquet"))[0] == 200
        with pytest.raises(EgressError, match=r"127\.0\.0\.1 is a private"):
            fetch(egress, private.url("secret.txt"))
    finally:
        egress.close()
    assert private.requests == []


def test_a_redirect_from_public_to_private_is_refused_before_connecting(
    servers: tuple[LocalHTTPServer, LocalHTTPServer],
) -> None:
    public, private = servers
    public.redirects["/go"] = private.url("secret.txt")
    egress = Egress(is_private=public_127_0_0_2, timeout=2.0)
    try:
        with pytest.raises(EgressError) as info:
            fetch(egress, public.url("go"))
    finally:
        egress.close()
    assert info.value.details["reason"] == "private_address"
    assert info.value.details["url"] == private.url("secret.txt")
    assert [r.path for r in public.requests] == ["/go"]
    assert private.requests == []


def test_both_the_resolved_and_the_connected_address_are_checked(
    servers: tuple[LocalHTTPServer, LocalHTTPServer],
) -> None:
    public, _private = servers
    asked: list[IPAddress] = []

    def recording(ip: IPAddress) -> bool:
        asked.append(ip)
        return public_127_0_0_2(ip)

    egress = Egress(is_private=recording, timeout=2.0)
    try:
        fetch(egress, public.url("sample.parquet"))
    finally:
        egress.close()
    # Once for the lookup's answer, once for the socket's peer address.
    assert asked == [PUBLIC_IP, PUBLIC_IP]


def test_dns_rebinding_cannot_swap_the_address_after_the_check(
    servers: tuple[LocalHTTPServer, LocalHTTPServer],
) -> None:
    public, private = servers
    public.keep_alive = False  # every request needs a new connection, so a new lookup
    resolver = RebindingResolver(public_answers=1)
    egress = Egress(is_private=public_127_0_0_2, resolver=resolver, timeout=2.0)
    url = public.url("sample.parquet", host=REBINDING_HOST)
    try:
        assert fetch(egress, url)[0] == 200  # answered by the public server
        with pytest.raises(EgressError, match=r"rebind\.test \(127\.0\.0\.1\) is a private"):
            fetch(egress, url)
    finally:
        egress.close()
    # One lookup per connection: none the check did not see.
    assert resolver.lookups == 2
    assert private.requests == []


def test_a_name_with_any_private_answer_is_refused(
    servers: tuple[LocalHTTPServer, LocalHTTPServer],
) -> None:
    public, private = servers

    def both(host: str, port: int) -> list[IPAddress]:
        return [PUBLIC_IP, ipaddress.ip_address("127.0.0.1")]

    egress = Egress(is_private=public_127_0_0_2, resolver=both, timeout=2.0)
    try:
        with pytest.raises(EgressError, match="private"):
            fetch(egress, public.url("sample.parquet", host="mixed.test"))
    finally:
        egress.close()
    assert public.requests == private.requests == []


def test_allow_private_and_public_only_never_share_a_connection(
    servers: tuple[LocalHTTPServer, LocalHTTPServer],
) -> None:
    _public, private = servers
    egress = Egress(is_private=public_127_0_0_2, timeout=2.0)
    try:
        assert fetch(egress, private.url("secret.txt"), allow_private=True) == (200, b"PRIVATE")
        # The kept-alive connection to the private server is not the model's to reuse.
        with pytest.raises(EgressError, match="private"):
            fetch(egress, private.url("secret.txt"))
    finally:
        egress.close()
    assert len(private.requests) == 1


def test_a_slow_server_times_out(egress: Egress, http_server: LocalHTTPServer) -> None:
    http_server.slow("/sample.parquet", 3.0)
    with pytest.raises(EgressError, match=r"no response within 0\.3 s") as info:
        egress.open("GET", http_server.url("sample.parquet"), allow_private=True, timeout=0.3)
    assert info.value.details["reason"] == "timeout"


def test_a_hanging_lookup_times_out(http_server: LocalHTTPServer) -> None:
    import threading

    released = threading.Event()

    def hanging(host: str, port: int) -> list[IPAddress]:
        released.wait(10)
        return [PUBLIC_IP]

    egress = Egress(resolver=hanging, timeout=0.3)
    try:
        with pytest.raises(EgressError, match="looking up") as info:
            egress.open("HEAD", "http://slow-dns.test/a.parquet", allow_private=False)
        assert info.value.details["reason"] == "timeout"
    finally:
        released.set()
        egress.close()


def test_https_is_verified_against_the_host_name_not_the_address(
    http_root: Path, tmp_path: Path
) -> None:
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=public.test"]
        + ["-addext", "subjectAltName=DNS:public.test"],
        check=True,
        capture_output=True,
    )
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    client_side = ssl.create_default_context(cafile=str(cert))

    def names(host: str, port: int) -> list[IPAddress]:
        return [PUBLIC_IP]  # public.test, and anything else, is 127.0.0.2

    with LocalHTTPServer(http_root, host=str(PUBLIC_IP)) as server:
        server._httpd.socket = server_side.wrap_socket(server._httpd.socket, server_side=True)
        egress = Egress(
            is_private=public_127_0_0_2, resolver=names, ssl_context=client_side, timeout=2.0
        )
        try:
            url = f"https://public.test:{server.port}/sample.parquet"
            status, body = fetch(egress, url)
            assert status == 200 and body.startswith(b"PAR1")
            # Connected to 127.0.0.2 either way; the certificate names public.test only.
            with pytest.raises(EgressError) as info:
                fetch(egress, f"https://127.0.0.2:{server.port}/sample.parquet")
            assert info.value.details["reason"] == "connection"
            assert "certificate" in info.value.message.lower()
        finally:
            egress.close()

"""URL safety: schemes, address classes, and redirects checked hop by hop."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from chatdf.errors import DatasetError
from chatdf.urlguard import check_url, is_private_address, is_url, send_checked
from tests.http_server import LocalHTTPServer


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
def test_only_http_and_https_are_accepted(url: str) -> None:
    with pytest.raises(DatasetError, match="Invalid URL format"):
        check_url(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://",
        "http:t.parquet",
        "https:///a.parquet",
        "http://example.com:99999/a",
        "http://[::1/a.parquet",
        "http://a..b/a.parquet",
    ],
)
def test_a_url_without_a_valid_host_is_invalid(url: str) -> None:
    with pytest.raises(DatasetError, match="Invalid URL format"):
        check_url(url, allow_private=True)


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
def test_non_public_addresses_are_refused_with_the_way_to_allow_them(host: str) -> None:
    with pytest.raises(DatasetError) as info:
        check_url(f"http://{host}:8000/data.parquet", allow_private=False)
    assert "private" in info.value.message
    assert "CHATDF_ALLOW_PRIVATE_URLS=1" in info.value.message
    assert info.value.details["address"]


def test_a_hostname_is_refused_by_the_address_it_resolves_to() -> None:
    with pytest.raises(DatasetError, match=r"localhost \(127\.0\.0\.1\)"):
        check_url("http://localhost/x.parquet", allow_private=False)


@pytest.mark.parametrize("url", ["http://93.184.216.34/a.parquet", "https://[2606:4700::1111]/a"])
def test_public_addresses_pass(url: str) -> None:
    assert check_url(f"  {url} ", allow_private=False) == url


def test_allow_private_accepts_loopback() -> None:
    assert check_url("http://127.0.0.1:9/a.parquet", allow_private=True).startswith("http://127")


def test_an_unknown_host_cannot_be_accessed() -> None:
    with pytest.raises(DatasetError, match=r"Could not access URL.*could not be resolved"):
        check_url("http://no-such-host.invalid/a.parquet", allow_private=False)


@pytest.mark.parametrize(
    ("address", "private"),
    [("8.8.8.8", False), ("2001:4860:4860::8888", False), ("192.0.2.1", True), ("::", True)],
)
def test_address_classes(address: str, private: bool) -> None:
    assert is_private_address(ipaddress.ip_address(address)) is private


def test_redirects_are_followed_hop_by_hop(http_server: LocalHTTPServer) -> None:
    http_server.redirects["/a"] = "/b"  # relative
    http_server.redirects["/b"] = http_server.url("sample.parquet")  # absolute
    with httpx.Client(timeout=5) as client:
        response = send_checked(client, "HEAD", http_server.url("a"), allow_private=True)
        response.close()
    assert response.status_code == 200
    assert str(response.url) == http_server.url("sample.parquet")
    assert [r.path for r in http_server.requests] == ["/a", "/b", "/sample.parquet"]


def test_a_redirect_loop_stops_after_five_hops(http_server: LocalHTTPServer) -> None:
    http_server.redirects["/loop"] = "/loop"
    with (
        httpx.Client(timeout=5) as client,
        pytest.raises(DatasetError, match="more than 5 redirects"),
    ):
        send_checked(client, "HEAD", http_server.url("loop"), allow_private=True)
    assert len(http_server.requests) == 6


def test_a_redirect_to_another_scheme_is_refused(http_server: LocalHTTPServer) -> None:
    http_server.redirects["/a"] = "file:///etc/passwd"
    with httpx.Client(timeout=5) as client, pytest.raises(DatasetError, match="Invalid URL format"):
        send_checked(client, "GET", http_server.url("a"), allow_private=True)

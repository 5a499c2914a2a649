"""URL safety: which http(s) URLs chatdf may fetch on the user's (or the model's) behalf.

A URL is accepted only when its scheme is http or https and every address its
host resolves to is public. Loopback, link-local, private, multicast,
unspecified and reserved addresses are refused unless the caller allows
private URLs (``CHATDF_ALLOW_PRIVATE_URLS=1``; never for the model). Redirects
are followed by hand so that every hop passes the same check.

NOTE: the check resolves the host once and the HTTP client resolves it again,
so a DNS server that answers differently the second time (DNS rebinding) is
not stopped here, and Polars follows redirects on its own when workers read
the file later. Both are accepted limits of a check that sits in front of
libraries that do their own networking.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urljoin, urlsplit

import httpx

from .errors import DatasetError

ALLOWED_SCHEMES = ("http", "https")
MAX_REDIRECTS = 5
ALLOW_PRIVATE_HINT = (
    "Set CHATDF_ALLOW_PRIVATE_URLS=1 (or pass allow_private_urls=True) to load it anyway."
)
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# RFC 3986 scheme, at least two characters so that "C:" stays a drive letter.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_url(source: str) -> bool:
    """True when ``source`` names a scheme (``http:``, ``file:`` ...) rather than a path.

    A single letter before the colon is a Windows drive (``C:\\data``), not a scheme.
    """
    return _SCHEME.match(source.strip()) is not None


def is_private_address(ip: IPAddress) -> bool:
    """True for any address that is not plainly on the public internet."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    return (
        ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or not ip.is_global  # shared (100.64/10), documentation and other special ranges
    )


def resolve(host: str, port: int | None) -> list[IPAddress]:
    """Every address ``host`` resolves to (a literal address resolves to itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port or 0, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise DatasetError(
            f"Could not access URL: the host {host!r} could not be resolved ({exc}).",
            details={"host": host},
        ) from None
    seen: dict[str, IPAddress] = {}
    for *_, sockaddr in infos:
        # Strip an IPv6 zone ("fe80::1%eth0") before parsing.
        text = str(sockaddr[0]).split("%", 1)[0]
        seen.setdefault(text, ipaddress.ip_address(text))
    return list(seen.values())


def check_url(url: str, *, allow_private: bool) -> str:
    """Refuse ``url`` unless it is http(s) and its host resolves only to allowed addresses.

    Parameters
    ----------
    url
        The URL as the user or the model gave it.
    allow_private
        Accept loopback, private and other non-public addresses.

    Returns
    -------
    str
        The URL, stripped of surrounding whitespace.

    Raises
    ------
    DatasetError
        "Invalid URL format" for a bad scheme or host; "Could not access URL"
        when the host does not resolve; a message naming the address and
        :data:`ALLOW_PRIVATE_HINT` when it is private.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise DatasetError(f"Invalid URL format: {exc}.", details={"url": url}) from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = f"{scheme}:" if scheme else "no scheme"
        raise DatasetError(
            f"Invalid URL format: only http:// and https:// URLs can be loaded ({shown} given).",
            details={"url": url},
        )
    try:
        host, port = parts.hostname, parts.port
        if host:
            host.encode("idna")  # what the HTTP client will do; empty labels fail here
    except (ValueError, UnicodeError):  # a bad port, or a host name no DNS can carry
        host, port = None, None
    if not host:
        raise DatasetError(f"Invalid URL format: {url!r} has no valid host.", details={"url": url})
    if allow_private:
        return url
    for ip in resolve(host, port):
        if is_private_address(ip):
            what = host if str(ip) == host.strip("[]") else f"{host} ({ip})"
            raise DatasetError(
                f"Refused URL: {what} is a private, loopback or otherwise non-public address. "
                + ALLOW_PRIVATE_HINT,
                details={"url": url, "address": str(ip)},
            )
    return url


def send_checked(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    allow_private: bool,
    headers: dict[str, str] | None = None,
    max_redirects: int = MAX_REDIRECTS,
) -> httpx.Response:
    """Send a request, following up to ``max_redirects`` redirects, checking every hop.

    The response is streamed: the caller reads what it needs and must close it.
    ``response.url`` is the URL that finally answered.

    Raises
    ------
    DatasetError
        When any hop fails :func:`check_url`, or there are too many redirects.
    httpx.HTTPError
        Network failures and timeouts, left to the caller to word.
    """
    current = check_url(url, allow_private=allow_private)
    for _ in range(max_redirects + 1):
        request = client.build_request(method, current, headers=headers)
        response = client.send(request, stream=True, follow_redirects=False)
        location = response.headers.get("location")
        if response.status_code not in _REDIRECT_STATUSES or not location:
            return response
        response.close()
        current = check_url(urljoin(current, location), allow_private=allow_private)
    raise DatasetError(
        f"Could not access URL: more than {max_redirects} redirects.", details={"url": url}
    )

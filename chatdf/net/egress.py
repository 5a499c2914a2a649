"""The one guarded path through which chatdf fetches remote bytes.

Every request chatdf makes to a dataset URL goes through :class:`Egress`: the
probe when a URL is added, and (through the kernel-local
:class:`~chatdf.net.proxy.EgressProxy`) Polars' schema read in the kernel,
every scan in the query workers and lazy exports. What it guarantees:

- Only ``http`` and ``https`` URLs with a valid host and no user name or
  password.
- The checked address is the one connected to. :class:`Egress` resolves the
  host itself, refuses it when any address is non-public, connects to a
  checked address (the host name is kept for TLS SNI and the ``Host``
  header), and checks the peer address of the connected socket once more.
  There is no second lookup that a DNS server could answer differently
  (DNS rebinding).
- Redirects are followed by this code, at most :data:`MAX_REDIRECTS`; every
  hop is checked the same way, and a connection is made only after its
  address passed.
- No environment proxies (``HTTP_PROXY``): a proxy would be the address
  connected to, and it would do its own lookups.

Which addresses are non-public is decided by a function passed in
(:func:`is_private_address` by default); the host lookup too (:func:`resolve`).
``allow_private`` (the user's ``CHATDF_ALLOW_PRIVATE_URLS``, never the
model's) skips the address check and nothing else.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import urljoin

import httpcore
import httpx

from ..errors import ChatDFError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[IPAddress]]
"""``(host, port)`` -> the addresses to connect to; raises :class:`EgressError` if none."""
AddressCheck = Callable[[IPAddress], bool]
"""``ip`` -> True when chatdf must not connect to it (loopback, private, metadata, ...)."""

ALLOWED_SCHEMES = ("http", "https")
MAX_REDIRECTS = 5
DEFAULT_TIMEOUT = 10.0
"""Seconds for connecting, and for each read or write, of one request."""
MAX_CONNECTIONS = 32
"""Open connections per pool (one pool for public-only, one for allow_private)."""
ALLOW_PRIVATE_HINT = (
    "Set CHATDF_ALLOW_PRIVATE_URLS=1 (or pass allow_private_urls=True) to load it anyway."
)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# RFC 3986 scheme, at least two characters so that "C:" stays a drive letter.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")
# One DNS label (underscores occur in real names); IP literals are parsed separately.
_LABEL = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")


class EgressError(ChatDFError):
    """A remote fetch was refused or failed; ``details["reason"]`` says which.

    Reasons: ``scheme``, ``invalid_url``, ``credentials``, ``unresolvable``,
    ``private_address``, ``too_many_redirects``, ``timeout``, ``connection``,
    ``too_large``. Callers re-raise it as a DatasetError (adding a dataset) or
    a QueryError with ``error_type="network"`` (a query).
    """

    def __init__(self, message: str, reason: str, **details: Any) -> None:
        super().__init__(message, details={"reason": reason, **details})
        self.reason = reason


# -- addresses ------------------------------------------------------------------------


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


def address_kind(ip: IPAddress) -> str:
    """A word for what kind of non-public address ``ip`` is, for messages."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if str(ip) == "169.254.169.254" or str(ip) == "fd00:ec2::254":
        return "cloud metadata"
    for kind in ("loopback", "link_local", "multicast", "unspecified", "private", "reserved"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return "non-public"


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (a literal address resolves to itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise EgressError(
            f"Could not access URL: the host {host!r} could not be resolved ({exc}).",
            "unresolvable",
            host=host,
        ) from None
    seen: dict[str, IPAddress] = {}
    for *_, sockaddr in infos:
        text = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone ("fe80::1%eth0")
        seen.setdefault(text, ipaddress.ip_address(text))
    return list(seen.values())


# -- the connection: resolve, check, connect, check the peer ----------------------------


class _CheckedBackend(httpcore.NetworkBackend):
    """httpcore's network layer, connecting only to addresses that passed the check."""

    def __init__(self, resolver: Resolver, is_private: AddressCheck | None) -> None:
        self._resolver = resolver
        self._is_private = is_private  # None: every address allowed
        self._tcp = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        addresses = _resolve_within(self._resolver, host, port, timeout)
        for ip in addresses:
            self._check(host, ip)  # one bad answer is enough to refuse the name
        failure: Exception | None = None
        for ip in addresses:
            try:
                stream = self._tcp.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options or []
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            try:
                self._check(host, _peer_address(stream))
            except BaseException:
                stream.close()
                raise
            return stream
        assert failure is not None  # the resolver returns at least one address
        raise failure

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise EgressError("Refused: chatdf does not fetch over unix sockets.", "scheme")

    def sleep(self, seconds: float) -> None:
        self._tcp.sleep(seconds)

    def _check(self, host: str, ip: IPAddress) -> None:
        if self._is_private is None or not self._is_private(ip):
            return
        what = host if _same_address(host, ip) else f"{host} ({ip})"
        raise EgressError(
            f"Refused URL: {what} is a private, loopback or otherwise non-public address "
            f"({address_kind(ip)}). {ALLOW_PRIVATE_HINT}",
            "private_address",
            host=host,
            address=str(ip),
        )


def _same_address(host: str, ip: IPAddress) -> bool:
    try:
        return ipaddress.ip_address(host) == ip
    except ValueError:
        return False


def _peer_address(stream: httpcore.NetworkStream) -> IPAddress:
    """The address the socket is actually connected to."""
    peer = stream.get_extra_info("server_addr")
    return ipaddress.ip_address(str(peer[0]).split("%", 1)[0])


def _resolve_within(
    resolver: Resolver, host: str, port: int, timeout: float | None
) -> Sequence[IPAddress]:
    """``resolver(host, port)``, given up after ``timeout`` (DNS has no timeout of its own).

    The lookup runs in a daemon thread; a lookup that hangs finishes there, unheard.
    """
    outcome: list[Any] = []

    def lookup() -> None:
        try:
            outcome.append(resolver(host, port))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome.append(exc)

    thread = threading.Thread(target=lookup, name="chatdf-dns", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise EgressError(
            f"Could not access URL: looking up {host!r} took longer than {timeout:g} s.",
            "timeout",
            host=host,
        )
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    if not result:
        raise EgressError(
            f"Could not access URL: the host {host!r} has no address.", "unresolvable", host=host
        )
    return list(result)


# -- requests ---------------------------------------------------------------------------


class EgressResponse:
    """A streamed response that passed every check; close it (or use ``with``).

    ``url`` is the URL that finally answered, after redirects.
    """

    def __init__(self, response: httpcore.Response, url: str, timeout: float) -> None:
        self._response = response
        self.url = url
        self.status: int = response.status
        self.headers: list[tuple[str, str]] = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers
        ]
        self._timeout = timeout

    @property
    def reason_phrase(self) -> str:
        phrase = self._response.extensions.get("reason_phrase", b"")
        if phrase:
            return bytes(phrase).decode("latin-1")
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return ""

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def iter_bytes(self) -> Iterator[bytes]:
        """The body as it arrives, undecoded."""
        with _translated(self.url, self._timeout):
            yield from self._response.iter_stream()

    def read_prefix(self, size: int) -> bytes:
        """Up to ``size`` first bytes of the body (a server ignoring Range sends more)."""
        data = b""
        for chunk in self.iter_bytes():
            data += chunk
            if len(data) >= size:
                break
        return data[:size]

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> EgressResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Egress:
    """Fetches URLs for chatdf, checking every connection and every redirect.

    Parameters
    ----------
    is_private
        Says whether an address is off limits; default :func:`is_private_address`.
        Tests pass their own to treat one local server as public.
    resolver
        Looks a host up; default :func:`resolve` (the system resolver).
    timeout
        Default seconds for connecting and for each read of a request.
    max_redirects
        Redirects followed before giving up.
    ssl_context
        Certificates to trust for https; default httpcore's (certifi's bundle).
        TLS is checked against the URL's host name, never the address.

    Notes
    -----
    Thread-safe: the probe, the egress proxy's threads and Polars' kernel-side
    reads share one instance. Connections are kept alive per origin in two
    pools, one for ``allow_private`` and one without, so a connection made
    under the user's permission is never reused for the model's request.
    """

    def __init__(
        self,
        *,
        is_private: AddressCheck = is_private_address,
        resolver: Resolver = resolve,
        timeout: float = DEFAULT_TIMEOUT,
        max_redirects: int = MAX_REDIRECTS,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.timeout = timeout
        self.max_redirects = max_redirects
        self._pools = {
            allow: httpcore.ConnectionPool(
                ssl_context=ssl_context,
                network_backend=_CheckedBackend(resolver, None if allow else is_private),
                max_connections=MAX_CONNECTIONS,
                max_keepalive_connections=MAX_CONNECTIONS,
                keepalive_expiry=30.0,
            )
            for allow in (False, True)
        }

    def check_url(self, url: str) -> str:
        """``url`` stripped, if chatdf may fetch it at all (the address is checked on connect).

        Raises
        ------
        EgressError
            ``scheme`` for anything but http(s), ``invalid_url`` for a bad host
            or port, ``credentials`` for a user name or password in the URL.
        """
        return _parse(url)[0]

    def open(
        self,
        method: str,
        url: str,
        *,
        allow_private: bool,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> EgressResponse:
        """Send ``method`` to ``url``, following redirects, and return the streamed response.

        Parameters
        ----------
        method
            ``HEAD`` or ``GET``.
        url
            The URL as given.
        allow_private
            Skip the address check (the user's ``CHATDF_ALLOW_PRIVATE_URLS``).
        headers
            Sent on every hop (e.g. ``Range``).
        timeout
            Seconds for connecting and for each read; default ``self.timeout``.

        Raises
        ------
        EgressError
            A refused URL, address or redirect; a timeout or network failure.
        """
        seconds = self.timeout if timeout is None else timeout
        current = url
        for _hop in range(self.max_redirects + 1):
            response = self._send(method, current, allow_private, headers or {}, seconds)
            location = response.header("location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response
            response.close()
            current = urljoin(current, location.strip())
        raise EgressError(
            f"Could not access URL: more than {self.max_redirects} redirects.",
            "too_many_redirects",
            url=url,
        )

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()

    def _send(
        self,
        method: str,
        url: str,
        allow_private: bool,
        headers: dict[str, str],
        timeout: float,
    ) -> EgressResponse:
        checked, parsed = _parse(url)
        request_headers = [
            ("Host", _host_header(parsed)),
            ("User-Agent", "chatdf"),
            ("Accept-Encoding", "identity"),  # byte ranges of the file itself
            *headers.items(),
        ]
        request = httpcore.Request(
            method,
            httpcore.URL(
                scheme=parsed.raw_scheme,
                host=parsed.raw_host,
                port=parsed.port,
                target=parsed.raw_path,
            ),
            headers=request_headers,
            extensions={"timeout": dict.fromkeys(("connect", "read", "write", "pool"), timeout)},
        )
        with _translated(checked, timeout):
            response = self._pools[allow_private].handle_request(request)
        return EgressResponse(response, checked, timeout)


def _parse(url: str) -> tuple[str, httpx.URL]:
    """Check the syntax of ``url``; the URL stripped and parsed (by the parser that sends it)."""
    text = url.strip()
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise EgressError(f"Invalid URL format: {exc}.", "invalid_url", url=text) from None
    scheme = parsed.scheme
    if scheme not in ALLOWED_SCHEMES:
        shown = f"{scheme}:" if scheme else "no scheme"
        raise EgressError(
            f"Invalid URL format: only http:// and https:// URLs can be loaded ({shown} given).",
            "scheme",
            url=text,
        )
    if parsed.userinfo:
        raise EgressError(
            "Invalid URL format: URLs with a user name or password are not accepted "
            "(they would be stored in the history and shown to the model).",
            "credentials",
            url=_without_userinfo(parsed),
        )
    host = parsed.raw_host.decode("ascii")
    if not _valid_host(host) or (parsed.port is not None and not 0 < parsed.port < 65536):
        raise EgressError(
            f"Invalid URL format: {text!r} has no valid host.", "invalid_url", url=text
        )
    return text, parsed


def _valid_host(host: str) -> bool:
    if not host:
        return False
    try:
        return "%" not in host and ipaddress.ip_address(host) is not None  # zones refused
    except ValueError:
        pass
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    return len(host) <= 253 and all(_LABEL.match(label) for label in labels)


def _host_header(parsed: httpx.URL) -> str:
    host = parsed.raw_host.decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    return host if parsed.port is None else f"{host}:{parsed.port}"


def _without_userinfo(parsed: httpx.URL) -> str:
    return str(parsed.copy_with(username=None, password=None))


@contextlib.contextmanager
def _translated(url: str, timeout: float) -> Iterator[None]:
    """Turn httpcore's exceptions into :class:`EgressError` (``timeout``, ``connection``)."""
    try:
        yield
    except EgressError as exc:
        exc.details.setdefault("url", url)
        raise
    except httpcore.TimeoutException:
        raise EgressError(
            f"Could not access URL: no response within {timeout:g} s: {url}", "timeout", url=url
        ) from None
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
        text = str(exc) or type(exc).__name__
        raise EgressError(f"Could not access URL: {text}: {url}", "connection", url=url) from None


__all__ = [
    "ALLOW_PRIVATE_HINT",
    "DEFAULT_TIMEOUT",
    "MAX_REDIRECTS",
    "AddressCheck",
    "Egress",
    "EgressError",
    "EgressResponse",
    "IPAddress",
    "Resolver",
    "address_kind",
    "is_private_address",
    "is_url",
    "resolve",
]

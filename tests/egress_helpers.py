"""A "public" and a "private" local server, for tests of the egress path.

Linux routes all of 127/8 to loopback. The egress path takes its address
classifier as a parameter, so tests pass :func:`public_127_0_0_2`: the
server on 127.0.0.2 counts as the public internet, every other address is
judged by the real rules (127.0.0.1 stays loopback). Production code has no
switch for this. :class:`RebindingResolver` plays a DNS server that answers
a name with the public address first and a private one afterwards.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator
from pathlib import Path

from chatdf.net.egress import IPAddress, is_private_address, resolve
from tests.http_server import LocalHTTPServer

PUBLIC_IP = ipaddress.ip_address("127.0.0.2")
PRIVATE_IP = ipaddress.ip_address("127.0.0.1")
REBINDING_HOST = "rebind.test"


def public_127_0_0_2(ip: IPAddress) -> bool:
    """The classifier tests inject: 127.0.0.2 is public, the rest as in production."""
    return ip != PUBLIC_IP and is_private_address(ip)


class RebindingResolver:
    """Resolves :data:`REBINDING_HOST` to the public address ``public_answers`` times,
    then to the private one; any other name as the system does."""

    def __init__(self, public_answers: int = 1) -> None:
        self.public_answers = public_answers
        self.lookups = 0

    def rebind(self) -> None:
        """From now on the name points at the private address."""
        self.public_answers = self.lookups

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        if host != REBINDING_HOST:
            return resolve(host, port)
        self.lookups += 1
        return [PUBLIC_IP if self.lookups <= self.public_answers else PRIVATE_IP]


@contextlib.contextmanager
def public_and_private(
    public_root: Path, private_root: Path
) -> Iterator[tuple[LocalHTTPServer, LocalHTTPServer]]:
    """Servers on 127.0.0.2 (public) and 127.0.0.1 (private), on the same port, so
    that :data:`REBINDING_HOST` at that port reaches either."""
    for _attempt in range(20):
        private = LocalHTTPServer(private_root)
        try:
            public = LocalHTTPServer(public_root, host=str(PUBLIC_IP), port=private.port)
        except OSError:  # the port is taken on 127.0.0.2: try another
            private._httpd.server_close()
            continue
        break
    else:  # pragma: no cover - 20 taken ports in a row
        raise RuntimeError("no port free on both 127.0.0.1 and 127.0.0.2")
    with private, public:
        yield public, private

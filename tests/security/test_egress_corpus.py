"""Hostile URLs against the one egress path: at add time, at query time, in lazy exports.

Two real local servers share one port: 127.0.0.2 plays the public internet
(through the address classifier injected into ``Egress``), 127.0.0.1 a
private server holding a secret. Datasets are added as the model adds them
(``allow_private=False``) and queried by real worker processes. After every
refusal the session still loads and queries a good URL, and the private
server has never been asked for anything.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import polars as pl
import pytest
import pytest_asyncio

from chatdf.datasets import DatasetRegistry
from chatdf.engine import Engine
from chatdf.errors import DatasetError, QueryError
from chatdf.export import lazy_result
from chatdf.net.egress import Egress, IPAddress, resolve
from chatdf.settings import load_settings
from tests.egress_helpers import (
    REBINDING_HOST,
    RebindingResolver,
    public_127_0_0_2,
    public_and_private,
)
from tests.http_server import LocalHTTPServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET = "PRIVATE-SECRET-7f3a"
METADATA = "http://169.254.169.254/latest/meta-data/"


HOSTILE_DNS = {
    "loopback.test": ["127.0.0.1"],
    "metadata.test": ["169.254.169.254"],
    "private.test": ["10.0.0.7"],
    "mixed.test": ["127.0.0.2", "127.0.0.1"],
}


def hostile_dns(host: str, port: int) -> list[IPAddress]:
    """Names a hostile DNS server answers; every other name as the system does."""
    if host in HOSTILE_DNS:
        return [ipaddress.ip_address(a) for a in HOSTILE_DNS[host]]
    return resolve(host, port)


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    public = tmp_path_factory.mktemp("public")
    private = tmp_path_factory.mktemp("private")
    pl.DataFrame({"v": ["public"], "n": [1]}).write_parquet(public / "data.parquet")
    pl.DataFrame({"v": ["public"], "n": [1]}).write_parquet(public / "later.parquet")
    pl.DataFrame({"v": [SECRET], "n": [2]}).write_parquet(private / "data.parquet")
    return public, private


@pytest.fixture(scope="module")
def servers(roots: tuple[Path, Path]) -> Iterator[tuple[LocalHTTPServer, LocalHTTPServer]]:
    with public_and_private(*roots) as (public, private):
        port = private.port
        local = f"http://127.0.0.1:{port}/data.parquet"
        public.redirects.update(
            {
                "/to-private": local,
                "/to-metadata": METADATA,
                "/to-file": "file:///etc/passwd",
                "/to-localhost": f"http://localhost:{port}/data.parquet",
                "/to-decimal": f"http://2130706433:{port}/data.parquet",
                "/to-ipv6-loopback": f"http://[::1]:{port}/data.parquet",
                "/to-mapped": f"http://[::ffff:127.0.0.1]:{port}/data.parquet",
                "/to-credentials": f"http://user:pw@127.0.0.2:{port}/data.parquet",
                "/to-fake-name": f"http://loopback.test:{port}/data.parquet",
                "/loop": "/loop",
                **{f"/hop{i}": f"/hop{i + 1}" for i in range(1, 7)},
                "/hop7": "/data.parquet",
            }
        )
        # The probe sees a parquet file; only Polars' footer read is sent elsewhere.
        public.redirect("/footer-to-private", local, range_prefix="bytes=-")
        (roots[0] / "footer-to-private").write_bytes((roots[0] / "data.parquet").read_bytes())
        yield public, private


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(
    servers: tuple[LocalHTTPServer, LocalHTTPServer], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[DatasetRegistry, Engine]]:
    workdir = tmp_path_factory.mktemp("session")
    settings = load_settings(workers=1, max_datasets=5, allow_private_urls=False)
    egress = Egress(is_private=public_127_0_0_2, resolver=hostile_dns, timeout=2.0)
    registry = DatasetRegistry(
        settings, workdir, head_timeout=2.0, schema_timeout=10.0, egress=egress
    )
    engine = Engine(settings, workdir)
    yield registry, engine
    await engine.close()
    registry.close()


@pytest.fixture(autouse=True)
def _fresh_logs(servers: tuple[LocalHTTPServer, LocalHTTPServer]) -> Iterator[None]:
    for server in servers:
        server.requests.clear()
    yield
    assert servers[1].requests == [], "the private server was contacted"


async def still_usable(registry: DatasetRegistry, engine: Engine, public: LocalHTTPServer) -> None:
    """The session loads and queries a good public URL after a refusal."""
    dataset = await registry.add(public.url("later.parquet"), "good", allow_private=False)
    try:
        result = await engine.run("SELECT v, n FROM good", registry.tables())
        assert result.data.to_dicts() == [{"v": "public", "n": 1}]
    finally:
        registry.remove(dataset.name)


# (id, URL, reason): {port} is the servers' port, {public} the public server's origin.
CORPUS: list[tuple[str, str, str]] = [
    ("loopback", "http://127.0.0.1:{port}/data.parquet", "private_address"),
    ("loopback-https", "https://127.0.0.1:{port}/data.parquet", "private_address"),
    ("loopback-other", "http://127.0.0.9:{port}/data.parquet", "private_address"),
    ("localhost", "http://localhost:{port}/data.parquet", "private_address"),
    # Offline, "localhost." may not resolve at all; either way it is not fetched.
    ("localhost-dot", "http://localhost.:{port}/data.parquet", "private_address|unresolvable"),
    ("decimal", "http://2130706433:{port}/data.parquet", "private_address"),
    ("hex", "http://0x7f.1:{port}/data.parquet", "private_address"),
    ("hex-whole", "http://0x7f000001:{port}/data.parquet", "private_address"),
    ("short", "http://127.1:{port}/data.parquet", "private_address"),
    ("octal", "http://0177.0.0.1:{port}/data.parquet", "invalid_url"),
    ("zero", "http://0:{port}/data.parquet", "private_address"),
    ("unspecified", "http://0.0.0.0:{port}/data.parquet", "private_address"),
    ("ipv6-loopback", "http://[::1]:{port}/data.parquet", "private_address"),
    ("ipv6-unspecified", "http://[::]:{port}/data.parquet", "private_address"),
    ("ipv4-mapped", "http://[::ffff:127.0.0.1]:{port}/data.parquet", "private_address"),
    ("ipv4-mapped-hex", "http://[::ffff:7f00:1]:{port}/data.parquet", "private_address"),
    ("ipv4-mapped-long", "http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/x", "private_address"),
    ("mapped-metadata", "http://[::ffff:169.254.169.254]/latest/", "private_address"),
    ("metadata", METADATA, "private_address"),
    ("link-local-v6", "http://[fe80::1]/data.parquet", "private_address"),
    ("zone-id", "http://[fe80::1%25lo]/data.parquet", "invalid_url"),
    ("private-10", "http://10.0.0.1/data.parquet", "private_address"),
    ("private-192", "http://192.168.0.1/data.parquet", "private_address"),
    ("private-172", "http://172.16.0.1/data.parquet", "private_address"),
    ("cgnat", "http://100.64.0.1/data.parquet", "private_address"),
    ("multicast", "http://224.0.0.1/data.parquet", "private_address"),
    ("multicast-v6", "http://[ff02::1]/data.parquet", "private_address"),
    ("name-to-loopback", "http://loopback.test:{port}/data.parquet", "private_address"),
    ("name-to-metadata", "http://metadata.test/latest/meta-data/", "private_address"),
    ("name-to-private", "http://private.test/data.parquet", "private_address"),
    ("name-public-and-private", "http://mixed.test:{port}/data.parquet", "private_address"),
    ("userinfo", "http://public@127.0.0.1:{port}/data.parquet", "credentials"),
    ("userinfo-public", "http://127.0.0.2:{port}@127.0.0.1:{port}/data.parquet", "credentials"),
    ("backslash", "http://127.0.0.2:{port}\\@127.0.0.1:{port}/data.parquet", "credentials"),
    ("password", "http://user:secret@{public}/data.parquet", "credentials"),
    ("file", "file:///etc/passwd", "scheme"),
    ("ftp", "ftp://127.0.0.2/data.parquet", "scheme"),
    ("gopher", "gopher://127.0.0.1:{port}/_GET%20/", "scheme"),
    ("dict", "dict://127.0.0.1:11211/stat", "scheme"),
    ("scheme-relative", "//127.0.0.1:{port}/data.parquet", "scheme"),
    ("redirect-private", "{public}/to-private", "private_address"),
    ("redirect-metadata", "{public}/to-metadata", "private_address"),
    ("redirect-localhost", "{public}/to-localhost", "private_address"),
    ("redirect-decimal", "{public}/to-decimal", "private_address"),
    ("redirect-ipv6", "{public}/to-ipv6-loopback", "private_address"),
    ("redirect-mapped", "{public}/to-mapped", "private_address"),
    ("redirect-name", "{public}/to-fake-name", "private_address"),
    ("redirect-file", "{public}/to-file", "scheme"),
    ("redirect-credentials", "{public}/to-credentials", "credentials"),
    ("redirect-loop", "{public}/loop", "too_many_redirects"),
    ("six-redirects", "{public}/hop1", "too_many_redirects"),
    ("footer-redirect", "{public}/footer-to-private", "private_address"),
]


@pytest.mark.parametrize(("url", "reason"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
async def test_a_hostile_url_is_refused_and_the_session_goes_on(
    session: tuple[DatasetRegistry, Engine],
    servers: tuple[LocalHTTPServer, LocalHTTPServer],
    url: str,
    reason: str,
) -> None:
    registry, engine = session
    public, _private = servers
    hostile = url.format(port=public.port, public=f"http://127.0.0.2:{public.port}")
    with pytest.raises(DatasetError) as info:
        await registry.add(hostile, allow_private=False, urls_only=True)  # as the model does
    assert info.value.details["reason"] in reason.split("|")
    assert info.value.message.startswith(("Refused", "Invalid URL format", "Could not access URL"))
    assert registry.datasets == []
    await still_usable(registry, engine, public)


async def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 25
    assert len({c[0] for c in CORPUS}) == len(CORPUS)


# -- after the dataset was added ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://127.0.0.1:{port}/data.parquet", "private_address"),
        ("http://localhost:{port}/data.parquet", "private_address"),
        (METADATA, "private_address"),
        ("file:///etc/passwd", "scheme"),
        ("/later.parquet/loop", "too_many_redirects"),
    ],
    ids=["private", "localhost", "metadata", "file", "loop"],
)
async def test_a_host_that_starts_redirecting_is_refused_at_query_time(
    session: tuple[DatasetRegistry, Engine],
    servers: tuple[LocalHTTPServer, LocalHTTPServer],
    target: str,
    reason: str,
) -> None:
    registry, engine = session
    public, _private = servers
    dataset = await registry.add(public.url("later.parquet"), "moving", allow_private=False)
    try:
        target = target.format(port=public.port)
        public.redirects["/later.parquet"] = target
        if target.endswith("/loop"):
            public.redirects[target] = target
        with pytest.raises(QueryError) as info:
            await engine.run("SELECT v FROM moving", registry.tables())
        assert info.value.error_type == "network"
        assert info.value.details["reason"] == reason
        assert info.value.details["tables"] == ["moving"]
        assert SECRET not in info.value.message
        # The proxy's secret path is not shown to the user or the model.
        location = registry.tables()["moving"].location
        assert location.split("/")[3] not in info.value.message
    finally:
        public.redirects.pop("/later.parquet", None)
        registry.remove(dataset.name)
    await still_usable(registry, engine, public)


async def test_a_lazy_export_cannot_follow_the_redirect_either(
    session: tuple[DatasetRegistry, Engine], servers: tuple[LocalHTTPServer, LocalHTTPServer]
) -> None:
    registry, engine = session
    public, private = servers
    dataset = await registry.add(public.url("later.parquet"), "exported", allow_private=False)
    try:
        result = await engine.run("SELECT v, n FROM exported", registry.tables())
        lazy = lazy_result(result, registry.provenance)
        assert lazy.collect().to_dicts() == [{"v": "public", "n": 1}]
        public.redirects["/later.parquet"] = private.url("data.parquet")
        with pytest.raises(Exception, match="private, loopback") as info:
            lazy.collect()
        assert SECRET not in str(info.value)
    finally:
        public.redirects.pop("/later.parquet", None)
        registry.remove(dataset.name)


async def test_dns_rebinding_is_refused_when_adding(
    servers: tuple[LocalHTTPServer, LocalHTTPServer], tmp_path: Path
) -> None:
    public, _private = servers
    public.keep_alive = False  # each request a new connection, so a new lookup
    resolver = RebindingResolver(public_answers=1)  # the HEAD's lookup says public
    egress = Egress(is_private=public_127_0_0_2, resolver=resolver, timeout=2.0)
    registry = DatasetRegistry(load_settings(), tmp_path, head_timeout=2.0, egress=egress)
    try:
        with pytest.raises(DatasetError, match=r"rebind\.test \(127\.0\.0\.1\)") as info:
            await registry.add(public.url("data.parquet", host=REBINDING_HOST))
        assert info.value.details["reason"] == "private_address"
        assert [r.method for r in public.requests] == ["HEAD"]
    finally:
        public.keep_alive = True
        registry.close()


async def test_dns_rebinding_after_adding_is_refused_at_query_time(
    servers: tuple[LocalHTTPServer, LocalHTTPServer], tmp_path: Path
) -> None:
    public, _private = servers
    public.keep_alive = False  # each request a new connection, so a new lookup
    resolver = RebindingResolver(public_answers=1_000)
    egress = Egress(is_private=public_127_0_0_2, resolver=resolver, timeout=2.0)
    settings = load_settings(workers=1)
    registry = DatasetRegistry(settings, tmp_path, head_timeout=2.0, egress=egress)
    engine = Engine(settings, tmp_path)
    try:
        await registry.add(public.url("data.parquet", host=REBINDING_HOST), "rebound")
        first = await engine.run("SELECT v FROM rebound", registry.tables())
        assert first.data["v"].to_list() == ["public"]
        resolver.rebind()  # the name now points at the private server, same port
        with pytest.raises(QueryError) as info:
            await engine.run("SELECT v FROM rebound", registry.tables())
        assert info.value.error_type == "network"
        assert info.value.details["reason"] == "private_address"
        assert "rebind.test (127.0.0.1)" in info.value.message
    finally:
        public.keep_alive = True
        await engine.close()
        registry.close()

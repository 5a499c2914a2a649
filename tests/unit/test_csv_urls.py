"""CSV and TSV by URL through the guarded egress path: added, counted, queried, exported.

A real server on 127.0.0.2 plays the public internet (the address classifier
injected into ``Egress``), one on 127.0.0.1 a private server holding a secret.
Datasets are added as the model adds them (``allow_private=False``) and queried
by real worker processes.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import polars as pl
import pytest
import pytest_asyncio
from polars.testing import assert_frame_equal

from chatdf import ChatDF
from chatdf.datasets import DOWNLOAD_LIMIT, DatasetRegistry
from chatdf.engine import Engine
from chatdf.errors import DatasetError, QueryError
from chatdf.export import code_for, lazy_result
from chatdf.net.egress import Egress
from chatdf.settings import Settings, load_settings
from tests.egress_helpers import public_127_0_0_2
from tests.fake_gemini import TEST_API_KEY, FakeGemini, function_call, text_chunks
from tests.http_server import LocalHTTPServer

SECRET = "PRIVATE-SECRET-5c1e"
ROWS = 60_000  # about 2 MB of CSV: more than the sniffed prefix
PREFIX = 1 << 20  # bytes read to sniff the format (chatdf.datasets.csvsniff.PREFIX_BYTES)


def sales_frame(rows: int = ROWS) -> pl.DataFrame:
    notes = ["plain", "a, b and c", 'say "hi"', "two\nlines", ""]
    return pl.DataFrame(
        {
            "id": range(rows),
            "city": [("Oslo", "Lima", "Pune")[i % 3] for i in range(rows)],
            "price": [round(i * 0.25, 2) for i in range(rows)],
            "ok": [i % 2 == 0 for i in range(rows)],
            "note": [notes[i % len(notes)] for i in range(rows)],
        }
    )


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return sales_frame()


@pytest.fixture(scope="module")
def public_root(tmp_path_factory: pytest.TempPathFactory, frame: pl.DataFrame) -> Path:
    root = tmp_path_factory.mktemp("public")
    frame.write_csv(root / "sales.csv")
    frame.write_csv(root / "sales.tsv", separator="\t")
    frame.write_csv(root / "semicolons.csv", separator=";")
    (root / "sales.csv.gz").write_bytes(gzip.compress((root / "sales.csv").read_bytes()))
    frame.write_csv(root / "export")  # no extension
    frame.write_parquet(root / "download")  # no extension, parquet by its content
    frame.head(3).write_csv(root / "small.csv")
    frame.write_csv(root / "plain.csv")  # served without byte ranges
    (root / "page").write_text("<!DOCTYPE html>\n<html><body>Please sign in</body></html>\n")
    (root / "login.csv").write_text("<!doctype html>\n<html><head><title>Login</title></html>\n")
    (root / "big.csv").write_bytes((root / "sales.csv").read_bytes() * 2)
    return root


@pytest.fixture(scope="module")
def private_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("private")
    (root / "secret.csv").write_text(f"secret\n{SECRET}\n")
    return root


@pytest.fixture
def public(public_root: Path) -> Iterator[LocalHTTPServer]:
    with LocalHTTPServer(public_root, host="127.0.0.2") as server:
        server.content_types["/export"] = "text/csv; charset=utf-8"
        server.content_types["/page"] = "text/html; charset=utf-8"
        server.no_range.add("/plain.csv")
        yield server


@pytest.fixture
def private(private_root: Path) -> Iterator[LocalHTTPServer]:
    with LocalHTTPServer(private_root) as server:
        yield server
        assert server.requests == [], "the private server was contacted"


def make_registry(
    workdir: Path, *, download_limit: int = DOWNLOAD_LIMIT, **settings: object
) -> DatasetRegistry:
    egress = Egress(is_private=public_127_0_0_2, timeout=5.0)
    config = load_settings(workers=1, **settings)
    return DatasetRegistry(
        config,
        workdir,
        head_timeout=5.0,
        schema_timeout=20.0,
        download_limit=download_limit,
        egress=egress,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "session"


@pytest.fixture
def registry(workdir: Path) -> Iterator[DatasetRegistry]:
    registry = make_registry(workdir)
    yield registry
    registry.close()


@pytest_asyncio.fixture
async def engine(workdir: Path) -> AsyncIterator[Engine]:
    settings: Settings = load_settings(workers=1)
    engine = Engine(settings, workdir)
    yield engine
    await engine.close()


def friendly(registry: DatasetRegistry, name: str) -> dict[str, str]:
    return {c.name: c.friendly for c in registry.get(name).columns}


SALES_TYPES = {
    "id": "Integer",
    "city": "Text",
    "price": "Decimal",
    "ok": "Boolean",
    "note": "Text",
}
BY_CITY = "SELECT city, count(*) AS n, sum(price) AS total FROM {t} GROUP BY city ORDER BY city"


def by_city(frame: pl.DataFrame) -> pl.DataFrame:
    return (
        frame.group_by("city")
        .agg(pl.len().cast(pl.UInt32).alias("n"), pl.col("price").sum().alias("total"))
        .sort("city")
    )


async def still_usable(registry: DatasetRegistry, engine: Engine, public: LocalHTTPServer) -> None:
    """After a refusal the session adds and queries a good CSV URL."""
    dataset = await registry.add(public.url("small.csv"), "good", allow_private=False)
    try:
        result = await engine.run("SELECT count(*) AS n FROM good", registry.tables())
        assert result.data.item() == 3
    finally:
        registry.remove(dataset.name)


# -- adding and querying -------------------------------------------------------------------


async def test_a_csv_url_is_sniffed_counted_and_kept_in_one_download(
    registry: DatasetRegistry,
    engine: Engine,
    public: LocalHTTPServer,
    frame: pl.DataFrame,
    workdir: Path,
) -> None:
    url = public.url("sales.csv")
    dataset = await registry.add(url, allow_private=False)  # as the model adds it

    assert (dataset.name, dataset.kind, dataset.source) == ("sales", "url", url)
    assert (dataset.row_count, dataset.column_count) == (ROWS, 5)
    assert friendly(registry, "sales") == SALES_TYPES
    # The format came from a bounded prefix, the rows from one streamed GET,
    # which is also the copy the workers scan.
    sent = [(r.method, r.range) for r in public.requests]
    assert sent == [("HEAD", None), ("GET", f"bytes=0-{PREFIX - 1}"), ("GET", None)]
    table = registry.tables()["sales"]
    copy = Path(table.location)
    assert table.kind == "csv" and copy.parent == workdir and copy.is_file()
    source = registry.provenance("sales")
    assert (source.kind, source.location, source.scan_location) == ("url", url, str(copy))

    result = await engine.run(BY_CITY.format(t="sales"), registry.tables())
    assert_frame_equal(result.data, by_city(frame), check_dtypes=False)
    notes = await engine.run("SELECT note FROM sales WHERE id < 5 ORDER BY id", registry.tables())
    assert notes.data["note"].to_list() == frame["note"][:5].to_list()
    assert len(public.requests) == 3  # queries read the copy, not the network
    registry.remove("sales")
    assert not copy.exists()


async def test_a_csv_larger_than_the_cap_is_scanned_through_the_proxy(
    workdir: Path,
    engine: Engine,
    public: LocalHTTPServer,
    private: LocalHTTPServer,
    frame: pl.DataFrame,
) -> None:
    registry = make_registry(workdir, download_limit=PREFIX)
    try:
        dataset = await registry.add(public.url("sales.csv"), allow_private=False)
        assert (dataset.row_count, dataset.column_count) == (ROWS, 5)
        assert friendly(registry, "sales") == SALES_TYPES
        table = registry.tables()["sales"]
        assert table.kind == "url" and table.location.startswith("http://127.0.0.1:")
        assert public.url() not in table.location  # workers scan the proxy, never the host
        assert list(workdir.glob("*.csv")) == []  # the copy was dropped past the cap
        result = await engine.run(BY_CITY.format(t="sales"), registry.tables())
        assert_frame_equal(result.data, by_city(frame), check_dtypes=False)
        # Every query fetches through the egress again: a host that starts
        # redirecting to a private address is refused at query time.
        public.redirects["/sales.csv"] = private.url("secret.csv")
        with pytest.raises(QueryError) as info:
            await engine.run("SELECT count(*) FROM sales", registry.tables())
        assert info.value.error_type == "network"
        assert info.value.details["reason"] == "private_address"
        assert SECRET not in info.value.message
    finally:
        public.redirects.pop("/sales.csv", None)
        registry.close()


async def test_a_tsv_url_with_commas_in_its_cells(
    registry: DatasetRegistry, engine: Engine, public: LocalHTTPServer, frame: pl.DataFrame
) -> None:
    dataset = await registry.add(public.url("sales.tsv"), allow_private=False)
    assert (dataset.row_count, dataset.column_count) == (ROWS, 5)
    assert friendly(registry, "sales") == SALES_TYPES
    result = await engine.run(BY_CITY.format(t="sales"), registry.tables())
    assert_frame_equal(result.data, by_city(frame), check_dtypes=False)
    comma = await engine.run("SELECT note FROM sales WHERE id = 1", registry.tables())
    assert comma.data.item() == "a, b and c"


async def test_a_semicolon_separated_url(
    registry: DatasetRegistry, engine: Engine, public: LocalHTTPServer
) -> None:
    dataset = await registry.add(public.url("semicolons.csv"), allow_private=False)
    assert dataset.column_count == 5 and dataset.row_count == ROWS


async def test_urls_without_an_extension_are_sniffed(
    registry: DatasetRegistry, engine: Engine, public: LocalHTTPServer, frame: pl.DataFrame
) -> None:
    csv = await registry.add(public.url("export"), allow_private=False)
    parquet = await registry.add(public.url("download"), allow_private=False)
    assert (csv.row_count, parquet.row_count) == (ROWS, ROWS)
    assert friendly(registry, "export") == SALES_TYPES
    query = "SELECT count(*) AS n FROM export JOIN download USING (id) WHERE export.ok"
    result = await engine.run(query, registry.tables())
    assert result.data.item() == frame["ok"].sum()


async def test_a_gzip_csv_url(
    registry: DatasetRegistry, engine: Engine, public: LocalHTTPServer, frame: pl.DataFrame
) -> None:
    dataset = await registry.add(public.url("sales.csv.gz"), allow_private=False)
    assert (dataset.name, dataset.row_count) == ("sales", ROWS)
    assert friendly(registry, "sales") == SALES_TYPES
    result = await engine.run(BY_CITY.format(t="sales"), registry.tables())
    assert_frame_equal(result.data, by_city(frame), check_dtypes=False)


async def test_a_server_without_byte_ranges_is_read_from_one_download(
    registry: DatasetRegistry,
    engine: Engine,
    public: LocalHTTPServer,
    frame: pl.DataFrame,
    workdir: Path,
) -> None:
    url = public.url("plain.csv")
    dataset = await registry.add(url, allow_private=False)
    assert (dataset.kind, dataset.source, dataset.row_count) == ("url", url, ROWS)
    table = registry.tables()["plain"]
    assert table.kind == "csv" and Path(table.location).parent == workdir
    gets = [r for r in public.requests if r.method == "GET"]
    assert len(gets) == 2  # the prefix, then the whole body once
    result = await engine.run(BY_CITY.format(t="plain"), registry.tables())
    assert_frame_equal(result.data, by_city(frame), check_dtypes=False)


async def test_without_byte_ranges_a_file_larger_than_the_cap_is_refused(
    public: LocalHTTPServer, workdir: Path
) -> None:
    registry = make_registry(workdir, download_limit=100_000)
    try:
        with pytest.raises(DatasetError) as info:
            await registry.add(public.url("plain.csv"), allow_private=False)
        assert info.value.details["reason"] == "too_large"
        assert "byte ranges" in info.value.message
        assert registry.datasets == [] and list(workdir.glob("*")) == []
    finally:
        registry.close()


async def test_refresh_rereads_a_changed_csv_url(
    registry: DatasetRegistry, public: LocalHTTPServer, public_root: Path
) -> None:
    path = public_root / "changing.csv"
    path.write_text("a,b\n1,2\n")
    try:
        await registry.add(public.url("changing.csv"), allow_private=False)
        path.write_text("a,b,c\n1,2,x\n3,4,y\n")
        refreshed = await registry.refresh("changing")
        assert (refreshed.row_count, refreshed.column_count) == (2, 3)
    finally:
        path.unlink()


# -- refusals ------------------------------------------------------------------------------


async def test_a_redirect_to_a_private_address_while_counting_is_refused(
    registry: DatasetRegistry,
    engine: Engine,
    public: LocalHTTPServer,
    private: LocalHTTPServer,
) -> None:
    # The probe sees a CSV; only the whole-body GET that counts the rows is redirected.
    public.redirect("/sales.csv", private.url("secret.csv"), range_prefix=None)
    with pytest.raises(DatasetError) as info:
        await registry.add(public.url("sales.csv"), allow_private=False)
    assert info.value.details["reason"] == "private_address"
    assert SECRET not in info.value.message
    assert registry.datasets == []
    await still_usable(registry, engine, public)


@pytest.mark.parametrize("path", ["page", "login.csv"])
async def test_a_web_page_is_not_a_csv(
    registry: DatasetRegistry, engine: Engine, public: LocalHTTPServer, path: str
) -> None:
    with pytest.raises(DatasetError) as info:
        await registry.add(public.url(path), allow_private=False)
    assert info.value.details["reason"] == "not_csv"
    assert "web page" in info.value.message
    assert [r.method for r in public.requests] == ["HEAD", "GET"]  # judged on the prefix
    await still_usable(registry, engine, public)


async def test_an_empty_file_has_no_header(
    registry: DatasetRegistry, public: LocalHTTPServer, public_root: Path
) -> None:
    (public_root / "empty.csv").write_bytes(b"")
    with pytest.raises(DatasetError) as info:
        await registry.add(public.url("empty.csv"), allow_private=False)
    assert info.value.details["reason"] == "empty"
    assert "header" in info.value.message


async def test_a_parquet_name_on_a_csv_is_still_not_parquet(
    registry: DatasetRegistry, public: LocalHTTPServer, public_root: Path
) -> None:
    (public_root / "wrong.parquet").write_text("a,b\n1,2\n")
    with pytest.raises(DatasetError) as info:
        await registry.add(public.url("wrong.parquet"), allow_private=False)
    assert info.value.details["reason"] == "not_parquet"


@pytest.mark.slow
async def test_an_endless_body_hits_the_query_timeout_and_the_session_goes_on(
    workdir: Path, engine: Engine, public: LocalHTTPServer
) -> None:
    public.endless["/endless.csv"] = (b"a,b\n", b"1,2\n")
    registry = make_registry(workdir, query_timeout=1.5)
    try:
        started = time.perf_counter()
        with pytest.raises(DatasetError) as info:
            await registry.add(public.url("endless.csv"), allow_private=False)
        elapsed = time.perf_counter() - started
        assert info.value.details["reason"] == "timeout"
        assert "CHATDF_QUERY_TIMEOUT" in info.value.message
        assert elapsed < 4.0
        # The count stops reading: the server sees its client leave.
        for _ in range(100):
            if public.streaming == 0:
                break
            await asyncio.sleep(0.05)
        assert public.streaming == 0
        assert registry.datasets == []
        await still_usable(registry, engine, public)
    finally:
        registry.close()


@pytest.mark.slow
async def test_a_stalled_body_hits_the_query_timeout(
    workdir: Path, engine: Engine, public: LocalHTTPServer
) -> None:
    public.stall("/big.csv", after=2 * PREFIX)
    registry = make_registry(workdir, query_timeout=1.5)
    try:
        started = time.perf_counter()
        with pytest.raises(DatasetError) as info:
            await registry.add(public.url("big.csv"), allow_private=False)
        assert info.value.details["reason"] == "timeout"
        assert time.perf_counter() - started < 4.0
        await still_usable(registry, engine, public)
    finally:
        registry.close()


# -- exports and code ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "download_limit"),
    [
        ("sales.tsv", DOWNLOAD_LIMIT),  # a copy
        ("plain.csv", DOWNLOAD_LIMIT),  # a copy; the server sends no byte ranges
        ("sales.csv.gz", DOWNLOAD_LIMIT),
        ("sales.tsv", PREFIX),  # through the egress proxy
    ],
    ids=["tsv", "no-ranges", "gzip", "proxy"],
)
async def test_lazy_exports_and_code_read_the_csv_url(
    workdir: Path, engine: Engine, public: LocalHTTPServer, path: str, download_limit: int
) -> None:
    registry = make_registry(workdir, download_limit=download_limit)
    try:
        await check_exports(registry, engine, public, path)
    finally:
        registry.close()


async def check_exports(
    registry: DatasetRegistry, engine: Engine, public: LocalHTTPServer, path: str
) -> None:
    dataset = await registry.add(public.url(path), "sales", allow_private=False)
    result = await engine.run(BY_CITY.format(t=dataset.name), registry.tables())

    lazy = lazy_result(result, registry.provenance)
    assert_frame_equal(lazy.collect(), result.data)

    code = code_for(result, registry.provenance)
    assert public.url(path) in code  # the real URL: the code runs without chatdf
    if path.endswith(".tsv"):
        assert "separator='\\t'" in code
    namespace: dict[str, object] = {}
    exec(code, namespace)
    assert_frame_equal(namespace["result"], result.data)  # type: ignore[arg-type]


# -- through ChatDF: chat.add and the model's load_dataset tool ---------------------------------


@pytest.fixture
def chat(fake_gemini: FakeGemini) -> Iterator[ChatDF]:
    chat = ChatDF(api_key=TEST_API_KEY, gemini_base_url=fake_gemini.url, workers=1)
    # The one collaborator swapped: an egress that treats 127.0.0.2 as public.
    registry = chat._session.registry
    registry.egress.close()
    registry.egress = Egress(is_private=public_127_0_0_2, timeout=5.0)
    yield chat
    chat.close()


def test_chat_add_reads_a_tsv_url(chat: ChatDF, public: LocalHTTPServer, frame: pl.DataFrame):
    dataset = chat.add(public.url("sales.tsv"))
    assert (dataset.name, dataset.row_count) == ("sales", ROWS)
    got = chat.sql(BY_CITY.format(t="sales"))
    assert_frame_equal(got, by_city(frame), check_dtypes=False)
    assert "separator='\\t'" in chat.code()


def test_the_model_loads_a_csv_url_and_queries_it(
    chat: ChatDF, fake_gemini: FakeGemini, public: LocalHTTPServer, frame: pl.DataFrame
):
    url = public.url("sales.csv")
    fake_gemini.add_stream([function_call("load_dataset", {"url": url})])
    fake_gemini.add_stream(
        [function_call("execute_sql", {"query": "SELECT count(*) AS n FROM sales WHERE ok"})]
    )
    fake_gemini.add_stream(text_chunks("Half of them are ok."))

    answer = chat.ask(f"Load {url} and count the ok rows")

    assert [d.name for d in chat.datasets] == ["sales"]
    loaded = fake_gemini.requests[1].function_responses()[0]["response"]
    assert loaded["name"] == "sales" and loaded["row_count"] == ROWS
    assert answer.result is not None and answer.result.item() == frame["ok"].sum()


def test_the_model_is_told_why_a_web_page_is_not_loaded(
    chat: ChatDF, fake_gemini: FakeGemini, public: LocalHTTPServer
):
    fake_gemini.add_stream([function_call("load_dataset", {"url": public.url("page")})])
    fake_gemini.add_stream(text_chunks("That link is a web page."))

    chat.ask("Load the page")

    refused = fake_gemini.requests[1].function_responses()[0]["response"]
    assert "web page" in refused["message"]
    assert chat.datasets == []

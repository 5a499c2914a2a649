"""The dataset registry: every validation step and message, names, limits, refresh, inputs."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

import chatdf
from chatdf.datasets import DatasetRegistry, name_from_source
from chatdf.errors import DatasetError
from chatdf.settings import Settings, load_settings
from tests.http_server import LocalHTTPServer

IRIS = Path(chatdf.__file__).parent / "data" / "iris.parquet"


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("CHATDF_ALLOW_PRIVATE_URLS", raising=False)
    monkeypatch.delenv("CHATDF_MAX_DATASETS", raising=False)
    return load_settings()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "session"


@pytest.fixture
def registry(settings: Settings, workdir: Path) -> Iterator[DatasetRegistry]:
    reg = DatasetRegistry(settings, workdir, head_timeout=0.5, schema_timeout=1.0)
    yield reg
    reg.close()


def ipc_files(workdir: Path) -> list[Path]:
    return sorted(workdir.glob("*.arrow")) if workdir.exists() else []


def friendly(ds: Any) -> dict[str, str]:
    return {name: col.friendly for name, col in ds.schema.items()}


SAMPLE_TYPES = {
    "id": "Integer",
    "city": "Text",
    "price": "Decimal",
    "day": "Date",
    "seen": "Timestamp",
    "ok": "Boolean",
}


# -- URLs ---------------------------------------------------------------------


async def test_a_parquet_url_is_registered_from_its_footer(
    registry: DatasetRegistry, http_server: LocalHTTPServer
) -> None:
    url = http_server.url("sample.parquet")
    ds = await registry.add(url, allow_private=True)

    assert (ds.name, ds.source, ds.kind) == ("sample", url, "url")
    assert (ds.row_count, ds.column_count) == (5, 6)
    assert friendly(ds) == SAMPLE_TYPES
    assert ds.schema["seen"].dtype.startswith("Datetime")
    table = registry.tables()["sample"]
    # Workers scan the session's egress proxy, never the host itself.
    assert table.kind == "url" and table.location.startswith("http://127.0.0.1:")
    assert http_server.url() not in table.location
    source = registry.provenance("sample")
    assert (source.location, source.scan_location) == (url, table.location)
    # HEAD, the 4 magic bytes, then Polars' footer reads: every GET is ranged,
    # so the row count came from metadata and the file was never downloaded whole.
    methods = [(r.method, r.range) for r in http_server.requests]
    assert methods[:2] == [("HEAD", None), ("GET", "bytes=0-3")]
    assert all(rng for method, rng in methods[1:])


async def test_private_urls_follow_the_setting(
    monkeypatch: pytest.MonkeyPatch, workdir: Path, http_server: LocalHTTPServer
) -> None:
    monkeypatch.setenv("CHATDF_ALLOW_PRIVATE_URLS", "1")
    registry = DatasetRegistry(load_settings(), workdir)
    try:
        ds = await registry.add(http_server.url("sample.parquet"))
        assert ds.row_count == 5
        # The model's tool passes allow_private=False explicitly, whatever the setting says.
        with pytest.raises(DatasetError, match="private"):
            await registry.add(
                http_server.url("sample.parquet", host="localhost"), allow_private=False
            )
    finally:
        registry.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_private_address_is_refused_before_any_request(
    registry: DatasetRegistry, http_server: LocalHTTPServer, host: str
) -> None:
    with pytest.raises(DatasetError) as info:
        await registry.add(http_server.url("sample.parquet", host=host))
    assert "private" in info.value.message
    assert "CHATDF_ALLOW_PRIVATE_URLS=1" in info.value.message
    assert http_server.requests == []
    assert registry.datasets == []


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://127.0.0.1/sample.parquet", "gopher://x/", "s3://b/k.parquet"],
)
async def test_other_schemes_are_invalid(registry: DatasetRegistry, url: str) -> None:
    with pytest.raises(DatasetError, match="Invalid URL format"):
        await registry.add(url, allow_private=True)


async def test_a_file_url_to_a_real_parquet_file_is_still_refused(
    registry: DatasetRegistry, parquet_file: Path
) -> None:
    with pytest.raises(DatasetError, match="Invalid URL format"):
        await registry.add(parquet_file.as_uri(), allow_private=True)


async def test_a_missing_url_cannot_be_accessed(
    registry: DatasetRegistry, http_server: LocalHTTPServer
) -> None:
    with pytest.raises(DatasetError, match=r"Could not access URL \(404 Not Found\)"):
        await registry.add(http_server.url("nope.parquet"), allow_private=True)
    assert [r.method for r in http_server.requests] == ["HEAD"]  # HEAD decided it
    http_server.statuses["/sample.parquet"] = 403
    with pytest.raises(DatasetError, match=r"Could not access URL \(403 Forbidden\)"):
        await registry.add(http_server.url("sample.parquet"), allow_private=True)


async def test_a_closed_port_cannot_be_accessed(registry: DatasetRegistry) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connection refused
        with pytest.raises(DatasetError, match="Could not access URL"):
            await registry.add(f"http://127.0.0.1:{port}/a.parquet", allow_private=True)


async def test_a_slow_head_times_out_without_blocking_the_loop(
    registry: DatasetRegistry, http_server: LocalHTTPServer
) -> None:
    http_server.slow("/sample.parquet", 3.0, method="HEAD")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    beat = asyncio.create_task(ticker())
    started = time.perf_counter()
    with pytest.raises(DatasetError, match=r"Could not access URL: no response within 0\.5 s"):
        await registry.add(http_server.url("sample.parquet"), allow_private=True)
    elapsed = time.perf_counter() - started
    beat.cancel()
    assert elapsed < 2.0
    assert ticks >= 10  # the loop kept running while the HEAD waited
    assert registry.datasets == []


async def test_a_body_without_the_magic_bytes_is_not_parquet(
    registry: DatasetRegistry, http_server: LocalHTTPServer
) -> None:
    with pytest.raises(DatasetError, match=r"Not a valid parquet file: .* magic bytes"):
        await registry.add(http_server.url("not_parquet.parquet"), allow_private=True)
    assert registry.datasets == []
    # Refused on the first 4 bytes: Polars never started reading it.
    assert [(r.method, r.range) for r in http_server.requests] == [
        ("HEAD", None),
        ("GET", "bytes=0-3"),
    ]


async def test_magic_bytes_with_a_broken_footer_are_not_parquet(
    registry: DatasetRegistry, http_server: LocalHTTPServer, http_root: Path
) -> None:
    (http_root / "broken.parquet").write_bytes(b"PAR1" + b"\x00" * 100 + b"PAR1")
    with pytest.raises(DatasetError, match="Not a valid parquet file: could not read the schema"):
        await registry.add(http_server.url("broken.parquet"), allow_private=True)


async def test_a_slow_schema_read_times_out(
    registry: DatasetRegistry, http_server: LocalHTTPServer
) -> None:
    # Only Polars' footer reads (suffix ranges) are slow; HEAD and the magic bytes are not.
    http_server.slow("/sample.parquet", 1.5, range_prefix="bytes=-")
    with pytest.raises(DatasetError, match=r"Could not read the parquet schema within 1 s"):
        await registry.add(http_server.url("sample.parquet"), allow_private=True)
    assert registry.datasets == []


async def test_redirects_are_followed_when_allowed(
    registry: DatasetRegistry, http_server: LocalHTTPServer
) -> None:
    http_server.redirects["/latest.parquet"] = "/v2/data.parquet"
    http_server.redirects["/v2/data.parquet"] = http_server.url("sample.parquet")
    url = http_server.url("latest.parquet")
    ds = await registry.add(url, allow_private=True)
    assert (ds.source, ds.row_count) == (url, 5)
    # The proxy reads the checked final address, not whatever the first hop says later.
    probe = ["/latest.parquet", "/v2/data.parquet", "/sample.parquet", "/sample.parquet"]
    assert [r.path for r in http_server.requests][:4] == probe
    assert {r.path for r in http_server.requests[4:]} == {"/sample.parquet"}


async def test_a_server_refusing_head_is_checked_with_get(
    registry: DatasetRegistry, http_server: LocalHTTPServer
) -> None:
    http_server.no_head.add("/sample.parquet")
    ds = await registry.add(http_server.url("sample.parquet"), allow_private=True)
    assert ds.row_count == 5


async def test_the_model_may_only_load_urls(
    registry: DatasetRegistry, parquet_file: Path, sample_frame: pl.DataFrame
) -> None:
    for source in (str(parquet_file), parquet_file, sample_frame):
        with pytest.raises(DatasetError, match="Invalid URL format"):
            await registry.add(source, urls_only=True)
    assert registry.datasets == []


# -- local files --------------------------------------------------------------


async def test_a_local_parquet_file(registry: DatasetRegistry, parquet_file: Path) -> None:
    ds = await registry.add(parquet_file)
    assert (ds.kind, ds.source, ds.row_count, ds.column_count) == (
        "parquet",
        str(parquet_file),
        5,
        6,
    )
    assert friendly(ds) == SAMPLE_TYPES
    assert registry.tables()["sample"].kind == "parquet"


async def test_parquet_row_count_spans_row_groups(
    registry: DatasetRegistry, tmp_path: Path
) -> None:
    path = tmp_path / "big.parquet"
    pl.DataFrame({"n": range(250_000)}).write_parquet(path, row_group_size=10_000)
    ds = await registry.add(str(path))
    assert ds.row_count == 250_000


async def test_a_csv_file(registry: DatasetRegistry, csv_file: Path) -> None:
    ds = await registry.add(str(csv_file), "cities")
    assert (ds.name, ds.kind, ds.row_count, ds.column_count) == ("cities", "csv", 5, 6)
    types = friendly(ds)
    assert (types["id"], types["city"], types["price"], types["ok"]) == (
        "Integer",
        "Text",
        "Decimal",
        "Boolean",
    )
    assert registry.tables()["cities"].kind == "csv"


async def test_a_glob_of_parquet_files(registry: DatasetRegistry, tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(3):
        pl.DataFrame({"part": [i] * (i + 1), "x": [1.5] * (i + 1)}).write_parquet(
            folder / f"p{i}.parquet"
        )
    pattern = str(folder / "*.parquet")
    ds = await registry.add(pattern)
    assert (ds.kind, ds.source, ds.row_count) == ("parquet", pattern, 6)
    assert registry.tables()["parts"].location == pattern


async def test_a_glob_of_csv_files(registry: DatasetRegistry, tmp_path: Path) -> None:
    for i in range(2):
        (tmp_path / f"day{i}.csv").write_text("a,b\n1,x\n2,y\n")
    ds = await registry.add(str(tmp_path / "day*.csv"))
    assert (ds.kind, ds.row_count) == ("csv", 4)


async def test_a_glob_matching_nothing(registry: DatasetRegistry, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="No files match"):
        await registry.add(str(tmp_path / "*.parquet"))


async def test_a_glob_mixing_kinds(
    registry: DatasetRegistry, tmp_path: Path, sample_frame: pl.DataFrame
) -> None:
    sample_frame.write_parquet(tmp_path / "a.parquet")
    sample_frame.write_csv(tmp_path / "b.csv")
    with pytest.raises(DatasetError, match="matches both parquet and CSV"):
        await registry.add(str(tmp_path / "*"))


@pytest.mark.parametrize("filename", ["data.json", "data.xlsx", "README"])
async def test_unknown_extensions(registry: DatasetRegistry, tmp_path: Path, filename: str) -> None:
    (tmp_path / filename).write_text("{}")
    with pytest.raises(DatasetError, match="Unsupported file type"):
        await registry.add(tmp_path / filename)


async def test_a_parquet_name_on_something_else(registry: DatasetRegistry, tmp_path: Path) -> None:
    path = tmp_path / "fake.parquet"
    path.write_text("id,city\n1,Oslo\n")
    with pytest.raises(DatasetError, match=r"Not a valid parquet file: .* magic bytes"):
        await registry.add(path)


async def test_a_missing_file_and_a_folder(registry: DatasetRegistry, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="File not found"):
        await registry.add(tmp_path / "missing.parquet")
    with pytest.raises(DatasetError, match="is a folder"):
        await registry.add(tmp_path)


async def test_an_empty_csv(registry: DatasetRegistry, tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DatasetError, match="Could not read the CSV file"):
        await registry.add(tmp_path / "empty.csv")


async def test_the_packaged_iris_sample(registry: DatasetRegistry) -> None:
    ds = await registry.add(IRIS, "iris")
    assert (ds.row_count, ds.column_count) == (150, 5)
    assert friendly(ds)["species"] == "Text"
    species = pl.read_parquet(IRIS)["species"].value_counts().sort("species")
    assert species["count"].to_list() == [50, 50, 50]


# -- in-memory frames ---------------------------------------------------------


def _pandas(frame: pl.DataFrame) -> Any:
    return frame.to_pandas()


def _arrow(frame: pl.DataFrame) -> Any:
    return frame.to_arrow()


@pytest.mark.parametrize(
    ("convert", "label"),
    [
        (lambda f: f, "<polars.DataFrame>"),
        (lambda f: f.lazy(), "<polars.LazyFrame>"),
        (_pandas, "<pandas.DataFrame>"),
        (_arrow, "<pyarrow.Table>"),
    ],
)
async def test_in_memory_frames_become_one_ipc_file(
    registry: DatasetRegistry, workdir: Path, sample_frame: pl.DataFrame, convert: Any, label: str
) -> None:
    source = convert(sample_frame)
    ds = await registry.add(source, "mem")
    assert (ds.kind, ds.source, ds.row_count, ds.column_count) == ("frame", label, 5, 6)
    assert friendly(ds)["city"] == "Text"
    assert friendly(ds)["price"] == "Decimal"
    table = registry.tables()["mem"]
    assert table.kind == "ipc"
    assert ipc_files(workdir) == [Path(table.location)]
    # A worker memory-maps the file: uncompressed, so reading it copies nothing.
    allocated = pa.total_allocated_bytes()
    mapped = pa.ipc.open_file(pa.memory_map(table.location)).read_all()
    assert pa.total_allocated_bytes() == allocated
    assert_frame_equal(pl.from_arrow(mapped), sample_frame, check_dtypes=False)


async def test_a_lazy_frame_is_computed_into_the_file(registry: DatasetRegistry) -> None:
    lazy = (
        pl.LazyFrame({"n": range(1000)})
        .filter(pl.col("n") % 3 == 0)
        .with_columns(sq=pl.col("n") ** 2)
    )
    ds = await registry.add(lazy)
    assert (ds.row_count, ds.column_count) == (334, 2)


async def test_removing_and_closing_delete_ipc_files(
    registry: DatasetRegistry, workdir: Path, sample_frame: pl.DataFrame
) -> None:
    await registry.add(sample_frame, "a")
    await registry.add(sample_frame.lazy(), "b")
    await registry.add(sample_frame.to_arrow(), "c")
    assert len(ipc_files(workdir)) == 3
    registry.remove("a")
    assert len(ipc_files(workdir)) == 2
    assert "a" not in registry
    registry.close()
    assert ipc_files(workdir) == []
    assert registry.datasets == []


async def test_a_frame_that_cannot_convert_leaves_nothing(
    registry: DatasetRegistry, workdir: Path
) -> None:
    bad = pd.DataFrame({"mixed": [1, "two", 3.0, object()]})
    with pytest.raises(DatasetError, match=r"Could not load the pandas\.DataFrame"):
        await registry.add(bad)
    assert registry.datasets == []
    assert ipc_files(workdir) == []


@pytest.mark.parametrize("source", [{"a": [1, 2]}, [1, 2, 3], 42, None])
async def test_unsupported_sources(registry: DatasetRegistry, source: Any) -> None:
    with pytest.raises(DatasetError, match="Cannot load a"):
        await registry.add(source)


async def test_the_same_frame_twice_is_a_duplicate(
    registry: DatasetRegistry, sample_frame: pl.DataFrame
) -> None:
    await registry.add(sample_frame)
    with pytest.raises(DatasetError, match="This dataset is already loaded as 'table1'"):
        await registry.add(sample_frame)
    # Equal data in another object is another dataset.
    ds = await registry.add(sample_frame.clone())
    assert ds.name == "table2"


async def test_refresh_picks_up_a_changed_pandas_frame(
    registry: DatasetRegistry, workdir: Path
) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3]})
    await registry.add(frame, "p")
    before = registry.tables()["p"]
    frame.loc[3] = [4]
    frame["b"] = "x"
    ds = await registry.refresh("p")
    after = registry.tables()["p"]
    assert (ds.row_count, ds.column_count) == (4, 2)
    assert after.version > before.version
    assert ipc_files(workdir) == [Path(after.location)]  # the old file is gone
    assert pl.read_ipc(after.location)["a"].to_list() == [1, 2, 3, 4]


async def test_refresh_of_a_frame_that_is_gone_keeps_its_snapshot(
    registry: DatasetRegistry,
) -> None:
    frame = pl.DataFrame({"a": [1, 2]})
    await registry.add(frame, "snap")
    del frame
    ds = await registry.refresh("snap")
    assert ds.row_count == 2
    assert Path(registry.tables()["snap"].location).exists()


# -- names --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "source", "expected"),
    [
        (["sales.parquet"], "sales.parquet", "sales"),
        (["Q1 Sales.csv"], "Q1 Sales.csv", "q1_sales"),
        (["data/2024-01.csv", "data/2024-02.csv"], "data/2024-*.csv", "data_2024"),
        (["data/a.parquet", "data/b.parquet"], "data/*.parquet", "data"),
        (["exports/2024.parquet"], "exports/2024.parquet", "exports_2024"),
        (["logs/day-01.csv", "logs/day-02.csv"], "logs/day-0[1-2].csv", "day_0"),
        (["Ventes été -- 2024.pq"], "Ventes été -- 2024.pq", "ventes_ete_2024"),
        (["order.csv"], "order.csv", "order_2"),  # a SQL keyword
        (["2024/05.csv"], "2024/05.csv", "table1"),  # nothing usable
    ],
)
async def test_default_names_come_from_the_source(
    registry: DatasetRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    files: list[str],
    source: str,
    expected: str,
) -> None:
    frame = pl.DataFrame({"a": [1, 2]})
    for name in files:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".csv"):
            frame.write_csv(path)
        else:
            frame.write_parquet(path)
    monkeypatch.chdir(tmp_path)
    assert (await registry.add(source)).name == expected


async def test_a_taken_default_name_gets_a_number(
    registry: DatasetRegistry, tmp_path: Path, sample_frame: pl.DataFrame
) -> None:
    for folder in ("a", "b", "c"):
        (tmp_path / folder).mkdir()
        sample_frame.write_parquet(tmp_path / folder / "Sales.parquet")
    names = [(await registry.add(tmp_path / f / "Sales.parquet")).name for f in "abc"]
    assert names == ["sales", "sales_2", "sales_3"]
    registry.remove("sales_2")
    (tmp_path / "d").mkdir()
    sample_frame.write_parquet(tmp_path / "d" / "sales.parquet")
    assert (await registry.add(tmp_path / "d" / "sales.parquet")).name == "sales_2"
    # Frames have no name of their own: table1, table2, ... as before.
    assert (await registry.add(sample_frame)).name == "table1"


async def test_a_url_is_named_after_its_file(
    registry: DatasetRegistry, http_server: LocalHTTPServer
) -> None:
    ds = await registry.add(http_server.url("sample.parquet"), allow_private=True)
    assert ds.name == "sample"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("https://data.example/nyc/trips.parquet", "trips"),
        ("https://data.example/nyc/trips.parquet?version=2#rows", "trips"),
        ("https://data.example/2024/06.parquet", None),
        ("https://data.example/", None),
        ("s.parquet", "s"),
        ("/srv/exports/daily-2024-06-01.csv", "daily_2024_06_01"),
        ("/srv/exports/2024-06-01.csv", "exports_2024_06_01"),
        ("sales.v2.parquet", "sales_v2"),
        ("__init__.csv", "init"),
        ("x" * 80 + ".csv", "x" * 59),
        ("**/*.csv", None),
    ],
)
def test_name_from_source(source: str, expected: str | None) -> None:
    assert name_from_source(source) == expected


async def test_default_names_take_the_next_free_number(
    registry: DatasetRegistry, sample_frame: pl.DataFrame
) -> None:
    frames = [sample_frame.clone() for _ in range(3)]
    names = [(await registry.add(f)).name for f in frames]
    assert names == ["table1", "table2", "table3"]
    registry.remove("table1")
    assert (await registry.add(sample_frame)).name == "table1"
    assert [d.name for d in registry.datasets] == ["table2", "table3", "table1"]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("1sales", "not starting with a digit"),
        ("my-table", "e.g. my_table"),
        ("two words", "letters, digits and underscores"),
        ("", "letters, digits and underscores"),
        ("naïve!", "letters, digits and underscores"),
        ("select", "SQL keyword"),
        ("FROM", "SQL keyword"),
        ("Table", "SQL keyword"),
        ("x" * 64, "at most 63 characters"),
    ],
)
async def test_names_must_be_sql_identifiers(
    registry: DatasetRegistry, sample_frame: pl.DataFrame, name: str, reason: str
) -> None:
    with pytest.raises(DatasetError, match=reason):
        await registry.add(sample_frame, name)
    assert registry.datasets == []


async def test_names_are_unique_ignoring_case(
    registry: DatasetRegistry, parquet_file: Path, csv_file: Path
) -> None:
    await registry.add(parquet_file, "Sales")
    with pytest.raises(DatasetError, match="A dataset named 'Sales' already exists"):
        await registry.add(csv_file, "sales")
    assert registry.get("SALES").name == "Sales"


async def test_rename(registry: DatasetRegistry, parquet_file: Path, csv_file: Path) -> None:
    await registry.add(parquet_file, "a")
    await registry.add(csv_file, "b")
    version = registry.tables()["a"].version
    ds = registry.rename("a", "orders_2024")
    assert ds.name == "orders_2024"
    assert list(registry.tables()) == ["orders_2024", "b"]  # keeps its place
    assert registry.tables()["orders_2024"].name == "orders_2024"
    assert registry.tables()["orders_2024"].version == version
    assert [d.name for d in registry.datasets] == ["orders_2024", "b"]
    with pytest.raises(DatasetError, match="already exists"):
        registry.rename("orders_2024", "B")
    with pytest.raises(DatasetError, match="SQL keyword"):
        registry.rename("b", "where")
    with pytest.raises(DatasetError, match="not starting with a digit"):
        registry.rename("b", "2b")
    assert registry.rename("b", "B").name == "B"  # a change of case is fine
    with pytest.raises(
        DatasetError, match=r"No dataset named 'zzz'\. Loaded datasets: orders_2024, B"
    ):
        registry.rename("zzz", "c")


async def test_get_and_remove_unknown_names_list_the_known_ones(
    registry: DatasetRegistry, parquet_file: Path
) -> None:
    with pytest.raises(DatasetError, match="Loaded datasets: none yet"):
        registry.get("x")
    await registry.add(parquet_file)
    with pytest.raises(DatasetError, match=r"No dataset named 'x'\. Loaded datasets: sample"):
        registry.remove("x")


# -- duplicates, limit, atomicity ---------------------------------------------


async def test_the_same_file_twice_is_a_duplicate(
    registry: DatasetRegistry, parquet_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await registry.add(parquet_file, "first")
    monkeypatch.chdir(parquet_file.parent)
    for same in (str(parquet_file), parquet_file.name, f"./{parquet_file.name}"):
        with pytest.raises(DatasetError, match="This dataset is already loaded as 'first'"):
            await registry.add(same)


async def test_the_same_url_twice_is_a_duplicate(
    registry: DatasetRegistry, http_server: LocalHTTPServer
) -> None:
    await registry.add(http_server.url("sample.parquet"), allow_private=True)
    with pytest.raises(DatasetError, match="This dataset is already loaded as 'sample'"):
        await registry.add(http_server.url("sample.parquet"), allow_private=True)


async def test_the_dataset_limit(
    registry: DatasetRegistry, sample_frame: pl.DataFrame, workdir: Path
) -> None:
    # An 8-table schema is ordinary in a notebook: the default cap is 20.
    for _ in range(20):
        await registry.add(sample_frame.clone())
    with pytest.raises(DatasetError, match=r"^Dataset limit reached \(20/20\)\. Remove one first\.$"):
        await registry.add(sample_frame.clone())
    assert len(ipc_files(workdir)) == 20
    registry.remove("table3")
    assert (await registry.add(sample_frame.clone())).name == "table3"


async def test_concurrent_adds_respect_the_limit(workdir: Path, sample_frame: pl.DataFrame) -> None:
    registry = DatasetRegistry(load_settings(max_datasets=2), workdir)
    results = await asyncio.gather(
        *(registry.add(sample_frame.clone()) for _ in range(4)), return_exceptions=True
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(registry.datasets) == 2
    assert len(errors) == 2 and all("Dataset limit reached" in str(e) for e in errors)
    assert len(ipc_files(workdir)) == 2  # the losers' files were deleted
    registry.close()


async def test_a_failed_add_changes_nothing(
    registry: DatasetRegistry, parquet_file: Path, csv_file: Path, tmp_path: Path
) -> None:
    await registry.add(parquet_file)
    before = (registry.datasets, registry.tables())
    (tmp_path / "bad.parquet").write_text("nope")
    with pytest.raises(DatasetError):
        await registry.add(tmp_path / "bad.parquet")
    with pytest.raises(DatasetError):
        await registry.add(tmp_path / "bad.parquet", "good_name")
    assert (registry.datasets, registry.tables()) == before
    assert "good_name" not in registry
    # The failed adds took no name: once the file is good, it gets its own.
    pl.read_csv(csv_file).write_parquet(tmp_path / "bad.parquet")
    assert (await registry.add(tmp_path / "bad.parquet")).name == "bad"


# -- refresh ------------------------------------------------------------------


async def test_refresh_rereads_a_changed_file(
    registry: DatasetRegistry, parquet_file: Path
) -> None:
    await registry.add(parquet_file, "sales")
    version = registry.tables()["sales"].version
    pl.DataFrame({"id": range(12), "extra": ["e"] * 12}).write_parquet(parquet_file)
    ds = await registry.refresh("sales")
    assert (ds.name, ds.row_count, ds.column_count) == ("sales", 12, 2)
    assert registry.get("sales").row_count == 12
    assert registry.tables()["sales"].version > version


async def test_refresh_rereads_a_changed_url(
    registry: DatasetRegistry, http_server: LocalHTTPServer, http_root: Path
) -> None:
    await registry.add(http_server.url("sample.parquet"), allow_private=True)
    pl.DataFrame({"n": range(40)}).write_parquet(http_root / "sample.parquet")
    ds = await registry.refresh("sample")
    assert (ds.row_count, ds.column_count) == (40, 1)


async def test_a_failed_refresh_keeps_the_dataset(
    registry: DatasetRegistry, parquet_file: Path
) -> None:
    await registry.add(parquet_file)
    before = (registry.get("sample"), registry.tables()["sample"])
    os.remove(parquet_file)
    with pytest.raises(DatasetError, match="File not found"):
        await registry.refresh("sample")
    assert (registry.get("sample"), registry.tables()["sample"]) == before


async def test_versions_never_repeat(registry: DatasetRegistry, parquet_file: Path) -> None:
    await registry.add(parquet_file, "t")
    first = registry.tables()["t"].version
    registry.remove("t")
    await registry.add(parquet_file, "t")
    assert registry.tables()["t"].version != first

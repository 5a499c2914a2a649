"""The grid's whole-result requests (issue #12): per-column filters, column summaries,
"Copy all" up to CHATDF_COPY_MAX_ROWS, CSV/parquet downloads in chunks, "Copy as code"."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import polars as pl
import pytest
from _widget_helpers import Browser, arrow_page  # type: ignore[import-not-found]

from chatdf import ChatDF
from chatdf.errors import QueryError
from chatdf.models import QueryResult, columns_of
from chatdf.result_tools import DOWNLOAD_CHUNK, ColumnFilter, summarize, to_tsv, where_for


@pytest.fixture
def sales(tmp_path: Path) -> Path:
    path = tmp_path / "sales.parquet"
    n = 20_000
    pl.select(
        id=pl.int_range(n),
        region=pl.format("Region {}", pl.int_range(n) % 4),
        amount=pl.when(pl.int_range(n) % 10 == 0).then(None).otherwise(pl.int_range(n) * 1.5),
        day=pl.date(2024, 1, 1) + pl.duration(days=pl.int_range(n) % 30),
    ).write_parquet(path)
    return path


def newest(chat: ChatDF) -> str:
    return next(reversed(chat._session.results))


def kept(frame: pl.DataFrame) -> QueryResult:
    return QueryResult(sql="SELECT …", columns=columns_of(frame.schema), total_rows=frame.height, data=frame)


def test_filters_run_over_the_whole_result_with_sort_and_paging(chat: ChatDF, browser: Browser, sales: Path):
    chat.add(str(sales), "sales")
    frame = chat.sql("SELECT * FROM sales")
    filters = [{"column": "region", "op": "contains", "value": "region 2"}, {"column": "amount", "op": "ge", "value": "15000"}]
    header, buffers = browser.request(
        "page", result_id=newest(chat), offset=50, limit=50, sort={"column": "amount", "descending": True}, filters=filters
    )
    expected = (
        frame.filter(pl.col("region") == "Region 2", pl.col("amount") >= 15000)
        .sort("amount", descending=True, nulls_last=True, maintain_order=True)
    )
    assert header["result"]["total_rows"] == expected.height
    assert arrow_page(buffers)["id"].to_list() == expected.slice(50, 50)["id"].to_list()
    # Nulls and dates by their type.
    nulls = browser.result("page", result_id=newest(chat), limit=5, filters=[{"column": "amount", "op": "is_null"}])
    assert nulls["total_rows"] == 2000
    day = browser.result("page", result_id=newest(chat), filters=[{"column": "day", "op": "eq", "value": "2024-01-30"}])
    assert day["total_rows"] == frame.filter(pl.col("day") == dt.date(2024, 1, 30)).height


def test_bad_filters_say_what_is_wrong(chat: ChatDF, browser: Browser, sales: Path):
    chat.add(str(sales), "sales")
    chat.sql("SELECT * FROM sales")
    wrong_type = browser.error("page", result_id=newest(chat), filters=[{"column": "amount", "op": "gt", "value": "lots"}])
    assert wrong_type["details"]["reason"] == "bad_filter"
    assert "'lots' is not a Float64 value" in wrong_type["message"]
    missing = browser.error("page", result_id=newest(chat), filters=[{"column": "nope", "op": "eq", "value": "1"}])
    assert missing["details"]["reason"] == "unknown_column"
    empty = browser.error("page", result_id=newest(chat), filters=[{"column": "id", "op": "eq", "value": ""}])
    assert "give a value" in empty["message"]
    unknown_op = browser.error("page", result_id=newest(chat), filters=[{"column": "id", "op": "like", "value": "1"}])
    assert unknown_op["details"]["reason"] == "bad_message"
    # The widget still answers.
    assert browser.result("page", result_id=newest(chat), limit=1)["rows"] == 1


def test_summary_of_numbers_text_and_dates(chat: ChatDF, browser: Browser, sales: Path):
    chat.add(str(sales), "sales")
    chat.sql("SELECT * FROM sales")
    amount = browser.result("summary", result_id=newest(chat), column="amount")
    assert amount["rows"] == 20_000 and amount["nulls"] == 2000
    assert amount["min"] == 1.5 and amount["max"] == 19_999 * 1.5
    assert sum(amount["histogram"]["counts"]) == 18_000 and len(amount["histogram"]["counts"]) == 12
    region = browser.result("summary", result_id=newest(chat), column="region")
    assert region["distinct"] == 4 and region["histogram"] is None
    assert region["top"][0] == {"value": "Region 0", "count": 5000}
    day = browser.result("summary", result_id=newest(chat), column="day")
    assert (day["min"], day["max"]) == ("2024-01-01", "2024-01-30")
    # Over the filtered view when filters are on.
    east = browser.result("summary", result_id=newest(chat), column="id", filters=[{"column": "region", "op": "eq", "value": "Region 1"}])
    assert east["rows"] == 5000 and east["min"] == 1
    assert browser.error("summary", result_id=newest(chat), column="nope")["details"]["reason"] == "unknown_column"


async def test_summary_of_odd_columns_does_not_fail():
    frame = pl.DataFrame({"tags": [["a"], None], "inf": [float("inf"), 1.0], "big": [2**62, None]})
    result = kept(frame)
    tags = await summarize(result, "tags")
    assert tags["nulls"] == 1 and tags["top"] is None
    inf = await summarize(result, "inf")
    assert inf["max"] == "inf" and inf["histogram"] is None
    big = await summarize(result, "big")
    assert big["max"] == str(2**62)


def test_copy_all_is_exact_and_capped(chat: ChatDF, browser: Browser, sales: Path, monkeypatch):
    chat.add(str(sales), "sales")
    frame = chat.sql("SELECT id, amount, region FROM sales")
    copied = browser.result("copy_all", result_id=newest(chat), sort={"column": "id", "descending": True})
    lines = copied["text"].split("\n")
    assert lines[0] == "id\tamount\tregion" and len(lines) == 20_001
    assert lines[1] == "19999\t29998.5\tRegion 3"
    assert lines[-1] == "0\t\tRegion 0"  # null as empty
    assert copied["truncated"] is False
    monkeypatch.setattr(chat._session.settings, "copy_max_rows", 100)
    capped = browser.result("copy_all", result_id=newest(chat))
    assert capped["rows"] == 100 and capped["total_rows"] == frame.height and capped["truncated"] is True
    assert len(capped["text"].split("\n")) == 101


def test_tsv_keeps_values_raw_and_flattens_tabs():
    frame = pl.DataFrame({"a\tb": ["x\ty\nz"], "n": [12075718.32], "d": [dt.date(2024, 5, 1)]})
    assert to_tsv(frame) == "a b\tn\td\nx y z\t12075718.32\t2024-05-01"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_download_streams_the_result_in_chunks(chat: ChatDF, browser: Browser, tmp_path: Path, fmt: str, monkeypatch):
    path = tmp_path / "wide.parquet"
    n = 300_000
    pl.select(id=pl.int_range(n), text=pl.format("row {} of many", pl.int_range(n))).write_parquet(path)
    chat.add(str(path), "wide")
    frame = chat.sql("SELECT * FROM wide")
    monkeypatch.setattr("chatdf.result_tools.DOWNLOAD_CHUNK", 50_000)
    received, offset, chunks = bytearray(), 0, 0
    while True:
        content, buffers = browser.request("download", result_id=newest(chat), format=fmt, offset=offset)
        header = content["result"]
        received += bytes(buffers[0])
        chunks += 1
        offset += header["bytes"]
        if header["done"]:
            break
    assert chunks > 1 and header["filename"].endswith(f".{fmt}")
    read = pl.read_csv(io.BytesIO(received)) if fmt == "csv" else pl.read_parquet(io.BytesIO(received))
    assert read.equals(frame)
    assert DOWNLOAD_CHUNK == 4 * 2**20


def test_download_of_a_filtered_view(chat: ChatDF, browser: Browser, sales: Path):
    chat.add(str(sales), "sales")
    frame = chat.sql("SELECT id, region FROM sales")
    content, buffers = browser.request(
        "download", result_id=newest(chat), format="csv", filters=[{"column": "region", "op": "eq", "value": "Region 3"}]
    )
    assert content["result"]["done"]
    assert pl.read_csv(io.BytesIO(bytes(buffers[0]))).equals(frame.filter(pl.col("region") == "Region 3"))
    bad = browser.error("download", result_id=newest(chat), format="xlsx")
    assert bad["details"]["reason"] == "bad_message"


def test_copy_as_code_is_chat_code(chat: ChatDF, browser: Browser, sales: Path):
    chat.add(str(sales), "sales")
    chat.sql("SELECT region, SUM(amount) AS total FROM sales GROUP BY region")
    code = browser.result("code", result_id=newest(chat))["code"]
    assert code == chat.code(newest(chat))
    assert "import polars as pl" in code
    assert browser.error("code", result_id="gone")["details"]["reason"] == "unknown_result"


def test_where_for_combines_filters():
    result = kept(pl.DataFrame({"x": [1, 2, 3, None], "s": ["a", "B", "c", None]}))
    where = where_for(result, [ColumnFilter("x", "gt", 1), ColumnFilter("s", "contains", "b")])
    assert where is not None
    assert result.data.filter(where)["x"].to_list() == [2]
    assert where_for(result, []) is None
    with pytest.raises(QueryError, match="cannot be compared"):
        where_for(kept(pl.DataFrame({"l": [[1]]})), [ColumnFilter("l", "gt", "1")])


async def test_column_filters_run_in_a_worker_for_large_results(chat: ChatDF, sales: Path):
    """The grid's filters go to the query worker like sorts do (results past KERNEL_ORDER_BYTES)."""
    from chatdf.grid import Pager

    chat.add(str(sales), "sales")
    session = chat._session
    result = await session.call_async(session.run_sql("SELECT * FROM sales"))
    where = where_for(
        result,
        [
            ColumnFilter("region", "contains", "REGION 1"),
            ColumnFilter("day", "le", "2024-01-10"),
            ColumnFilter("amount", "not_null"),
        ],
    )
    in_kernel = Pager()
    in_worker = Pager(session.engine, kernel_order_bytes=0)
    kernel_page = await in_kernel.page(result, 0, 100, ("amount", True), where)
    worker_page = await session.call_async(in_worker.page(result, 0, 100, ("amount", True), where))
    assert kernel_page.ipc == worker_page.ipc
    expected = result.data.filter(
        pl.col("region") == "Region 1", pl.col("day") <= dt.date(2024, 1, 10), pl.col("amount").is_not_null()
    )
    assert worker_page.total_rows == expected.height > 0


async def test_summaries_are_computed_in_a_worker_over_the_whole_result(chat: ChatDF, sales: Path):
    """A header click's summary is a job for a query worker (the engine counts it), never a
    scan in the kernel, and it says the same as the kernel's own computation would."""
    chat.add(str(sales), "sales")
    session = chat._session
    result = await session.call_async(session.run_sql("SELECT * FROM sales"))
    in_memory = kept(result.data)  # no file: the kernel computes it (the reference)
    region_1 = where_for(result, [ColumnFilter("region", "eq", "Region 1")])
    before = session.engine.jobs["summary"]
    for column in ("id", "amount", "region", "day"):
        for where in (None, region_1):
            worker = await session.call_async(summarize(result, column, where, engine=session.engine))
            assert worker == await summarize(in_memory, column, where)
    assert session.engine.jobs["summary"] - before == 8
    amount = await session.call_async(summarize(result, "amount", engine=session.engine))
    assert (amount["rows"], amount["nulls"], amount["min"], amount["max"]) == (20_000, 2000, 1.5, 19_999 * 1.5)
    region = await session.call_async(summarize(result, "region", region_1, engine=session.engine))
    assert (region["rows"], region["distinct"], region["top"]) == (5000, 1, [{"value": "Region 1", "count": 5000}])
    day = await session.call_async(summarize(result, "day", region_1, engine=session.engine))
    assert (day["min"], day["max"], day["histogram"]) == ("2024-01-02", "2024-01-30", None)
    assert session.engine.jobs["summary"] - before == 11


def test_the_widget_sends_summaries_to_a_worker(chat: ChatDF, browser: Browser, sales: Path):
    chat.add(str(sales), "sales")
    chat.sql("SELECT * FROM sales")
    before = chat._session.engine.jobs["summary"]
    amount = browser.result("summary", result_id=newest(chat), column="amount")
    assert amount["nulls"] == 2000
    assert chat._session.engine.jobs["summary"] == before + 1

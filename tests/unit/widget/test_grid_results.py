"""The grid over real results: sorts of large results run in a worker, odd column names
page and sort, and the kernel keeps results by total size (issue #9)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import psutil
import pytest
from _widget_helpers import Browser, arrow_page  # type: ignore[import-not-found]
from polars.testing import assert_frame_equal

from chatdf import ChatDF
from chatdf.errors import QueryError
from chatdf.grid import Pager


def anon_mb() -> float:
    info = psutil.Process().memory_info()
    return (info.rss - info.shared) / 2**20


def peak_growth_mb(work: Callable[[], object]) -> float:
    """How far this process's heap rose while ``work`` ran (sampled every 2 ms)."""
    start = peak = anon_mb()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, anon_mb())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        work()
    finally:
        done.set()
        sampler.join()
    return max(peak, anon_mb()) - start


def mapped_result_mb(folder: Path) -> float:
    """MiB of result files under ``folder`` that this process maps (deleted ones too)."""
    spans: dict[str, int] = {}
    for line in Path("/proc/self/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and str(folder) in parts[5] and "result-" in parts[5]:
            start, end = (int(x, 16) for x in parts[0].split("-"))
            spans[parts[5]] = spans.get(parts[5], 0) + end - start
    return sum(spans.values()) / 2**20


@pytest.fixture
def names(tmp_path: Path) -> Path:
    path = tmp_path / "names.parquet"
    n = 200_000
    pl.select(
        id=pl.int_range(n),
        name=pl.format("customer {}", (pl.int_range(n) * 7919) % 1000),
        score=pl.when(pl.int_range(n) % 10 == 0).then(None).otherwise(pl.int_range(n) % 97),
    ).write_parquet(path)
    return path


def test_columns_named_like_patterns_page_and_sort(chat: ChatDF, browser: Browser, names: Path):
    chat.add(str(names), "names")
    sql = (
        'SELECT a.id AS "^.*$", a.name AS "*", b.id, a.score AS "a:1" '
        "FROM names a JOIN names b ON a.id = b.id WHERE a.id < 1000"
    )
    frame = chat.sql(sql)
    result_id = next(reversed(chat._session.results))
    assert frame.columns == ["^.*$", "*", "id", "a:1"]

    for column in frame.columns:
        header, buffers = browser.request(
            "page", result_id=result_id, offset=10, limit=20, sort={"column": column, "descending": True}
        )
        assert "error" not in header, header
        expected = frame.sort(
            pl.nth(frame.columns.index(column)), descending=True, nulls_last=True, maintain_order=True
        ).slice(10, 20)
        assert_frame_equal(arrow_page(buffers), expected)
        assert header["result"]["sort"] == {"column": column, "descending": True}


async def test_worker_sorts_and_filters_match_the_kernel(chat: ChatDF, names: Path):
    chat.add(str(names), "names")
    session = chat._session
    result = await session.call_async(session.run_sql("SELECT * FROM names"))
    in_kernel = Pager()
    in_worker = Pager(session.engine, kernel_order_bytes=0)
    # Many ties (1000 distinct names) and nulls: the order must be the same, stable one.
    for sort in [("name", False), ("score", True), (2, False)]:
        for offset in (0, 150_000):
            kernel_page = await in_kernel.page(result, offset, 100, sort)
            worker_page = await session.call_async(in_worker.page(result, offset, 100, sort))
            assert kernel_page.ipc == worker_page.ipc
    where = (pl.nth(2) > 90) & pl.nth(1).str.ends_with("7")
    kernel_page = await in_kernel.page(result, 5, 50, ("id", True), where)
    worker_page = await session.call_async(in_worker.page(result, 5, 50, ("id", True), where))
    assert kernel_page.ipc == worker_page.ipc
    expected = result.data.filter(where).sort("id", descending=True)
    assert worker_page.total_rows == expected.height
    assert_frame_equal(pl.read_ipc_stream(worker_page.ipc), expected.slice(5, 50))


@pytest.mark.slow
def test_sorting_a_large_result_runs_in_a_worker_not_the_kernel(
    chat: ChatDF, browser: Browser, tmp_path: Path
):
    path = tmp_path / "big.parquet"
    n = 5_000_000
    pl.select(
        id=pl.int_range(n), name=pl.format("customer {} of the big table", (pl.int_range(n) * 7919) % n)
    ).write_parquet(path)
    chat.add(str(path), "big")
    session = chat._session
    result = session.call(session.run_sql("SELECT * FROM big"))
    assert result.nbytes > 200 * 2**20  # well past the kernel's sorting threshold

    def sort_and_page() -> None:
        header, buffers = browser.request(
            "page", result_id=result.id, offset=4_000_000, limit=50, sort={"column": "name", "descending": True}
        )
        assert "error" not in header, header
        assert arrow_page(buffers).height == 50

    # Sorting these strings in the kernel took ~320 MB of its heap; in a worker, next to nothing.
    assert peak_growth_mb(sort_and_page) < 50


def test_old_results_are_dropped_by_size_and_say_so(names: Path, tmp_path: Path):
    chat = ChatDF(db_path=str(tmp_path / "h.db"), workers=1, result_cache_mb=8)
    try:
        chat.add(str(names), "names")
        sqls = [f"SELECT id, id * {i} AS y FROM names" for i in range(3)]  # 3.2 MB each
        frames, ids = [], []
        for sql in sqls:
            frames.append(chat.sql(sql))
            ids.append(next(reversed(chat._session.results)))
        results = chat._session.results
        assert list(results) == ids[1:] and results.total_bytes <= 8 * 2**20

        with pytest.raises(QueryError) as caught:
            chat._session.result(ids[0])
        error = caught.value
        assert error.error_type == "validation"
        assert error.details["reason"] == "evicted"
        assert error.details["sql"] == sqls[0]
        assert "CHATDF_RESULT_CACHE_MB" in error.message and sqls[0] in error.message
        with pytest.raises(QueryError) as exported:
            chat.export("old", result=ids[0])
        assert exported.value.details["reason"] == "evicted"
        # The dropped result's file is gone; frames already handed out stay whole.
        assert len(list(chat._session.workdir.rglob("result-*"))) == 2
        assert frames[0]["y"].sum() == 0 and frames[2]["y"].sum() == 2 * frames[1]["y"].sum()
        # A result larger than the whole cache is still kept, alone: it is the one just asked for.
        chat.sql("SELECT a.id, b.id AS other FROM names a CROSS JOIN (SELECT id FROM names LIMIT 3) b")
        assert len(results) == 1 and results.total_bytes > 8 * 2**20
    finally:
        chat.close()


def test_paging_an_evicted_result_through_the_widget(browser: Browser, chat: ChatDF, names: Path):
    chat.add(str(names), "names")
    session = chat._session
    session.results.max_bytes = 1  # as if CHATDF_RESULT_CACHE_MB were tiny: keeps the newest only
    chat.sql("SELECT * FROM names WHERE id < 10")
    old = next(reversed(session.results))
    chat.sql("SELECT * FROM names WHERE id >= 10")
    new = next(reversed(session.results))

    error = browser.error("page", result_id=old, offset=0)
    assert error["error_type"] == "validation"
    assert error["details"]["reason"] == "evicted"
    assert "WHERE id < 10" in error["message"] and re.search("run its SQL again", error["message"], re.IGNORECASE)
    assert browser.error("page", result_id="never", offset=0)["details"]["reason"] == "unknown_result"
    _header, buffers = browser.request("page", result_id=new, offset=0, limit=5)
    assert arrow_page(buffers)["id"].to_list() == [10, 11, 12, 13, 14]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
def test_twenty_large_results_keep_the_kernel_within_the_cache(tmp_path: Path):
    path = tmp_path / "rows.parquet"
    pl.select(x=pl.int_range(5_000_000), y=pl.int_range(5_000_000) * 3).write_parquet(path)
    chat = ChatDF(db_path=str(tmp_path / "h.db"), workers=1)  # default result_cache_mb=512
    try:
        chat.add(str(path), "numbers")
        start = anon_mb()
        for i in range(20):
            frame = chat.sql(f"SELECT x, y + {i} AS y FROM numbers")
            assert frame.height == 5_000_000
            del frame
        session = chat._session
        # 20 results of 76 MB each: only the newest ~6 are still kept, mapped and on disk.
        assert session.results.total_bytes <= 512 * 2**20
        assert mapped_result_mb(session.workdir) <= 512 + 80
        on_disk = sum(f.stat().st_size for f in session.workdir.rglob("result-*")) / 2**20
        assert on_disk <= 512 + 80
        assert anon_mb() - start < 200
    finally:
        chat.close()

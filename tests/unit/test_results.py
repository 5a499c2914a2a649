"""Results kept by total size: oldest dropped first, the newest always kept, drops explained."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from chatdf.engine.ipc import ResultFile, result_path
from chatdf.errors import QueryError
from chatdf.export import pick_result
from chatdf.models import QueryResult, columns_of
from chatdf.results import ResultCache


def on_disk(folder: Path, rows: int, sql: str = "SELECT …") -> QueryResult:
    """A result the way the engine makes one: a worker-written file, mapped."""
    path = result_path(folder)
    pl.select(x=pl.int_range(rows)).lazy().sink_ipc(path, compression="uncompressed")
    file = ResultFile(path)
    return QueryResult(sql=sql, columns=columns_of(file.schema), total_rows=rows, file=file)


def test_the_oldest_go_first_once_the_total_passes_the_limit(tmp_path: Path):
    dropped: list[str] = []
    cache = ResultCache(2 * 2**20, on_evict=lambda r: dropped.append(r.id))
    results = [on_disk(tmp_path, 100_000, f"SELECT {i}") for i in range(4)]  # ~0.8 MB each
    for result in results:
        cache.keep(result)
    assert list(cache) == [r.id for r in results[2:]]
    assert cache.total_bytes == sum(r.nbytes for r in results[2:]) <= 2 * 2**20
    assert dropped == [results[0].id, results[1].id]
    # A dropped result's file is deleted; the kept ones stay.
    assert [r.file.path.exists() for r in results] == [False, False, True, True]
    assert pick_result(cache, None) is results[3]


def test_the_newest_is_kept_even_when_it_alone_is_over_the_limit(tmp_path: Path):
    cache = ResultCache(100_000)
    small, big = on_disk(tmp_path, 10), on_disk(tmp_path, 200_000)
    cache.keep(small)
    assert cache.keep(big) == [small]
    assert list(cache) == [big.id] and cache.require(big.id) is big


def test_a_dropped_result_says_so_with_its_sql_and_an_unknown_one_too(tmp_path: Path):
    cache = ResultCache(0)
    first = on_disk(tmp_path, 10, "SELECT x FROM t WHERE x > 3")
    cache.keep(first)
    cache.keep(on_disk(tmp_path, 10))
    with pytest.raises(QueryError) as caught:
        cache.require(first.id)
    error = caught.value
    assert error.error_type == "validation"
    assert error.details == {"reason": "evicted", "result_id": first.id, "sql": first.sql}
    assert "run its sql again" in error.message.lower() and first.sql in error.message
    with pytest.raises(QueryError) as unknown:
        cache.require("nope")
    assert unknown.value.details["reason"] == "unknown_result"


def test_clear_deletes_every_file(tmp_path: Path):
    cache = ResultCache(2**30)
    results = [on_disk(tmp_path, 1000) for _ in range(3)]
    for result in results:
        cache.keep(result)
    cache.clear()
    assert len(cache) == 0 and list(tmp_path.glob("result-*")) == []

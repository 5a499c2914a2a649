"""Pages of kept results: sorted over the whole result (in the kernel or a worker), sliced,
encoded as Arrow IPC; columns picked by position, whatever their names."""

from __future__ import annotations

import datetime as dt
import decimal

import polars as pl
import pytest

from chatdf.errors import QueryError
from chatdf.grid import Pager
from chatdf.models import QueryResult, columns_of


def kept(frame: pl.DataFrame) -> QueryResult:
    return QueryResult(sql="SELECT …", columns=columns_of(frame.schema), total_rows=frame.height, data=frame)


def rows(page) -> pl.DataFrame:
    return pl.read_ipc_stream(page.ipc)


async def test_a_sorted_page_comes_from_the_whole_result_not_the_page():
    frame = pl.DataFrame({"id": range(1000), "score": [(i * 7919) % 1000 for i in range(1000)]})
    result = kept(frame)
    pager = Pager()

    page = await pager.page(result, offset=50, limit=50, sort=("score", True))

    expected = frame.sort("score", descending=True).slice(50, 50)
    assert rows(page).equals(expected)
    assert (page.offset, page.rows, page.total_rows) == (50, 50, 1000)
    assert page.sort == {"column": "score", "descending": True}
    # Unsorted pages keep the query's own order.
    assert rows(await pager.page(result, 950, 50)).equals(frame.slice(950, 50))


async def test_nulls_sort_last_in_both_directions():
    result = kept(pl.DataFrame({"x": [2, None, 1, 3]}))
    pager = Pager()
    assert rows(await pager.page(result, sort=("x", False)))["x"].to_list() == [1, 2, 3, None]
    assert rows(await pager.page(result, sort=("x", True)))["x"].to_list() == [3, 2, 1, None]


async def test_page_past_the_end_is_empty_and_columns_carry_friendly_types():
    result = kept(pl.DataFrame({"n": [1, 2], "s": ["a", "b"]}))
    page = await Pager().page(result, offset=10, limit=50)
    assert page.rows == 0 and page.offset == 2
    assert rows(page).columns == ["n", "s"]
    assert page.header()["columns"] == [
        {"name": "n", "dtype": "Int64", "friendly": "Integer"},
        {"name": "s", "dtype": "String", "friendly": "Text"},
    ]


async def test_values_the_grid_cannot_show_natively_arrive_as_text():
    frame = pl.DataFrame(
        {
            "when": [dt.datetime(2024, 1, 2, 3, 4, 5), dt.datetime(2024, 1, 2, 3, 4, 5, 250000)],
            "day": [dt.date(2024, 1, 2), None],
            "price": pl.Series([decimal.Decimal("1.10"), decimal.Decimal("2.25")]),
            "tags": [["a", "b"], []],
            "point": [{"x": 1, "y": 2}, None],
            "took": [dt.timedelta(seconds=90), None],
            "n": [1, 2],
            "ok": [True, None],
        }
    )
    got = rows(await Pager().page(kept(frame)))
    assert got.to_dicts() == [
        {"when": "2024-01-02 03:04:05", "day": "2024-01-02", "price": "1.10", "tags": '["a", "b"]',
         "point": '{"x": 1, "y": 2}', "took": "0:01:30", "n": 1, "ok": True},
        {"when": "2024-01-02 03:04:05.250", "day": None, "price": "2.25", "tags": "[]",
         "point": None, "took": None, "n": 2, "ok": None},
    ]
    # Sorting still uses the real types, not their text.
    by_price = rows(await Pager().page(kept(frame), sort=("price", True)))
    assert by_price["price"].to_list() == ["2.25", "1.10"]


async def test_sorting_by_a_missing_column_is_a_clear_error():
    with pytest.raises(QueryError, match="no such column") as refused:
        await Pager().page(kept(pl.DataFrame({"a": [1]})), sort=("b", False))
    assert refused.value.error_type == "validation"


async def test_permutations_are_kept_per_sort_and_bounded():
    result = kept(pl.DataFrame({"a": [3, 1, 2], "b": [1, 2, 3]}))
    pager = Pager(max_orders=2)
    await pager.page(result, sort=("a", False))
    await pager.page(result, sort=("a", True))
    await pager.page(result, sort=("b", False))
    assert list(pager._orders) == [(result.id, ((0, True),), None), (result.id, ((1, False),), None)]
    pager.forget(result.id)
    assert not pager._orders


async def test_a_column_that_cannot_be_sorted_is_a_clear_error():
    frame = pl.DataFrame({"id": [1, 2], "obj": pl.Series([object(), object()], dtype=pl.Object)})
    with pytest.raises(QueryError) as refused:
        await Pager().page(kept(frame), sort=("obj", False))
    assert refused.value.error_type == "validation"
    assert refused.value.details["reason"] == "unsortable"
    assert "obj" in refused.value.message


async def test_columns_named_like_patterns_sort_by_name_or_position():
    frame = pl.DataFrame({"^.*$": [2, 1, 3], "*": ["b", "c", "a"], "a:1": [None, 1.5, 0.5]})
    pager = Pager()
    by_regex_name = rows(await pager.page(kept(frame), sort=("^.*$", False)))
    assert by_regex_name.columns == ["^.*$", "*", "a:1"]
    assert by_regex_name["^.*$"].to_list() == [1, 2, 3]
    assert rows(await pager.page(kept(frame), sort=("*", True)))["*"].to_list() == ["c", "b", "a"]
    assert rows(await pager.page(kept(frame), sort=(2, False)))["a:1"].to_list() == [0.5, 1.5, None]
    with pytest.raises(QueryError, match="no such column"):
        await pager.page(kept(frame), sort=(3, False))

"""Notebook frames stay live: reassignment and in-place edits reach the next query, only then."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from chatdf import ChatDF, DatasetError
from chatdf.datasets import DatasetRegistry, namespace_frames
from chatdf.settings import load_settings
from tests.fake_gemini import FakeGemini, function_call, text_chunks


@pytest.fixture
def namespace(chat: ChatDF) -> dict[str, Any]:
    """The chat's notebook namespace (a plain dict standing in for IPython's user_ns)."""
    ns: dict[str, Any] = {}
    chat._session.registry.attach_namespace(ns)
    return ns


def follow(chat: ChatDF, variable: str, name: str | None = None) -> None:
    chat._session.call(chat._session.registry.add_variable(variable, name))


def version(chat: ChatDF, name: str) -> int:
    return chat._session.registry.tables()[name].version


TOTAL_SQL = "SELECT sum(amount) AS total FROM sales"


def total(chat: ChatDF, table: str = "sales") -> Any:
    return chat.sql(f"SELECT sum(amount) AS total FROM {table}").item()


def test_reassigning_the_variable_reaches_the_next_query(
    chat: ChatDF, namespace: dict[str, Any]
) -> None:
    namespace["df_sales"] = pl.DataFrame({"amount": [1, 2, 3]})
    follow(chat, "df_sales", "sales")
    assert total(chat) == 6
    namespace["df_sales"] = pl.DataFrame({"amount": [10, 20], "region": ["N", "S"]})
    assert chat.sql("SELECT region, amount FROM sales ORDER BY region").rows() == [
        ("N", 10),
        ("S", 20),
    ]
    dataset = chat._session.registry.get("sales")
    assert (dataset.row_count, dataset.column_count) == (2, 2)  # the card follows too


def test_the_models_queries_see_the_reassigned_variable_too(
    chat: ChatDF, namespace: dict[str, Any], gemini_env: FakeGemini
) -> None:
    namespace["df_sales"] = pl.DataFrame({"amount": [1, 2, 3]})
    follow(chat, "df_sales", "sales")
    for _ in range(2):
        gemini_env.add_stream([function_call("execute_sql", {"query": TOTAL_SQL})])
        gemini_env.add_stream(text_chunks("Here is the total."))
    assert chat.ask("What is the total?").result.item() == 6
    namespace["df_sales"] = pl.DataFrame({"amount": [10, 20]})
    assert chat.ask("And now?").result.item() == 30


def test_an_unchanged_frame_is_not_written_again(
    chat: ChatDF, namespace: dict[str, Any], tmp_path: Path
) -> None:
    namespace["df_sales"] = pl.DataFrame({"amount": [1, 2, 3]})
    follow(chat, "df_sales", "sales")
    before = version(chat, "sales")
    location = chat._session.registry.tables()["sales"].location
    for _ in range(3):
        assert total(chat) == 6
    assert version(chat, "sales") == before
    assert chat._session.registry.tables()["sales"].location == location
    namespace["df_sales"] = namespace["df_sales"].clone()  # same data, another object
    assert total(chat) == 6
    assert version(chat, "sales") > before
    assert not Path(location).exists()  # the old snapshot was deleted


def test_pandas_edits_in_place_reach_the_next_query(
    chat: ChatDF, namespace: dict[str, Any]
) -> None:
    frame = pd.DataFrame({"amount": [1, 2, 3]})
    namespace["df_sales"] = frame
    follow(chat, "df_sales", "sales")
    assert total(chat) == 6
    frame.loc[0, "amount"] = 100  # same object, same shape
    assert total(chat) == 105
    frame.loc[3] = [1000]  # a new row
    assert total(chat) == 1105
    frame["region"] = "N"  # a new column
    assert chat.sql("SELECT DISTINCT region FROM sales").item() == "N"


def test_polars_edits_in_place_reach_the_next_query(
    chat: ChatDF, namespace: dict[str, Any]
) -> None:
    frame = pl.DataFrame({"amount": [1, 2, 3]})
    namespace["df_sales"] = frame
    follow(chat, "df_sales", "sales")
    assert total(chat) == 6
    frame[1, "amount"] = 50
    assert total(chat) == 54


@pytest.mark.parametrize(
    "make",
    [
        lambda rows: pl.DataFrame({"amount": rows}).lazy(),
        lambda rows: pa.table({"amount": rows}),
    ],
    ids=["lazyframe", "arrow"],
)
def test_immutable_frames_are_followed_by_identity(
    chat: ChatDF, namespace: dict[str, Any], make: Any
) -> None:
    namespace["df_sales"] = make([1, 2])
    follow(chat, "df_sales", "sales")
    assert total(chat) == 3
    namespace["df_sales"] = make([5, 5, 5])
    assert total(chat) == 15


def test_adding_an_object_follows_the_one_variable_that_holds_it(
    chat: ChatDF, namespace: dict[str, Any]
) -> None:
    namespace["df_sales"] = pl.DataFrame({"amount": [1, 2, 3]})
    dataset = chat.add(namespace["df_sales"], name="sales")
    assert dataset.source == "<polars.DataFrame df_sales>"
    namespace["df_sales"] = pl.DataFrame({"amount": [7]})
    assert total(chat) == 7


def test_an_object_two_variables_hold_is_followed_as_an_object(
    chat: ChatDF, namespace: dict[str, Any]
) -> None:
    frame = pd.DataFrame({"amount": [1, 2, 3]})
    namespace["a"] = namespace["b"] = frame
    assert chat.add(frame, name="sales").source == "<pandas.DataFrame>"
    frame.loc[0, "amount"] = 11  # in-place edits are still seen
    assert total(chat) == 16
    namespace["a"] = pd.DataFrame({"amount": [0]})  # but no variable is followed
    assert total(chat) == 16


def test_a_deleted_variable_is_a_clear_error_for_queries_that_read_it(
    chat: ChatDF, namespace: dict[str, Any], parquet_file: Path
) -> None:
    namespace["df_sales"] = pl.DataFrame({"amount": [1, 2, 3]})
    follow(chat, "df_sales", "sales")
    chat.add(parquet_file, name="cities")
    del namespace["df_sales"]
    with pytest.raises(
        DatasetError,
        match="Dataset 'sales' follows the notebook variable 'df_sales', which no longer exists",
    ):
        total(chat)
    assert chat.sql("SELECT count(*) FROM cities").item() == 5  # other tables still work
    namespace["df_sales"] = pl.DataFrame({"amount": [4]})
    assert total(chat) == 4


def test_a_variable_that_no_longer_holds_a_frame(chat: ChatDF, namespace: dict[str, Any]) -> None:
    namespace["df_sales"] = pl.DataFrame({"amount": [1]})
    follow(chat, "df_sales", "sales")
    namespace["df_sales"] = "oops"
    with pytest.raises(DatasetError, match="which now holds a str, not a DataFrame"):
        total(chat)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("missing", None, "No variable named 'missing' in the notebook"),
        ("n", 5, "The variable 'n' holds a int, not a DataFrame"),
        ("not a name", None, "'not a name' is not a variable name"),
    ],
)
def test_add_variable_refuses_clearly(
    chat: ChatDF, namespace: dict[str, Any], variable: str, value: Any, message: str
) -> None:
    if value is not None:
        namespace[variable] = value
    with pytest.raises(DatasetError, match=message):
        follow(chat, variable)
    assert chat.datasets == []


def test_a_variable_named_like_a_keyword_or_a_taken_name_gets_a_number(
    chat: ChatDF, namespace: dict[str, Any]
) -> None:
    namespace["select"] = pl.DataFrame({"a": [1]})
    follow(chat, "select")
    chat.add(pl.DataFrame({"amount": [5]}), name="df_sales")
    namespace["df_sales"] = pl.DataFrame({"amount": [1, 2]})
    follow(chat, "df_sales")
    assert [d.name for d in chat.datasets] == ["select_2", "df_sales", "df_sales_2"]
    assert chat.sql("SELECT sum(amount) AS n FROM df_sales_2").item() == 3
    with pytest.raises(DatasetError, match="it is a SQL keyword"):  # a name given is kept or refused
        follow(chat, "select", "select")


# -- CHATDF_NAMESPACE_TABLES: every frame variable offered ------------------------------------


@pytest.fixture
def offering(tmp_path: Path) -> DatasetRegistry:
    registry = DatasetRegistry(load_settings(namespace_tables=True, max_datasets=3), tmp_path)
    yield registry
    registry.close()


async def test_namespace_tables_offers_every_frame_variable(offering: DatasetRegistry) -> None:
    ns: dict[str, Any] = {
        "sales": pl.DataFrame({"amount": [1, 2]}),
        "people": pd.DataFrame({"name": ["a"]}),
        "_private": pl.DataFrame({"x": [1]}),
        "_3": pl.DataFrame({"x": [1]}),  # IPython's output history
        "order": pl.DataFrame({"x": [1]}),  # a SQL keyword cannot be a table name
        "threshold": 5,
    }
    offering.attach_namespace(ns)
    assert sorted(await offering.sync_notebook()) == ["people", "sales"]
    assert [d.name for d in offering.datasets] == ["sales", "people"]
    assert await offering.sync_notebook() == []  # nothing new, nothing changed

    ns["sales"] = pl.DataFrame({"amount": [1, 2, 3]})
    del ns["people"]
    assert sorted(await offering.sync_notebook()) == ["people", "sales"]
    assert [(d.name, d.row_count) for d in offering.datasets] == [("sales", 3)]


async def test_sync_notebook_writes_changed_frames_again_for_the_prompt(
    offering: DatasetRegistry,
) -> None:
    ns: dict[str, Any] = {"sales": pl.DataFrame({"amount": [1, 2]})}
    offering.attach_namespace(ns)
    await offering.sync_notebook()
    ns["sales"] = pl.DataFrame({"amount": [1, 2, 3], "region": ["N", "S", "E"]})
    assert await offering.sync_notebook(changed_frames=False) == []
    assert offering.get("sales").column_count == 1  # untouched until asked
    assert await offering.sync_notebook() == ["sales"]
    assert (offering.get("sales").row_count, offering.get("sales").column_count) == (3, 2)


async def test_namespace_tables_stops_at_the_dataset_limit(
    offering: DatasetRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    offering.attach_namespace({f"t{i}": pl.DataFrame({"i": [i]}) for i in range(5)})
    with caplog.at_level(logging.INFO, logger="chatdf"):
        await offering.sync_notebook()
    assert [d.name for d in offering.datasets] == ["t0", "t1", "t2"]
    assert "t3 not offered: Dataset limit reached (3/3)" in caplog.text


async def test_without_the_setting_nothing_is_offered(tmp_path: Path) -> None:
    registry = DatasetRegistry(load_settings(), tmp_path)
    registry.attach_namespace({"sales": pl.DataFrame({"amount": [1]})})
    assert await registry.sync_notebook() == []
    assert registry.datasets == []


async def test_user_added_frames_are_not_offered_twice(offering: DatasetRegistry) -> None:
    frame = pl.DataFrame({"amount": [1]})
    ns: dict[str, Any] = {"sales": frame, "copy_of_sales": frame}
    offering.attach_namespace(ns)
    await offering.add(frame, "mine")  # two variables hold it: followed as an object
    await offering.sync_notebook()
    assert [d.name for d in offering.datasets] == ["mine"]


def test_namespace_frames_lists_only_usable_names() -> None:
    frame = pl.DataFrame({"a": [1]})
    assert namespace_frames({"ok": frame, "_x": frame, "from": frame, "n": 1}) == {"ok": frame}

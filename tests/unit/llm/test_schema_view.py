"""The model's view of wide data: compact schemas, ranked and cut to the prompt budget."""

from __future__ import annotations

import polars as pl
import pytest

from chatdf.llm.prompts import quote_identifier, system_prompt
from chatdf.llm.schema_view import approx_tokens, datasets_section, short_type
from chatdf.models import ColumnInfo, Dataset, columns_of
from chatdf.privacy import SCHEMA_ONLY_PROMPT

CYCLE = [pl.Int64, pl.String, pl.Float64, pl.Date, pl.Datetime("us")]


def wide(name: str, width: int) -> Dataset:
    schema = {f"col_{i:03d}": CYCLE[i % len(CYCLE)] for i in range(width)}
    return Dataset(
        name=name, source=f"/d/{name}.parquet", kind="parquet", row_count=10_000,
        column_count=width, columns=columns_of(schema),
    )


@pytest.mark.parametrize("tables", [1, 10, 20])
@pytest.mark.parametrize("width", [50, 600])
@pytest.mark.parametrize("budget", [4_000, 16_000])
def test_the_whole_prompt_stays_within_the_budget(tables: int, width: int, budget: int) -> None:
    prompt = system_prompt([wide(f"t{i}", width) for i in range(tables)], budget_tokens=budget)
    assert approx_tokens(prompt) <= budget
    for i in range(tables):  # every table is still named, with or without its columns
        assert f"t{i}" in prompt


def test_a_hundred_wide_tables_in_the_smallest_budget_are_all_named() -> None:
    prompt = system_prompt([wide(f"t{i}", 600) for i in range(100)], budget_tokens=4_000)
    assert approx_tokens(prompt) <= 4_000
    assert "more tables (no room to list their columns; call describe_table" in prompt
    assert all(f"t{i}" in prompt for i in range(100))


def test_narrow_tables_are_listed_whole_without_a_note() -> None:
    prompt = system_prompt([wide("orders", 50), wide("items", 50)])
    assert "- col_049: timestamp" in prompt and "- col_001: text" in prompt
    assert "more columns not listed" not in prompt


def test_cut_tables_keep_their_best_columns_and_say_how_many_are_hidden() -> None:
    tables = [wide(f"t{i}", 600) for i in range(20)]
    prompt = system_prompt(tables, focus="What is the average col_597 by col_596?")
    section = prompt[prompt.index("### t0 ") : prompt.index("### t1 ")]
    listed = [line for line in section.splitlines() if line.startswith("- col_")]
    assert "- col_597: float" in listed and "- col_596: text" in listed  # named in the question
    assert "- col_000: int" in listed and "- col_007: float" in listed  # leading columns
    hidden = 600 - len(listed)
    assert f"- … {hidden:,} more columns not listed: call describe_table(name='t0')" in section
    assert listed == sorted(listed)  # listed in table order, whatever their rank
    # The budget is shared: every table gets a similar share of lines.
    counts = [prompt.count(f"### t{i} ") for i in range(20)]
    assert counts == [1] * 20


def test_low_cardinality_values_are_listed_quoted_for_sql() -> None:
    orders = Dataset(
        name="orders", source="x", kind="parquet", row_count=3, column_count=2,
        columns=columns_of({"status": pl.String, "Ship Mode": pl.String}),
    )
    categories = {"orders": {"status": ["shipped", "pending"], "Ship Mode": ["Bob's truck"]}}
    prompt = system_prompt([orders], categories=categories)
    assert "- status: text, one of 'shipped', 'pending'" in prompt
    assert """- "Ship Mode": text, one of 'Bob''s truck'""" in prompt
    assert SCHEMA_ONLY_PROMPT not in prompt

    private = system_prompt([orders], categories=categories, privacy="schema")
    assert "shipped" not in private and "truck" not in private
    assert SCHEMA_ONLY_PROMPT in private and "- status: text" in private


@pytest.mark.parametrize(
    ("dtype", "short"),
    [
        (pl.Int32, "int"), (pl.UInt8, "int"), (pl.Float32, "float"), (pl.Decimal(10, 2), "decimal"),
        (pl.String, "text"), (pl.Categorical(), "text"), (pl.Enum(["a"]), "text"),
        (pl.Date, "date"), (pl.Datetime("us"), "timestamp"), (pl.Datetime("ms", "UTC"), "timestamptz"),
        (pl.Duration("us"), "interval"), (pl.Time, "time"), (pl.Boolean, "bool"),
        (pl.List(pl.Int64), "list<int>"), (pl.Struct({"a": pl.Int8}), "struct"),
    ],
)
def test_short_types(dtype: pl.DataType, short: str) -> None:
    assert short_type(ColumnInfo.from_polars("x", dtype)) == short


def test_section_alone_respects_a_tiny_budget() -> None:
    section = datasets_section([wide("t", 600)], 300, quote=quote_identifier)
    assert approx_tokens(section) <= 300
    assert "### t (10,000 rows, 600 columns)" in section

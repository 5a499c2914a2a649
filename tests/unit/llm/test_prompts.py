"""The system prompt: datasets, dialect notes that hold for the installed Polars, guidance."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from chatdf.llm.prompts import quote_identifier, system_prompt
from chatdf.models import Dataset, columns_of


def dataset(name: str, columns: dict[str, pl.DataType], rows: int = 1234) -> Dataset:
    return Dataset(
        name=name,
        source=f"/data/{name}.parquet",
        kind="parquet",
        row_count=rows,
        column_count=len(columns),
        columns=columns_of(columns),
    )


def test_lists_every_dataset_with_rows_and_friendly_column_types() -> None:
    prompt = system_prompt(
        [
            dataset("orders", {"order_id": pl.Int64, "Order Date": pl.Date, "total": pl.Float64}),
            dataset("customers", {"name": pl.String, "select": pl.Boolean}, rows=17),
        ],
        today=dt.date(2025, 3, 14),
    )
    assert "### orders (1,234 rows, 3 columns)" in prompt
    assert "- order_id: int" in prompt
    assert '- "Order Date": date' in prompt
    assert "- total: float" in prompt
    assert "### customers (17 rows, 2 columns)" in prompt
    assert '- "select": bool' in prompt  # reserved words are quoted
    assert "Today is 2025-03-14 (Friday)." in prompt
    assert "No datasets are loaded" not in prompt


def test_says_what_to_do_without_datasets() -> None:
    prompt = system_prompt([])
    assert "No datasets are loaded yet" in prompt
    assert "load_dataset" in prompt
    assert "DataFrame" in prompt


def test_has_role_dialect_limit_and_answer_guidance() -> None:
    prompt = system_prompt([dataset("t", {"a": pl.Int64})])
    assert "data analyst" in prompt
    assert "Polars SQL" in prompt
    assert "LIMIT" in prompt and "1000 rows" in prompt
    assert "markdown" in prompt
    assert "what the SQL does" in prompt


def test_wide_tables_are_cut_to_the_budget_with_a_note() -> None:
    wide = dataset("wide", {f"c{i}": pl.Int32 for i in range(6000)})
    prompt = system_prompt([wide], budget_tokens=16_000)
    assert "- c0: int" in prompt
    assert "- c5999: int" not in prompt
    assert "more columns not listed: call describe_table(name='wide')" in prompt


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("amount", "amount"),
        ("Amount", "Amount"),
        ("order", '"order"'),
        ("a b", '"a b"'),
        ('say "hi"', '"say ""hi"""'),
    ],
)
def test_quote_identifier(name: str, written: str) -> None:
    assert quote_identifier(name) == written


# The dialect notes promise these work and these fail. Checking them against the
# installed Polars keeps the prompt honest when Polars is upgraded.
WORKS = [
    "SELECT * FROM t RIGHT JOIN u ON t.id = u.id",
    "SELECT * FROM t ANTI JOIN u ON t.id = u.id",
    "SELECT * FROM t SEMI JOIN u ON t.id = u.id",
    "SELECT * FROM t FULL JOIN u USING (id)",
    "SELECT grp, COUNT(*) AS n FROM t GROUP BY ROLLUP(grp)",
    "SELECT grp, COUNT(*) AS n FROM t GROUP BY GROUPING SETS ((grp), ())",
    "SELECT id FROM t QUALIFY ROW_NUMBER() OVER (PARTITION BY grp ORDER BY id) = 1",
    "SELECT DISTINCT ON (grp) grp, id FROM t ORDER BY grp, id",
    "SELECT * EXCLUDE (name) FROM t",
    "SELECT TRY_CAST(name AS INTEGER) AS a, id::VARCHAR AS b, CAST(amount AS INTEGER) AS c FROM t",
    "SELECT COUNT(*) FILTER (WHERE amount > 2) AS n FROM t",
    "SELECT * FROM t ORDER BY amount DESC NULLS LAST LIMIT 2 OFFSET 1",
    (
        "SELECT ROW_NUMBER() OVER (ORDER BY id) AS a, RANK() OVER (ORDER BY id) AS b, "
        "NTILE(2) OVER (ORDER BY id) AS c, PERCENT_RANK() OVER (ORDER BY id) AS d FROM t"
    ),
    (
        "SELECT LAG(id) OVER (ORDER BY id) AS a, LEAD(id) OVER (ORDER BY id) AS b, "
        "FIRST_VALUE(id) OVER (PARTITION BY grp ORDER BY id) AS c FROM t"
    ),
    (
        "SELECT SUM(amount) OVER (PARTITION BY grp ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING "
        "AND CURRENT ROW) AS s FROM t"
    ),
    "SELECT SUM(amount) OVER w AS s FROM t WINDOW w AS (PARTITION BY grp)",
    (
        "SELECT MEDIAN(amount) AS a, QUANTILE_CONT(amount, 0.9) AS b, QUANTILE_DISC(amount, 0.5) AS c, "
        "STDDEV(amount) AS d, VARIANCE(amount) AS e, CORR(amount, amount) AS f FROM t"
    ),
    "SELECT STRING_AGG(name, ',' ORDER BY name) AS a, ARRAY_AGG(name) AS b FROM t",
    "SELECT * FROM t WHERE d >= DATE '2024-01-31' AND ts < TIMESTAMP '2025-01-31 12:00:00'",
    "SELECT EXTRACT(QUARTER FROM d) AS q, EXTRACT(DOW FROM d) AS w, EXTRACT(EPOCH FROM ts) AS e FROM t",
    (
        "SELECT DATE_TRUNC('month', d) AS a, STRFTIME(d, '%Y-%m') AS b, STRPTIME('2024-01-02', '%Y-%m-%d') AS c, "
        "CAST(ts AS DATE) AS e, d + INTERVAL '1 month' AS f, YEAR(d) AS g FROM t"
    ),
    "SELECT CAST(d AS INTEGER) - CAST(DATE '2024-01-01' AS INTEGER) AS days FROM t",
    (
        "SELECT CONCAT_WS('-', name, grp) AS a, SPLIT_PART(name, 'a', 1) AS b, STRPOS(name, 'b') AS c, "
        "LPAD(name, 3, '0') AS e, RIGHT(name, 1) AS f FROM t"
    ),
    "SELECT * FROM t WHERE name ILIKE 'B%' OR REGEXP_LIKE(name, '^c') OR name ~ '^z'",
    "SELECT DIV(7, 2) AS a, MOD(7, 2) AS b, GREATEST(1, 2) AS c, IFNULL(NULL, 1) AS e",
    'SELECT "Order Date" FROM t',
]
FAILS = [
    "SELECT TOP 2 * FROM t",
    "SELECT DATEDIFF('day', d, d) FROM t",
    "SELECT DATE_ADD(d, INTERVAL 1 DAY) FROM t",
    "SELECT TO_DATE('2024-01-01', '%Y-%m-%d')",
    "SELECT DATE(ts) FROM t",
    "SELECT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY amount) FROM t",
    "SELECT BOOL_AND(amount > 1) FROM t",
    "SELECT APPROX_COUNT_DISTINCT(name) FROM t",
    "SELECT * FROM t PIVOT (SUM(amount) FOR grp IN ('x', 'y'))",
    "SELECT SUM(amount) OVER (ORDER BY id RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t",
    'SELECT * FROM t WHERE name = "ab"',  # double quotes are identifiers
]


@pytest.fixture(scope="module")
def sql() -> pl.SQLContext:
    t = pl.DataFrame(
        {
            "id": [1, 2, 3],
            "grp": ["x", "x", "y"],
            "amount": [1.5, 2.5, 3.0],
            "name": ["ab", "b", "c"],
            "d": [dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 5)],
            "ts": [dt.datetime(2024, 1, 1, 10)] * 3,
            "Order Date": [dt.date(2024, 1, 1)] * 3,
        }
    )
    return pl.SQLContext(t=t, u=t)


@pytest.mark.parametrize("query", WORKS)
def test_dialect_notes_what_works(sql: pl.SQLContext, query: str) -> None:
    sql.execute(query, eager=True)


@pytest.mark.parametrize("query", FAILS)
def test_dialect_notes_what_does_not(sql: pl.SQLContext, query: str) -> None:
    with pytest.raises(pl.exceptions.PolarsError):
        sql.execute(query, eager=True)


# What the notes say the dialect layer translates, and what it still refuses: checked
# through the guard (with the layer) and Polars, as chatdf runs them.
TRANSLATED = [
    "SELECT MAX(DATE_DIFF('day', d, ts)) AS a, MAX(d) - MIN(d) AS b FROM t",
    "SELECT PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY amount) AS p FROM t",
    "SELECT grp, BOOL_OR(amount > 2) AS a, ARG_MAX(name, amount) AS b FROM t GROUP BY grp",
    "SELECT UNNEST(STRING_SPLIT(name, 'a')) AS part FROM t",
    "DESCRIBE t",
    "SHOW TABLES",
    "SUMMARIZE t",
]
STILL_UNSUPPORTED = [
    "SELECT TOP 2 * FROM t",
    "SELECT REGEXP_EXTRACT(name, 'a') AS x FROM t",
    "SELECT SUM(amount) OVER (ORDER BY d RANGE BETWEEN INTERVAL 1 DAY PRECEDING AND CURRENT ROW) AS s FROM t",
    "SELECT RANDOM() AS r FROM t",
]


def _through_the_layer(sql: pl.SQLContext, query: str) -> pl.DataFrame:
    from chatdf.engine.sqlguard import guard

    frame = sql.execute("SELECT * FROM t LIMIT 0", eager=True)
    catalog = {name: {c: str(dtype) for c, dtype in frame.schema.items()} for name in ("t", "u")}
    return sql.execute(guard(query, ["t", "u"], catalog=catalog).sql, eager=True)


@pytest.mark.parametrize("query", TRANSLATED)
def test_dialect_notes_what_the_layer_translates(sql: pl.SQLContext, query: str) -> None:
    assert "DuckDB forms are translated" in system_prompt([])
    _through_the_layer(sql, query)


@pytest.mark.parametrize("query", STILL_UNSUPPORTED)
def test_dialect_notes_what_the_layer_does_not(sql: pl.SQLContext, query: str) -> None:
    from chatdf.errors import QueryError

    with pytest.raises((pl.exceptions.PolarsError, QueryError)):
        _through_the_layer(sql, query)

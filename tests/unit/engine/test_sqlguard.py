"""The read-only guard: what it lets through, what it refuses and why."""

from __future__ import annotations

import polars as pl
import pytest
from sqlglot import exp

from chatdf.engine import Engine, guard
from chatdf.engine.sqlguard import MAX_SQL_CHARS, PolarsDialect, to_polars_sql
from chatdf.errors import QueryError
from chatdf.models import TableSource

ALLOWED = ["people", "Teams"]

HOSTILE = {
    "empty": "",
    "only whitespace and semicolons": "  ;; \n",
    "only a comment": "-- SELECT * FROM people",
    "two statements": "SELECT * FROM people; SELECT * FROM Teams",
    "stacked drop": "SELECT 1; DROP TABLE people",
    "drop": "DROP TABLE people",
    "create as select": "CREATE TABLE copy AS SELECT * FROM people",
    "insert": "INSERT INTO people VALUES (1)",
    "update": "UPDATE people SET id = 0",
    "delete in a cte": "WITH x AS (SELECT 1) DELETE FROM people",
    "truncate": "TRUNCATE people",
    "attach": "ATTACH 'other.db' AS other",
    "copy to a file": "COPY people TO '/tmp/out.csv'",
    "pragma": "PRAGMA database_list",
    "set": "SET threads = 1",
    "explain": "EXPLAIN SELECT * FROM people",
    "show tables": "SHOW TABLES",
    "describe": "DESCRIBE people",
    "select into": "SELECT * INTO copy FROM people",
    "load extension": "LOAD httpfs",
    "read_csv in from": "SELECT * FROM read_csv('/etc/passwd')",
    "quoted READ_CSV in from": "SELECT * FROM \"READ_CSV\"('/etc/passwd')",
    "read_parquet url in a join": "SELECT * FROM people JOIN read_parquet('http://x/y.parquet') p ON true",
    "read_ipc in a subquery": "SELECT * FROM people WHERE id IN (SELECT * FROM read_ipc('/tmp/x.arrow'))",
    "read_json in a cte": "WITH j AS (SELECT * FROM read_json('/tmp/x.json')) SELECT * FROM j",
    "reader in the select list": "SELECT read_csv('/etc/passwd') AS x FROM people",
    "scan_ function": "SELECT scan_parquet('/tmp/x.parquet') AS x",
    "glob": "SELECT * FROM glob('/etc/*')",
    "generate_series": "SELECT * FROM generate_series(1, 1000000000)",
    "generate_series of a reader": "SELECT * FROM generate_series(1, read_csv('x.csv'))",
    "unnest as a table": "SELECT * FROM UNNEST([1, 2]) AS v(x)",
    "lateral table function": "SELECT * FROM people, LATERAL read_csv('/etc/passwd')",
    "unknown table": "SELECT * FROM secrets",
    "schema-qualified table": "SELECT * FROM main.people",
    "catalog-qualified table": "SELECT * FROM db.main.people",
    "nul byte": "SELECT 1\x00",
    "unterminated string": "SELECT 'abc FROM people",
    "incomplete where": "SELECT * FROM people WHERE",
    "not sql": "please show me the data",
    "nesting bomb": "SELECT " + "(" * 5000 + "1" + ")" * 5000,
    "too long": "SELECT 1 AS x" + " " * MAX_SQL_CHARS,
    "not text": b"SELECT 1",
}


@pytest.mark.parametrize("sql", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_inputs_are_refused_as_validation_errors(sql: str) -> None:
    with pytest.raises(QueryError) as caught:
        guard(sql, ALLOWED)
    error = caught.value
    assert error.error_type == "validation"
    assert error.message and error.to_payload()["error_type"] == "validation"


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("DROP TABLE people", "Only SELECT queries are allowed (got DROP)"),
        ("EXPLAIN SELECT 1", "Only SELECT queries are allowed (got EXPLAIN)"),
        ("WITH x AS (SELECT 1) INSERT INTO people SELECT * FROM x", "(got INSERT)"),
        ("SELECT * INTO copy FROM people", "(got SELECT INTO)"),
        ("SELECT * FROM foo", "Unknown table 'foo'. Available tables: people, Teams"),
        ("SELECT 1; SELECT 2", "Only one statement is allowed (got 2)"),
        ("SELECT * FROM read_csv('/etc/passwd')", "Table functions are not allowed (got read_csv)"),
        (
            "SELECT read_parquet('x') AS y",
            "Functions that read files or URLs are not allowed (got read_parquet)",
        ),
        ("SELECT * FROM main.people", "Qualified table names are not allowed (got main.people)"),
        ("", "The query is empty"),
    ],
)
def test_messages_say_what_was_refused(sql: str, expected: str) -> None:
    with pytest.raises(
        QueryError, match=expected.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")
    ):
        guard(sql, ALLOWED)


def test_unknown_table_lists_the_available_ones_in_details() -> None:
    with pytest.raises(QueryError) as caught:
        guard("SELECT * FROM foo", ["b", "a"])
    assert caught.value.message == "Unknown table 'foo'. Available tables: a, b"
    assert caught.value.details["available"] == ["a", "b"]


@pytest.mark.parametrize(
    ("sql", "tables"),
    [
        ("SELECT * FROM people", ["people"]),
        ("select * from PEOPLE", ["people"]),  # Polars matches table names regardless of case
        ('SELECT * FROM "teams"', ["Teams"]),  # ... quoted ones too
        ("SELECT * FROM `people`", ["people"]),
        ("SELECT * FROM people p JOIN Teams t USING (team)", ["people", "Teams"]),
        ("WITH teams AS (SELECT 1 AS x) SELECT * FROM teams", []),  # a CTE shadows a dataset
        ("WITH top AS (SELECT * FROM people) SELECT * FROM top, Teams", ["people", "Teams"]),
        ("SELECT id FROM people UNION ALL SELECT 1 AS id", ["people"]),
        ("(SELECT id FROM people) EXCEPT (SELECT 2 AS id)", ["people"]),
        ("SELECT * FROM (VALUES (1, 'a')) AS v(x, y)", []),
        ("SELECT 1 AS one;", []),
        ("SELECT 'DROP TABLE people; read_csv(1)' AS s FROM people", ["people"]),
    ],
)
def test_read_only_queries_pass_with_the_tables_they_read(sql: str, tables: list[str]) -> None:
    assert guard(sql, ALLOWED).tables == tables


def test_polars_gets_text_generated_from_the_checked_tree() -> None:
    sql = "SELECT id -- the key\n  /* nested /* comment */ still */ FROM people;  "
    guarded = guard(sql, ALLOWED)
    assert guarded.sql == 'SELECT "id" FROM "people"'  # every name quoted
    assert guarded.tree.sql() == "SELECT id FROM people"  # comments are gone from the tree too
    assert to_polars_sql(guarded.tree) == guarded.sql


REPRODUCTION = (
    "SELECT b FROM t WINDOW w AS (ORDER BY $a-b$) UNION ALL SELECT * FROM "
    "read_csv('/etc/passwd', has_header => false, separator => '|') --$a-b$)"
)


def test_the_dollar_quote_reproduction_never_reaches_polars() -> None:
    # sqlglot reads $a-b$ ... $a-b$ as one string; Polars as a placeholder, a
    # subtraction and a comment that hides the closing tag.
    with pytest.raises(QueryError) as caught:
        guard(REPRODUCTION, ["t"])
    assert caught.value.error_type == "validation"
    assert caught.value.details["reason"] == "dollar_quoted"


# Inputs two parsers read differently; each refused with a reason that says why.
DIFFERENTIALS = {
    "$1": ("SELECT $1 FROM people", "placeholder"),
    "$name": ("SELECT $a FROM people", "placeholder"),
    "?": ("SELECT ? FROM people", "placeholder"),
    ":name": ("SELECT * FROM people WHERE id = :id", "placeholder"),
    "@name (DuckDB's ABS, Polars' column)": ("SELECT @id FROM people", "placeholder"),
    "@@session": ("SELECT @@version FROM people", "placeholder"),
    "$$ string": ("SELECT $$abc$$ AS s FROM people", "dollar_quoted"),
    "$tag$ string": ("SELECT $q$it's$q$ AS s FROM people", "dollar_quoted"),
    "E'' escapes": ("SELECT E'a\\'b' AS s FROM people", "string_prefix"),
    "N'' string": ("SELECT N'abc' AS s FROM people", "string_prefix"),
    "X'' bytes": ("SELECT X'41' AS s FROM people", "string_prefix"),
    "B'' bits": ("SELECT B'01' AS s FROM people", "string_prefix"),
    "U&'' unicode escapes": ("SELECT U&'\\0041' AS s FROM people", "string_prefix"),
    "r'' raw string": ("SELECT r'a\\b' AS s FROM people", "string_prefix"),
}


@pytest.mark.parametrize("sql, reason", list(DIFFERENTIALS.values()), ids=list(DIFFERENTIALS))
def test_text_polars_reads_differently_is_refused_with_a_reason(sql: str, reason: str) -> None:
    with pytest.raises(QueryError) as caught:
        guard(sql, ALLOWED)
    assert caught.value.error_type == "validation"
    assert caught.value.details["reason"] == reason


@pytest.mark.parametrize(
    "sql", [REPRODUCTION, "SELECT $1 AS x", "SELECT ? AS x", "SELECT $$a$$ AS x"]
)
def test_generation_alone_refuses_what_it_cannot_pass_on_exactly(sql: str) -> None:
    # to_polars_sql proves its own output, whatever tree it is handed (a later
    # rewrite step may hand it trees the guard never saw).
    tree = PolarsDialect().parse(sql)[0]
    with pytest.raises(QueryError) as caught:
        to_polars_sql(tree)
    assert caught.value.details["reason"] == "round_trip"


def test_a_name_that_looks_like_code_stays_one_name() -> None:
    # No parser produces this tree; a rewrite step could. It must stay one name.
    name = "x */ FROM read_csv('/etc/passwd') /* -- $a$"
    tree = PolarsDialect().parse("SELECT 1 AS y")[0]
    tree.expressions[0].set("alias", exp.to_identifier(name))
    assert pl.SQLContext().execute(to_polars_sql(tree), eager=True).columns == [name]


LITERALS = [
    "it's",
    "back\\slash\\",
    "two\n    lines",
    "-- not a comment",
    "/* not a comment */",
    "$$ not a dollar quote $a$",
    "ünï ☃ 𝄞",
    '"double" and `back`',
    "?:name@x",
    "",
]


@pytest.mark.parametrize("value", LITERALS)
def test_string_values_reach_polars_unchanged(value: str) -> None:
    quoted = "'" + value.replace("'", "''") + "'"
    guarded = guard(f"SELECT {quoted} AS v, 1 AS n", ALLOWED)
    assert pl.SQLContext().execute(guarded.sql, eager=True).to_dicts() == [{"v": value, "n": 1}]


@pytest.mark.parametrize("name", ["Order Date", 'say "hi"', "größe", "select", "a--b", "x/*y"])
def test_column_names_reach_polars_unchanged(name: str) -> None:
    frame = pl.DataFrame({name: [1]})
    quoted = '"' + name.replace('"', '""') + '"'
    guarded = guard(f"SELECT {quoted} FROM people", ["people"])
    assert pl.SQLContext(people=frame).execute(guarded.sql, eager=True).columns == [name]


def test_a_reader_hidden_by_nested_comments_never_reaches_polars() -> None:
    # Polars nests block comments like sqlglot; whichever way a parser reads
    # this, the text Polars gets has no read_csv in it.
    guarded = guard("SELECT 1 AS x /* /* */ FROM read_csv('/etc/passwd') */", ALLOWED)
    assert "read_csv" not in guarded.sql
    assert pl.SQLContext().execute(guarded.sql, eager=True).to_dicts() == [{"x": 1}]


def test_backslashes_in_strings_are_literal_for_both_parsers() -> None:
    guarded = guard(r"SELECT 'a\' AS x, 'b' AS y", ALLOWED)
    assert pl.SQLContext().execute(guarded.sql, eager=True).to_dicts() == [{"x": "a\\", "y": "b"}]


async def test_a_normal_query_still_works_after_hostile_ones(
    make_engine, tables: dict[str, TableSource]
) -> None:
    engine: Engine = await make_engine()
    for sql in list(HOSTILE.values())[:25]:
        with pytest.raises(QueryError) as caught:
            await engine.run(sql, tables)
        assert caught.value.error_type == "validation"
    # The guard runs before any worker exists: refused SQL never started one.
    assert engine.worker_pids() == []
    result = await engine.run("SELECT COUNT(*) AS n FROM people", tables)
    assert result.data.item() == 6

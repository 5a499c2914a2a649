"""Hostile uses of the forms the dialect layer allows: exploration statements and series.

Each must be refused by the guard (validation) or answered only from the catalog;
nothing may name a file, a reader or a table outside the registry.
"""

from __future__ import annotations

import pytest
from sqlglot import exp

from chatdf.engine.sqlguard import guard
from chatdf.errors import QueryError

# A column name built to break out of the generated text if quoting were wrong.
CATALOG = {
    "sales": {
        "region": "String",
        "amount": "Int64",
        "x'); SELECT * FROM read_csv('/etc/passwd": "String",
    },
    'weird"name': {"a": "Int64"},
}

HOSTILE = {
    "DESCRIBE a path": "DESCRIBE '/etc/passwd'",
    "DESCRIBE a reader": "DESCRIBE read_csv('/etc/passwd')",
    "DESCRIBE a query with a reader": "DESCRIBE SELECT * FROM read_csv('/etc/passwd')",
    "DESCRIBE an unregistered table": "DESCRIBE secrets",
    "DESCRIBE two tables": "DESCRIBE sales regions",
    "SUMMARIZE a reader": "SUMMARIZE read_parquet('/tmp/x.parquet')",
    "SUMMARIZE a query": "SUMMARIZE SELECT * FROM sales",
    "SHOW DATABASES": "SHOW DATABASES",
    "SHOW a path": "SHOW '/etc'",
    "SHOW TABLES then a statement": "SHOW TABLES; SELECT * FROM read_csv('/etc/passwd')",
    "information_schema joined with a reader": (
        "SELECT * FROM information_schema.columns c JOIN read_csv('/etc/passwd') r ON TRUE"
    ),
    "information_schema of something else": "SELECT * FROM information_schema.schemata",
    "another schema": "SELECT * FROM pg_catalog.pg_tables",
    "generate_series of a subquery": "SELECT * FROM generate_series(1, (SELECT COUNT(*) FROM sales))",
    "generate_series of a reader": "SELECT * FROM generate_series(1, read_csv('/etc/passwd'))",
    "range of a column": "SELECT * FROM sales, range(amount)",
    "huge series": "SELECT * FROM range(0, 99999999999)",
    "PIVOT a reader": "PIVOT read_csv('/etc/passwd') ON a IN ('x') USING COUNT(*)",
    "PIVOT an unregistered table": "PIVOT secrets ON a IN ('x') USING COUNT(*) GROUP BY b",
    "PIVOT with a reader in the values": (
        "PIVOT sales ON region IN ((SELECT * FROM read_csv('/etc/passwd'))) USING SUM(amount)"
    ),
    "PIVOT with a reader in the aggregate": (
        "PIVOT sales ON region IN ('n') USING SUM((SELECT COUNT(*) FROM read_csv('/etc/passwd')))"
    ),
    "PIVOT then a reader after ORDER BY": (
        "PIVOT sales ON region IN ('n') USING SUM(amount) GROUP BY amount "
        "ORDER BY (SELECT COUNT(*) FROM read_csv('/etc/passwd'))"
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_exploration_is_refused(case: str) -> None:
    with pytest.raises(QueryError) as caught:
        guard(HOSTILE[case], list(CATALOG), catalog=CATALOG)
    assert caught.value.error_type == "validation"
    assert "/etc/passwd" not in caught.value.message or "read_csv" not in caught.value.message


@pytest.mark.parametrize(
    "sql",
    [
        "DESCRIBE sales",
        "SUMMARIZE sales",
        "SHOW TABLES",
        "SELECT * FROM information_schema.columns",
        'DESCRIBE "weird""name"',
    ],
)
def test_allowed_exploration_reads_only_registered_tables(sql: str) -> None:
    checked = guard(sql, list(CATALOG), catalog=CATALOG)
    assert set(checked.tables) <= {"sales"}
    # The hostile column name stays a quoted name: no call to a reader anywhere in the tree.
    calls = [n.name.casefold() for n in checked.tree.find_all(exp.Anonymous)]
    assert not any(name.startswith("read_") for name in calls), calls


def test_exploration_without_a_catalog_is_still_refused() -> None:
    for sql in ("DESCRIBE sales", "SHOW TABLES", "SUMMARIZE sales"):
        with pytest.raises(QueryError):
            guard(sql, ["sales"])

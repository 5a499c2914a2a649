"""Hostile SQL: each input is refused with a clear validation error, nothing leaks,
and the same engine answers a normal query right after.

Every input is tried against each layer on its own:

* through ``Engine.run``, the one path ``chat.sql``, the model's ``execute_sql``
  and the widget's Run share (SQL guard, then the worker's plan check);
* as raw text through an engine with no SQL guard in front (real workers):
  the plan check alone must keep every secret in, whatever Polars makes of
  the text, and the engine must keep answering.

Targets are real files next to the registered data (a ``.env`` with a fake
key, private rows as CSV, parquet, IPC and JSON), ``/etc/passwd``, and a
loopback URL served by a local HTTP server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path

import polars as pl
import pytest
import pytest_asyncio

from chatdf.engine import Engine, GuardedQuery
from chatdf.engine.sqlguard import MAX_SQL_CHARS
from chatdf.errors import QueryError
from chatdf.models import TableSource
from chatdf.settings import load_settings

pytestmark = pytest.mark.asyncio(loop_scope="module")

REPRODUCTION = (
    "SELECT region FROM sales WINDOW w AS (ORDER BY $a-b$) UNION ALL SELECT * FROM "
    "read_csv('<<target>>', has_header => false, separator => '|') --$a-b$)"
)
ENV = "read_csv('<<env>>')"
CSV = "read_csv('<<csv>>')"

CORPUS: dict[str, str] = {
    # -- the reported bypass and its variants ------------------------------------------
    "reproduction on /etc/passwd": REPRODUCTION.replace("<<target>>", "/etc/passwd"),
    "reproduction on .env": REPRODUCTION.replace("<<target>>", "<<env>>"),
    "reproduction on a loopback URL": (
        "SELECT region, amount FROM sales WINDOW w AS (ORDER BY $a-b$) UNION ALL "
        "SELECT * FROM read_parquet('<<url>>') --$a-b$)"
    ),
    "bare $$ around the reader": (
        f"SELECT region FROM sales WINDOW w AS (ORDER BY $$) UNION ALL SELECT * FROM {ENV} --$$)"
    ),
    "dollar tag with digits": f"SELECT $t1$ x $t1$ AS s UNION ALL SELECT * FROM {ENV}",
    # -- placeholders and string forms Polars reads its own way --------------------------
    "$1 placeholder": "SELECT * FROM sales WHERE amount > $1",
    "? placeholder": "SELECT * FROM sales WHERE amount > ?",
    ":name placeholder": "SELECT * FROM sales WHERE region = :region",
    "@name": "SELECT @amount AS a FROM sales",
    "E'' string hiding a quote": f"SELECT E'\\'' AS s, * FROM {ENV} --'",
    "N'' string": f"SELECT N'x' AS s FROM {ENV}",
    "X'' bytes": "SELECT X'2F6574632F706173737764' AS path",
    "U&'' escapes": "SELECT U&'\\002F' AS s FROM sales",
    "backslash before the closing quote": f"SELECT 'a\\' AS x, * FROM {ENV} --'",
    # -- comments ----------------------------------------------------------------------------
    "reader after a block comment": f"SELECT region FROM sales /* x */ UNION ALL SELECT * FROM {CSV}",
    "nested comment left open": f"SELECT 1 AS x /* /* */ UNION ALL SELECT * FROM {ENV} /* */",
    "comment between reader and parenthesis": "SELECT * FROM read_csv/**/('<<env>>')",
    # -- more than one statement --------------------------------------------------------------
    "second statement": f"SELECT 1 AS x; SELECT * FROM {ENV}",
    "semicolon inside a string, then a statement": f"SELECT ';' AS x; SELECT * FROM {ENV}",
    "fullwidth semicolon": f"SELECT 1 AS x\uff1b SELECT * FROM {ENV}",
    "statement after a line comment": "SELECT 1 AS x -- ;\n; DROP TABLE sales",
    # -- statements that are not queries ----------------------------------------------------
    "DROP TABLE": "DROP TABLE sales",
    "CREATE TABLE AS a reader": f"CREATE TABLE leak AS SELECT * FROM {ENV}",
    "CREATE VIEW": f"CREATE VIEW leak AS SELECT * FROM {CSV}",
    "INSERT": "INSERT INTO sales VALUES ('x', 1)",
    "UPDATE": "UPDATE sales SET amount = 0",
    "DELETE": "DELETE FROM sales",
    "TRUNCATE": "TRUNCATE sales",
    "ALTER": "ALTER TABLE sales RENAME TO gone",
    "COPY TO a file": "COPY sales TO '/tmp/chatdf-leak.csv'",
    "COPY FROM a file": "COPY sales FROM '<<env>>'",
    "ATTACH": "ATTACH '<<dir>>/x.db' AS x",
    "PRAGMA": "PRAGMA database_list",
    "SET": "SET enable_external_access = true",
    "INSTALL": "INSTALL httpfs",
    "LOAD": "LOAD httpfs",
    "EXPORT DATABASE": "EXPORT DATABASE '/tmp/chatdf-leak'",
    "EXPLAIN a reader": f"EXPLAIN SELECT *, 1 AS one FROM {ENV}",
    "DESCRIBE a reader": f"DESCRIBE SELECT * FROM {ENV}",
    "SHOW TABLES": "SHOW TABLES",
    "SUMMARIZE": "SUMMARIZE sales",
    "CALL": "CALL pragma_version()",
    "CREATE SECRET": "CREATE SECRET s (TYPE S3, KEY_ID 'x', SECRET 'y')",
    # -- table functions, however spelled ---------------------------------------------
    "read_csv": f"SELECT * FROM {ENV}",
    "read_csv_auto": "SELECT * FROM read_csv_auto('<<csv>>')",
    "read_parquet": "SELECT * FROM read_parquet('<<parquet>>')",
    "read_parquet of a list": "SELECT * FROM read_parquet(['<<parquet>>', '<<parquet>>'])",
    "read_parquet of a loopback URL": "SELECT * FROM read_parquet('<<url>>')",
    "read_ipc": "SELECT * FROM read_ipc('<<ipc>>')",
    "read_json": "SELECT * FROM read_json('<<json>>')",
    "read_ndjson": "SELECT * FROM read_ndjson('<<json>>')",
    "read_text": "SELECT * FROM read_text('<<env>>')",
    "scan_csv": "SELECT * FROM scan_csv('<<csv>>')",
    "glob": "SELECT * FROM glob('<<dir>>/*')",
    "a glob in a reader": "SELECT * FROM read_csv('<<dir>>/*.csv')",
    "parquet_scan": "SELECT * FROM parquet_scan('<<parquet>>')",
    "generate_series of a subquery": f"SELECT * FROM generate_series(1, (SELECT COUNT(*) FROM {ENV}))",
    "generate_series of a reader": "SELECT * FROM generate_series(1, read_csv('<<env>>'))",
    "generate_series of a column": "SELECT * FROM sales, generate_series(1, amount)",
    "generate_series of a billion rows": "SELECT * FROM generate_series(1, 1000000000)",
    "qualified generate_series": "SELECT * FROM main.generate_series(1, 10)",
    "information_schema without a catalog": "SELECT * FROM information_schema.columns",
    "unnest as a table": "SELECT * FROM UNNEST(['a', 'b']) AS t(v)",
    "quoted reader name": "SELECT * FROM \"read_csv\"('<<env>>')",
    "backticked reader name": "SELECT * FROM `read_csv`('<<env>>')",
    "mixed-case reader name": "SELECT * FROM ReAd_CsV('<<env>>')",
    "homoglyph reader name": "SELECT * FROM re\u0430d_csv('<<env>>')",
    "reader as a scalar": "SELECT read_csv('<<env>>') AS x FROM sales",
    "string as a table": "SELECT * FROM '<<env>>'",
    "quoted path as a table": 'SELECT * FROM "<<env>>"',
    # -- names that are not registered tables -------------------------------------------
    "unknown table": "SELECT * FROM private",
    "schema-qualified table": "SELECT * FROM main.sales",
    "catalog-qualified table": "SELECT * FROM db.main.sales",
    "CTE shadowing a registered name": f"WITH sales AS (SELECT * FROM {CSV}) SELECT * FROM sales",
    # -- a reader in every clause -----------------------------------------------------------
    "subquery in the select list": f"SELECT (SELECT MAX(secret) FROM {CSV}) AS s FROM sales",
    "subquery in WHERE IN": f"SELECT * FROM sales WHERE region IN (SELECT secret FROM {CSV})",
    "subquery in EXISTS": f"SELECT * FROM sales WHERE EXISTS (SELECT 1 FROM {ENV})",
    "subquery in HAVING": (
        f"SELECT region FROM sales GROUP BY region HAVING COUNT(*) < (SELECT COUNT(*) FROM {ENV})"
    ),
    "subquery in ORDER BY": f"SELECT * FROM sales ORDER BY (SELECT COUNT(*) FROM {ENV})",
    "subquery in GROUP BY": f"SELECT COUNT(*) AS n FROM sales GROUP BY (SELECT 1 FROM {ENV})",
    "subquery in JOIN ON": (
        f"SELECT * FROM sales s JOIN regions r ON s.region = (SELECT MAX(secret) FROM {CSV})"
    ),
    "subquery in CASE": f"SELECT CASE WHEN amount > 0 THEN (SELECT 1 FROM {ENV}) END AS c FROM sales",
    "subquery in a function argument": (
        f"SELECT COALESCE(region, (SELECT MAX(secret) FROM {CSV})) AS r FROM sales"
    ),
    "reader joined": f"SELECT * FROM sales JOIN {CSV} AS p ON true",
    "reader comma-joined": f"SELECT * FROM sales, {CSV}",
    "reader in a UNION arm": f"SELECT region FROM sales UNION SELECT secret FROM {CSV}",
    "reader in an INTERSECT arm": f"SELECT region FROM sales INTERSECT SELECT secret FROM {CSV}",
    "reader in an EXCEPT arm": f"SELECT secret FROM {CSV} EXCEPT SELECT region FROM sales",
    "reader in a nested CTE": (
        f"WITH a AS (WITH b AS (SELECT * FROM {CSV}) SELECT * FROM b) SELECT * FROM a"
    ),
    "reader in a LATERAL subquery": f"SELECT * FROM sales, LATERAL (SELECT * FROM {CSV}) p",
    "LATERAL table function": f"SELECT * FROM sales, LATERAL {CSV}",
    "reader inside VALUES": f"SELECT * FROM (VALUES ((SELECT MAX(secret) FROM {CSV}))) v(x)",
    "VALUES joined to a reader": f"SELECT * FROM (VALUES (1)) v(x), {CSV}",
    # -- size ----------------------------------------------------------------------------------
    "too long": "SELECT 1 AS x" + " " * MAX_SQL_CHARS,
    "nesting bomb": "SELECT " + "(" * 3000 + "1" + ")" * 3000 + " AS x",
    "deep subqueries": "SELECT * FROM " + "(SELECT * FROM " * 400 + "sales" + ") t" * 400,
    "two thousand UNION arms, then a reader": (
        " UNION ALL ".join(["SELECT 'a' AS s"] * 2000) + f" UNION ALL SELECT secret FROM {CSV}"
    ),
}

# Accepted, because what reaches Polars is the harmless part alone.
NEUTRALIZED: dict[str, str] = {
    "reader in a line comment": f"SELECT COUNT(*) AS n FROM sales -- UNION ALL SELECT * FROM {ENV}",
    "reader in a block comment": f"SELECT COUNT(*) AS n FROM sales /* UNION ALL SELECT * FROM {ENV} */",
    "reader in a string": "SELECT COUNT(*) AS n, 'x FROM read_csv(''<<env>>'')' AS s FROM sales",
    "reader as a column name": "SELECT COUNT(*) AS n, 1 AS \"read_csv('<<env>>')\" FROM sales",
}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The registered datasets: sales (parquet), regions (a CSV glob), notes (IPC)."""
    root = tmp_path_factory.mktemp("data")
    sales = pl.DataFrame({"region": ["north", "south", "north"], "amount": [3, 5, 7]})
    sales.write_parquet(root / "sales.parquet")
    pl.DataFrame({"region": ["north"], "city": ["Oslo"]}).write_csv(root / "regions-1.csv")
    pl.DataFrame({"region": ["south"], "city": ["Lima"]}).write_csv(root / "regions-2.csv")
    pl.DataFrame({"note": ["hello"]}).write_ipc(root / "notes.arrow")
    return root


@pytest.fixture(scope="module")
def tables(data: Path) -> dict[str, TableSource]:
    return {
        "sales": TableSource(name="sales", kind="parquet", location=str(data / "sales.parquet")),
        "regions": TableSource(name="regions", kind="csv", location=str(data / "regions-*.csv")),
        "notes": TableSource(name="notes", kind="ipc", location=str(data / "notes.arrow")),
    }


_SERVE = """
import sys, time
from pathlib import Path
from tests.http_server import LocalHTTPServer
with LocalHTTPServer(Path(sys.argv[1])) as server:
    print(server.url("/"), flush=True)
    time.sleep(3600)
"""


@pytest.fixture(scope="module")
def private_server(secrets: dict[str, Path]) -> Iterator[str]:
    """The secrets folder served on 127.0.0.1, like a private service, from its own
    process (Polars may hold the GIL while it reads a URL in this one)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE, str(secrets["env"].parent)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), "the private server did not start"
        yield url
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def render(secrets: dict[str, Path], private_server: str) -> Callable[[str], str]:
    places = {
        "<<env>>": str(secrets["env"]),
        "<<csv>>": str(secrets["csv"]),
        "<<parquet>>": str(secrets["parquet"]),
        "<<ipc>>": str(secrets["ipc"]),
        "<<json>>": str(secrets["json"]),
        "<<dir>>": str(secrets["env"].parent),
        "<<url>>": private_server + "private.parquet",
    }

    def fill(sql: str) -> str:
        for place, value in places.items():
            sql = sql.replace(place, value)
        return sql

    return fill


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Engine]:
    engine = Engine(load_settings(workers=1), tmp_path_factory.mktemp("engine"))
    yield engine
    await engine.close()


async def answers_normally(engine: Engine, tables: dict[str, TableSource]) -> None:
    result = await engine.run(
        "SELECT s.region, SUM(s.amount) AS total, MAX(r.city) AS city, MAX(n.note) AS note "
        "FROM sales s JOIN regions r USING (region) CROSS JOIN notes n "
        "GROUP BY s.region ORDER BY s.region",
        tables,
    )
    assert result.data.to_dicts() == [
        {"region": "north", "total": 10, "city": "Oslo", "note": "hello"},
        {"region": "south", "total": 5, "city": "Lima", "note": "hello"},
    ]


@pytest.mark.parametrize("case", list(CORPUS))
async def test_hostile_sql_is_refused_and_the_engine_keeps_answering(
    engine: Engine,
    tables: dict[str, TableSource],
    render: Callable[[str], str],
    no_leak: Callable[..., None],
    case: str,
) -> None:
    with pytest.raises(QueryError) as caught:
        await engine.run(render(CORPUS[case]), tables)
    error = caught.value
    assert error.error_type == "validation"
    assert error.details.get("reason"), error.details
    assert 20 < len(error.message) < 400 and error.message[0].isupper(), error.message
    no_leak(error.message, error.details, error.to_payload())
    await answers_normally(engine, tables)


@pytest.mark.parametrize("case", list(NEUTRALIZED))
async def test_hidden_readers_never_reach_polars(
    engine: Engine,
    tables: dict[str, TableSource],
    render: Callable[[str], str],
    no_leak: Callable[..., None],
    case: str,
) -> None:
    result = await engine.run(render(NEUTRALIZED[case]), tables)
    assert result.data["n"].to_list() == [3]
    no_leak(result.data, result.data.columns)


def raw(sql: str, tables: Iterable[str]) -> GuardedQuery:
    """No text check at all: the worker gets the text as written."""
    return GuardedQuery(sql=sql, tables=list(tables), tree=None)  # type: ignore[arg-type]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def unguarded_engine(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Engine]:
    """Real workers with no SQL guard in front: only their plan check stands."""
    engine = Engine(
        load_settings(workers=1, query_timeout=30),
        tmp_path_factory.mktemp("unguarded"),
        guard=raw,
    )
    yield engine
    await engine.close()


# Raw texts Polars runs as written: the plan check must be what refuses them.
READS_IN_POLARS = [
    "reproduction on /etc/passwd",
    "reproduction on .env",
    "reproduction on a loopback URL",
    "read_csv",
    "read_parquet",
    "read_parquet of a loopback URL",
    "read_ipc",
    "a glob in a reader",
    "CTE shadowing a registered name",
    "subquery in WHERE IN",
    "subquery in EXISTS",
    "reader joined",
    "reader in a UNION arm",
    "EXPLAIN a reader",
    "DESCRIBE a reader",
]


@pytest.mark.parametrize("case", list(CORPUS) + list(NEUTRALIZED))
async def test_the_plan_check_alone_keeps_every_secret_in(
    unguarded_engine: Engine,
    tables: dict[str, TableSource],
    render: Callable[[str], str],
    no_leak: Callable[..., None],
    case: str,
) -> None:
    try:
        result = await unguarded_engine.run(render({**CORPUS, **NEUTRALIZED}[case]), tables)
    except QueryError as error:
        no_leak(error.message, error.details)
        if case in READS_IN_POLARS:
            assert error.error_type == "validation", error.to_payload()
            assert error.details["reason"] in ("unregistered_source", "in_memory_source")
    else:
        # Polars ran something harmless: a DROP in a throwaway context, literals.
        assert case not in READS_IN_POLARS
        no_leak(result.data, result.data.columns)
    await answers_normally(unguarded_engine, tables)

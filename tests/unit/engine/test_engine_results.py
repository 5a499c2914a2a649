"""Results through the worker pool match the same SQL run in-process by Polars."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from _engine_helpers import people_frame, teams_frame  # type: ignore[import-not-found]
from polars.testing import assert_frame_equal

from chatdf.engine import Engine
from chatdf.errors import QueryError
from chatdf.models import TableSource

pytestmark = pytest.mark.asyncio(loop_scope="module")

QUERIES = [
    "SELECT * FROM people",
    "SELECT name, score FROM people WHERE score > 7 ORDER BY score DESC",
    "SELECT team, COUNT(*) AS n, AVG(score) AS mean FROM people GROUP BY team ORDER BY team",
    "SELECT p.name, t.city FROM people p JOIN teams t ON p.team = t.team ORDER BY p.id",
    "SELECT t.team, COUNT(p.id) AS n FROM teams t LEFT JOIN people p USING (team) GROUP BY t.team ORDER BY t.team",
    "WITH best AS (SELECT team, MAX(score) AS top FROM people GROUP BY team) "
    "SELECT * FROM best WHERE top > 7 ORDER BY team",
    "SELECT id, score, ROW_NUMBER() OVER (PARTITION BY team ORDER BY id) AS rn FROM people ORDER BY id",
    "SELECT id FROM people WHERE active UNION ALL SELECT id FROM people WHERE NOT active ORDER BY id",
    "SELECT UPPER(name) AS up, born, seen, EXTRACT(year FROM born) AS y FROM people ORDER BY id",
    "SELECT * FROM people WHERE name IS NULL",
    "SELECT * FROM people WHERE id > 100",
    "SELECT CAST(score AS INTEGER) AS s, COALESCE(name, '?') AS n FROM people ORDER BY id LIMIT 3",
]


def expected(sql: str) -> pl.DataFrame:
    """The independent answer: the same SQL over in-memory frames in this process."""
    return pl.SQLContext(people=people_frame(), teams=teams_frame()).execute(sql, eager=True)


@pytest.mark.parametrize("sql", QUERIES)
async def test_results_match_in_process_polars(
    shared_engine: Engine, tables: dict[str, TableSource], sql: str
) -> None:
    result = await shared_engine.run(sql, tables)
    assert_frame_equal(result.data, expected(sql))
    assert result.total_rows == result.data.height
    assert [c.name for c in result.columns] == result.data.columns


@pytest.mark.parametrize("name", ["people_csv", "people_ipc"])
async def test_csv_globs_and_ipc_files_read_like_parquet(
    shared_engine: Engine, tables: dict[str, TableSource], name: str
) -> None:
    result = await shared_engine.run(
        f"SELECT id, name, team, score FROM {name} ORDER BY id", tables
    )
    assert_frame_equal(
        result.data, expected("SELECT id, name, team, score FROM people ORDER BY id")
    )


async def test_http_parquet_urls_are_read_by_the_worker(
    shared_engine: Engine, http_server, sample_frame: pl.DataFrame
) -> None:
    url = {
        "remote": TableSource(
            name="remote", kind="url", location=http_server.url("/sample.parquet")
        )
    }
    result = await shared_engine.run("SELECT city, price FROM remote WHERE ok ORDER BY id", url)
    want = sample_frame.filter(pl.col("ok")).sort("id").select("city", "price")
    assert_frame_equal(result.data, want)


async def test_an_unreachable_url_is_a_network_error(shared_engine: Engine, http_server) -> None:
    url = {
        "remote": TableSource(
            name="remote", kind="url", location=http_server.url("/missing.parquet")
        )
    }
    with pytest.raises(QueryError) as caught:
        await shared_engine.run("SELECT * FROM remote", url)
    assert caught.value.error_type == "network"
    assert "remote" in caught.value.message and "404" in caught.value.message


async def test_query_result_records_what_ran(
    shared_engine: Engine, tables: dict[str, TableSource]
) -> None:
    sql = "  SELECT p.id, t.city FROM people p JOIN TEAMS t USING (team) -- cities\n"
    result = await shared_engine.run(sql, tables)
    assert result.sql == sql.strip()
    assert result.tables == ["people", "Teams"]
    assert [(c.name, c.friendly) for c in result.columns] == [("id", "Integer"), ("city", "Text")]
    assert result.elapsed_ms > 0
    assert result.summary()["total_rows"] == 6


async def test_sql_errors_carry_polars_message_and_keep_the_worker(
    shared_engine: Engine, tables: dict[str, TableSource]
) -> None:
    await shared_engine.run("SELECT 1 AS warm", tables)
    before = shared_engine.worker_pids()
    with pytest.raises(QueryError) as caught:
        await shared_engine.run("SELECT nope FROM people", tables)
    error = caught.value
    assert error.error_type == "sql"
    assert 'unable to find column "nope"' in error.message
    assert "Resolved plan" not in error.message  # Polars' plan dump stays out of the message
    assert error.to_payload() == {
        "error_type": "sql",
        "message": error.message,
        "details": error.details,
    }
    assert shared_engine.worker_pids() == before


async def test_large_results_arrive_whole_and_their_file_goes_with_them(
    shared_engine: Engine, tables: dict[str, TableSource]
) -> None:
    sql = "SELECT a.x, b.x * 2 AS y FROM slow a CROSS JOIN (SELECT x FROM slow LIMIT 5) b"
    result = await shared_engine.run(sql, tables)
    assert result.total_rows == 1_000_000
    assert result.data.select(pl.col("y").sum()).item() == 200_000 * 20
    # The result file stays while the result is kept (a worker may sort it for the grid)...
    assert result.file is not None and result.file.path.exists()
    assert result.nbytes == result.file.path.stat().st_size
    data = result.data
    # ...and goes when it is released; frames handed out live on in their mapping.
    result.release()
    assert list(shared_engine._dir.glob("result-*")) == []
    assert data["x"].max() == 199_999


async def test_results_outlive_the_engine(make_engine, tables: dict[str, TableSource]) -> None:
    engine = await make_engine()
    result = await engine.run("SELECT id, name FROM people ORDER BY id", tables)
    await engine.close()
    assert not Path(engine._dir).exists()
    assert result.data["name"].to_list() == ["Ada", "Bo", "Cy", "Di", "Ed", None]


async def test_many_queries_at_once_all_complete(
    shared_engine: Engine, tables: dict[str, TableSource]
) -> None:
    import asyncio

    sqls = [f"SELECT {i} AS i, COUNT(*) AS n FROM people" for i in range(8)]
    results = await asyncio.gather(*(shared_engine.run(sql, tables) for sql in sqls))
    assert [r.data.row(0) for r in results] == [(i, 6) for i in range(8)]

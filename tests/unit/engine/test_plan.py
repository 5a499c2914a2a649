"""The plan check on its own: whatever SQL text Polars accepted, the plan may read
only what the registered frames read.

Every hostile query here is the raw text, run through ``pl.SQLContext`` with no
SQL guard in front, exactly as Polars would run it.
"""

from __future__ import annotations

import io
from collections import OrderedDict, defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import polars as pl
import pytest

from chatdf.engine import worker
from chatdf.engine.plan import PlanRefused, Sources, allowed_sources, check_plan, redact

REPRODUCTION = (
    "SELECT b FROM t WINDOW w AS (ORDER BY $a-b$) UNION ALL SELECT * FROM "
    "read_csv('{path}', has_header => false, separator => '|') --$a-b$)"
)
SECRET = "GEMINI_API_KEY=chatdf-FAKE-key-plan-check-canary"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("plan")
    frame = pl.DataFrame({"b": ["x", "y"], "n": [1, 2]})
    paths = {
        "parquet": root / "t.parquet",
        "csv1": root / "part-1.csv",
        "csv2": root / "part-2.csv",
        "ipc": root / "m.arrow",
        "other_ipc": root / "other.arrow",
        "secret": root / ".env",
        "secret_csv": root / "secret.csv",
        "json": root / "rows.ndjson",
    }
    frame.write_parquet(paths["parquet"])
    frame.head(1).write_csv(paths["csv1"])
    frame.tail(1).write_csv(paths["csv2"])
    frame.write_ipc(paths["ipc"])
    pl.DataFrame({"b": [SECRET], "n": [0]}).write_ipc(paths["other_ipc"])
    paths["secret"].write_text(f"{SECRET}\nOTHER=1\n")
    pl.DataFrame({"b": [SECRET], "n": [0]}).write_csv(paths["secret_csv"])
    pl.DataFrame({"b": [SECRET]}).write_ndjson(paths["json"])
    return paths


@pytest.fixture
def frames(files: dict[str, Path]) -> dict[str, pl.LazyFrame]:
    """The registered datasets as a worker or an export builds them."""
    live = pl.DataFrame({"b": ["z"], "n": [3]})
    return {
        "t": pl.scan_parquet(files["parquet"]),
        "c": pl.scan_csv(files["csv1"].with_name("part-*.csv")),
        "m": pl.scan_ipc(files["ipc"]),
        "d": pl.defer(lambda: live, schema=live.schema),
    }


def planned(frames: dict[str, pl.LazyFrame], sql: str) -> pl.LazyFrame:
    return pl.SQLContext(frames).execute(sql, eager=False)


def check(frames: dict[str, pl.LazyFrame], sql: str) -> pl.LazyFrame:
    """The plan check as the worker applies it; the checked query."""
    query = planned(frames, sql)
    check_plan(query, allowed_sources(frames.values()), sql)
    return query


# -- what the registered frames read passes --------------------------------------------

ALLOWED = [
    "SELECT * FROM t",
    "SELECT b FROM t UNION ALL SELECT b FROM c UNION ALL SELECT b FROM m UNION ALL SELECT b FROM d",
    "SELECT COUNT(*) AS n FROM c",  # answered by a fast count over the CSV files
    "SELECT COUNT(*) AS n FROM m",
    "SELECT a.b FROM m a CROSS JOIN m b WHERE a.n < b.n",  # one cached IPC scan, two readers
    "SELECT t.b FROM t JOIN c ON t.n < c.n",  # an inequality join
    "SELECT b FROM t WHERE n IN (SELECT n FROM m) AND EXISTS (SELECT 1 FROM d)",
    "SELECT (SELECT MAX(n) FROM c) AS top",
    "SELECT * FROM (VALUES (1, 'a')) AS v(n, b)",
    "SELECT 1 AS one",
    "WITH x AS (SELECT * FROM t) SELECT * FROM x JOIN d USING (b)",
]


@pytest.mark.parametrize("sql", ALLOWED)
def test_queries_over_registered_frames_pass(frames: dict[str, pl.LazyFrame], sql: str) -> None:
    check(frames, sql).collect()  # and they do run


def test_a_registered_file_read_by_its_own_path_is_still_the_registered_data(
    frames: dict[str, pl.LazyFrame], files: dict[str, Path]
) -> None:
    check(frames, f"SELECT * FROM read_parquet('{files['parquet']}')")


# -- everything else is refused ------------------------------------------------------


def hostile(files: dict[str, Path]) -> dict[str, str]:
    secret, secret_csv = files["secret"], files["secret_csv"]
    return {
        "the reproduction on /etc/passwd": REPRODUCTION.format(path="/etc/passwd"),
        "the reproduction on .env": REPRODUCTION.format(path=secret),
        "read_csv in FROM": f"SELECT * FROM read_csv('{secret_csv}')",
        "read_csv in a join": f"SELECT t.b FROM t JOIN read_csv('{secret_csv}') s ON t.n = s.n",
        "read_csv in EXISTS": f"SELECT b FROM t WHERE EXISTS (SELECT * FROM read_csv('{secret}'))",
        "read_csv in IN": f"SELECT b FROM t WHERE b IN (SELECT b FROM read_csv('{secret_csv}'))",
        "read_csv as a scalar": f"SELECT (SELECT MAX(b) FROM read_csv('{secret_csv}')) AS s",
        "read_csv in a CTE": f"WITH s AS (SELECT * FROM read_csv('{secret_csv}')) SELECT * FROM s",
        "a count of a file": f"SELECT COUNT(*) AS n FROM read_csv('{secret}')",
        "read_parquet of a URL": "SELECT * FROM read_parquet('http://127.0.0.1:9/x.parquet')",
        "read_json": f"SELECT * FROM read_json('{files['json']}')",
        "read_ipc of another file": f"SELECT * FROM read_ipc('{files['other_ipc']}')",
        "read_ipc of a glob with the registered file in it": (
            f"SELECT * FROM read_ipc('{files['ipc'].parent}/*.arrow')"
        ),
        "a registered CSV read as IPC": f"SELECT * FROM read_ipc('{files['csv1']}')",
        # Polars answers these with in-memory rows built from the file's header.
        "EXPLAIN of a file": f"EXPLAIN SELECT *, 1 AS one FROM read_csv('{secret}')",
        "DESCRIBE of a file": f"DESCRIBE SELECT * FROM read_csv('{secret}')",
    }


@pytest.fixture
def hostile_sql(files: dict[str, Path]) -> dict[str, str]:
    return hostile(files)


HOSTILE_CASES = list(hostile(defaultdict(lambda: Path("/x"))))


@pytest.mark.parametrize("case", HOSTILE_CASES)
def test_reads_outside_the_registered_sources_are_refused(
    frames: dict[str, pl.LazyFrame], hostile_sql: dict[str, str], case: str
) -> None:
    sql = hostile_sql[case]
    try:
        check(frames, sql)
    except PlanRefused as exc:
        assert exc.details["reason"] in ("unregistered_source", "unknown_node", "in_memory_source")
        assert SECRET not in exc.message and "root:" not in exc.message
        return
    except (pl.exceptions.PolarsError, OSError) as exc:
        # Polars itself failed while building the plan (a missing URL, a wrong
        # format): nothing ran, and the worker redacts such messages.
        assert "root:x" not in str(exc)
        return
    pytest.fail(f"the plan check let through: {sql}")


def test_the_reproduction_runs_in_polars_without_the_plan_check(
    frames: dict[str, pl.LazyFrame],
) -> None:
    # What the check stops: Polars alone reads the file the text hides.
    rows = planned(frames, REPRODUCTION.format(path="/etc/passwd")).collect()
    assert any(str(value).startswith("root:") for value in rows["b"])
    with pytest.raises(PlanRefused, match="outside the registered datasets"):
        check(frames, REPRODUCTION.format(path="/etc/passwd"))


def test_a_python_scan_that_is_not_registered_is_refused(frames: dict[str, pl.LazyFrame]) -> None:
    other = pl.DataFrame({"b": [SECRET], "n": [0]})
    query = pl.SQLContext({**frames, "x": pl.defer(lambda: other, schema=other.schema)}).execute(
        "SELECT * FROM x"
    )
    with pytest.raises(PlanRefused) as caught:
        check_plan(query, allowed_sources(frames.values()), "SELECT * FROM x")
    assert caught.value.details["reason"] == "python_source"


def test_in_memory_file_bytes_are_refused(
    frames: dict[str, pl.LazyFrame], files: dict[str, Path]
) -> None:
    buffer = pl.scan_parquet(io.BytesIO(files["parquet"].read_bytes()))
    query = pl.SQLContext({**frames, "x": buffer}).execute("SELECT * FROM x")
    with pytest.raises(PlanRefused) as caught:
        check_plan(query, allowed_sources(frames.values()), "SELECT * FROM x")
    assert caught.value.details["reason"] == "in_memory_source"


def test_a_plan_that_cannot_be_walked_is_refused() -> None:
    with pytest.raises(PlanRefused) as caught:
        check_plan(SimpleNamespace(collect_schema=lambda: None, _ldf=object()), Sources(), "")
    assert caught.value.details["reason"] == "plan_unavailable"


class _DriftedTraverser:
    """A later Polars' traverser showing a node kind this check does not know."""

    class LakehouseScan:  # unknown: it might read anything
        pass

    def get_node(self) -> int:
        return 0

    def set_node(self, index: int) -> None:
        pass

    def get_inputs(self) -> list[int]:
        return []

    def version(self) -> tuple[int, int]:
        return (99, 0)

    def view_current_node(self) -> Any:
        return self.LakehouseScan()


def test_an_unknown_node_kind_is_refused_not_allowed() -> None:
    drifted = SimpleNamespace(
        collect_schema=lambda: None, _ldf=SimpleNamespace(visit=_DriftedTraverser)
    )
    with pytest.raises(PlanRefused, match="LakehouseScan, Polars IR version 99.0") as caught:
        check_plan(drifted, Sources(), "")
    assert caught.value.details["reason"] == "unknown_node"


# -- the worker applies it to whatever text it is sent ---------------------------------------


def request(files: dict[str, Path], sql: str, out: Path) -> dict[str, Any]:
    return {
        "op": "query",
        "sql": sql,
        "out": str(out),
        "tables": [
            {"name": "t", "kind": "parquet", "location": str(files["parquet"]), "version": 1},
            {"name": "m", "kind": "ipc", "location": str(files["ipc"]), "version": 1},
        ],
    }


@pytest.mark.parametrize(
    "case",
    [
        "the reproduction on /etc/passwd",
        "the reproduction on .env",
        "read_ipc of another file",
        "a count of a file",
    ],
)
def test_the_worker_refuses_raw_hostile_sql_and_answers_the_next_query(
    files: dict[str, Path], hostile_sql: dict[str, str], tmp_path: Path, case: str
) -> None:
    cache: OrderedDict = OrderedDict()
    reply = worker._run(pl, request(files, hostile_sql[case], tmp_path / "out.arrow"), cache)
    assert reply["ok"] is False
    assert (
        reply["error_type"] == "validation" and reply["details"]["reason"] == "unregistered_source"
    )
    assert SECRET not in str(reply) and "root:x" not in str(reply)
    assert not (tmp_path / "out.arrow").exists()

    normal = request(files, "SELECT b FROM t UNION ALL SELECT b FROM m", tmp_path / "ok.arrow")
    reply = worker._run(pl, normal, cache)
    assert reply["ok"] is True
    assert sorted(pl.read_ipc(tmp_path / "ok.arrow")["b"]) == ["x", "x", "y", "y"]


def test_errors_while_the_plan_is_built_do_not_quote_an_unchecked_file(
    files: dict[str, Path], tmp_path: Path
) -> None:
    # The header of the .env file becomes a column name; Polars lists it in the error.
    sql = f"SELECT nope FROM read_csv('{files['secret']}')"
    reply = worker._run(pl, request(files, sql, tmp_path / "out.arrow"), OrderedDict())
    assert reply["ok"] is False
    assert SECRET not in reply["message"] and "AIza" not in reply["message"]
    assert '"nope"' in reply["message"]  # what the query itself named stays readable


def test_errors_about_registered_tables_keep_their_names(
    files: dict[str, Path], tmp_path: Path
) -> None:
    sql = "SELECT nope FROM t"
    reply = worker._run(pl, request(files, sql, tmp_path / "out.arrow"), OrderedDict())
    assert reply["ok"] is False and reply["error_type"] == "sql"
    assert '"b"' in reply["message"] and '"n"' in reply["message"]


def test_redact_blanks_only_unknown_quoted_names() -> None:
    message = 'unable to find column "x"; valid columns: ["GEMINI_API_KEY=AIza", "id"]'
    assert redact(message, {"id"}, "SELECT x FROM t") == (
        'unable to find column "x"; valid columns: ["…", "id"]'
    )


def test_a_refused_glob_does_not_list_the_folder(
    frames: dict[str, pl.LazyFrame], files: dict[str, Path]
) -> None:
    folder = files["secret_csv"].parent
    with pytest.raises(PlanRefused) as caught:
        check(frames, f"SELECT * FROM read_csv('{folder}/*.csv')")
    assert "matched by a pattern in the query" in caught.value.message
    for name in ("secret.csv", "part-1.csv", "part-2.csv"):
        assert name not in caught.value.message

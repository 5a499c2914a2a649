"""The guard's hostile SQL corpus, replayed against the Spark engine on a real cluster.

Every input of ``tests/security/test_sql_corpus.py`` is refused as a
``QueryError(error_type="validation")`` before Spark sees it, and the engine
keeps answering. Then the second line on its own: Spark-specific texts sent
*without* the guard are refused by the analyzed-plan check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

from chatdf import ChatDF
from chatdf.engine.spark.plancheck import check_plan
from chatdf.errors import QueryError
from tests.security.test_sql_corpus import CORPUS

SECRET = "CANARY-spark-7f3a"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("corpus")
    pl.DataFrame({"region": ["north", "south", "north"], "amount": [3, 5, 7]}).write_parquet(
        root / "sales.parquet"
    )
    secrets = root / "secrets"
    secrets.mkdir()
    (secrets / ".env").write_text(f"GEMINI_API_KEY={SECRET}\n")
    (secrets / "private.csv").write_text(f"token\n{SECRET}\n")
    pl.DataFrame({"token": [SECRET]}).write_parquet(secrets / "private.parquet")
    pl.DataFrame({"token": [SECRET]}).write_ipc(secrets / "private.arrow")
    (secrets / "private.json").write_text(f'{{"token": "{SECRET}"}}\n')
    return {
        "sales": root / "sales.parquet",
        "env": secrets / ".env",
        "csv": secrets / "private.csv",
        "parquet": secrets / "private.parquet",
        "ipc": secrets / "private.arrow",
        "json": secrets / "private.json",
    }


@pytest.fixture(scope="module")
def render(files: dict[str, Path]) -> Callable[[str], str]:
    def fill(sql: str) -> str:
        for key in ("env", "csv", "parquet", "ipc", "json"):
            sql = sql.replace(f"<<{key}>>", str(files[key]))
        sql = sql.replace("<<dir>>", str(files["env"].parent))
        return sql.replace("<<url>>", "http://127.0.0.1:9/private.parquet")

    return fill


@pytest.fixture(scope="module")
def chat(spark_remote: str, files: dict[str, Path]) -> Iterator[ChatDF]:
    chat = ChatDF(engine="spark", spark_remote=spark_remote, db_path=":memory:")
    chat.add(files["sales"], name="sales")
    yield chat
    chat.close()


def _answers(chat: ChatDF) -> None:
    got = chat.sql("SELECT region, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region")
    assert got.to_dicts() == [{"region": "north", "total": 10}, {"region": "south", "total": 5}]


def test_every_hostile_input_is_refused_on_spark(chat: ChatDF, render: Callable[[str], str]) -> None:
    # One test over the whole corpus: each case is cheap (refused before the cluster).
    accepted = []
    for case, sql in CORPUS.items():
        try:
            chat.sql(render(sql))
        except QueryError as exc:
            assert exc.error_type == "validation", (case, exc.error_type, exc.message)
            assert SECRET not in exc.message and SECRET not in str(exc.details), case
        else:
            accepted.append(case)
    assert accepted == []
    _answers(chat)


SPARK_ONLY = {
    "path-qualified parquet": "SELECT * FROM parquet.`<<parquet>>`",
    "path-qualified csv": "SELECT * FROM csv.`<<csv>>`",
    "path-qualified text": "SELECT * FROM text.`<<env>>`",
    "read_files": "SELECT * FROM read_files('<<csv>>')",
    "reflect": "SELECT reflect('java.lang.System', 'getenv', 'HOME') AS h",
    "java_method": "SELECT java_method('java.lang.System', 'getProperty', 'user.home') AS h",
    "union with a path": "SELECT region FROM sales UNION ALL SELECT token FROM parquet.`<<parquet>>`",
    "view over a path in a CTE": (
        "WITH t AS (SELECT * FROM json.`<<json>>`) SELECT s.region FROM sales s CROSS JOIN t"
    ),
}


@pytest.mark.parametrize("case", list(SPARK_ONLY))
def test_plan_check_alone_refuses_spark_readers(
    chat: ChatDF, render: Callable[[str], str], case: str
) -> None:
    """No guard: the raw text goes to spark.sql; the plan check must refuse it."""
    engine = chat._session.engine
    sql = render(SPARK_ONLY[case])

    def explain(session: object) -> str:
        return session.sql(sql)._explain_string(mode="extended")  # type: ignore[attr-defined]

    try:
        text = engine.connection.guarded(lambda: explain(engine.connection.session()))
    except QueryError as exc:  # Spark itself refused to plan it: nothing ran either
        assert exc.error_type == "sql" and SECRET not in exc.message
        _answers(chat)
        return
    with pytest.raises(QueryError) as caught:
        check_plan(text, ["sales"])
    assert caught.value.error_type == "validation"
    assert caught.value.details["reason"] == "plan"
    _answers(chat)

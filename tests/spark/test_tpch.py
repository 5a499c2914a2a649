"""TPC-H at SF 0.1 through ``engine="spark"``, checked against DuckDB (bench/engine.py's queries)."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from bench.engine import TPCH_QUERIES, TPCH_TABLES
from chatdf import ChatDF

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tpch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tpch")
    exe = shutil.which("tpchgen-cli") or str(Path(sys.executable).with_name("tpchgen-cli"))
    subprocess.run([exe, "parquet", "-s", "0.1", f"--output-dir={folder}"], check=True)
    return folder


def _same(a: object, b: object) -> bool:
    if isinstance(a, (float, Decimal)) or isinstance(b, (float, Decimal)):
        # Spark averages decimals to 6 places; DuckDB to a double.
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-6)  # type: ignore[arg-type]
    return str(a) == str(b)


@pytest.fixture(scope="module")
def chat(spark_remote: str, tpch: Path) -> Iterator[ChatDF]:
    chat = ChatDF(engine="spark", spark_remote=spark_remote, query_timeout=300, db_path=":memory:")
    for t in TPCH_TABLES:
        chat.add(tpch / f"{t}.parquet", name=t)
    yield chat
    chat.close()


@pytest.mark.parametrize("query", sorted(TPCH_QUERIES))
def test_tpch_on_spark_matches_duckdb(chat: ChatDF, tpch: Path, query: str) -> None:
    import duckdb

    con = duckdb.connect()
    for t in TPCH_TABLES:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{tpch / f'{t}.parquet'}')")
    expected = con.execute(TPCH_QUERIES[query]).fetchall()
    got = chat.sql(TPCH_QUERIES[query]).rows()
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected):
        assert all(_same(a, b) for a, b in zip(mine, theirs)), (mine, theirs)

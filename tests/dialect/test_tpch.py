"""TPC-H's 22 queries at SF 0.1 through ``chat.sql`` give DuckDB's results (slow: generates data)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.tpch_queries import TPCH_QUERIES
from chatdf import ChatDF
from tests.dialect.corpus import compare
from tests.fake_gemini import TEST_API_KEY, FakeGemini

pytestmark = pytest.mark.slow

TABLES = ["lineitem", "orders", "customer", "supplier", "nation", "region", "part", "partsupp"]


@pytest.fixture(scope="module")
def tpch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tpch-sf0.1")
    exe = shutil.which("tpchgen-cli") or str(Path(sys.executable).with_name("tpchgen-cli"))
    subprocess.run([exe, "parquet", "-s", "0.1", f"--output-dir={folder}"], check=True)
    return folder


@pytest.fixture(scope="module")
def chat(tpch: Path) -> Iterator[ChatDF]:
    with FakeGemini() as fake, pytest.MonkeyPatch.context() as mp:
        mp.setenv("GEMINI_API_KEY", TEST_API_KEY)
        mp.setenv("CHATDF_GEMINI_BASE_URL", fake.url)
        mp.setenv("CHATDF_DB_PATH", ":memory:")
        chat = ChatDF(workers=1)
        for table in TABLES:
            chat.add(str(tpch / f"{table}.parquet"), table)
        yield chat
        chat.close()


@pytest.mark.parametrize("name", list(TPCH_QUERIES))
def test_tpch_query_matches_duckdb(chat: ChatDF, tpch: Path, name: str) -> None:
    import duckdb

    con = duckdb.connect()
    for table in TABLES:
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{tpch / table}.parquet')")
    sql = TPCH_QUERIES[name]
    theirs = con.sql(sql).pl()
    ours = chat.sql(sql)
    assert compare(ours, theirs, sql) is None, compare(ours, theirs, sql)

"""chatdf's Spark engine against a real local Spark cluster (Spark Connect 4.1)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from chatdf import ChatDF
from chatdf.errors import ChatDFError, ConfigError, DatasetError, ExportError, QueryError
from tests.fake_gemini import FakeGemini
from tests.fake_gemini.server import TEST_API_KEY, function_call, text_chunks
from tests.spark.cluster import free_port

SALES = pl.DataFrame(
    {
        "region": ["north", "south", "north", "east", "south", "north"],
        "amount": [10, 20, 30, 40, 50, 60],
        "day": ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-06"],
    }
)
BY_REGION = "SELECT region, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("spark-data")
    SALES.write_parquet(root / "sales.parquet")
    SALES.write_csv(root / "sales.csv")
    (root / "parts").mkdir()
    SALES.head(3).write_parquet(root / "parts" / "a.parquet")
    SALES.tail(3).write_parquet(root / "parts" / "b.parquet")
    (root / "secret.csv").write_text("token\nTOPSECRET\n")
    return root


@pytest.fixture
def chat(spark_remote: str, fake_gemini: FakeGemini) -> Iterator[ChatDF]:
    chat = ChatDF(
        api_key=TEST_API_KEY,
        gemini_base_url=fake_gemini.url,
        engine="spark",
        spark_remote=spark_remote,
    )
    yield chat
    chat.close()


def test_default_engine_is_polars_and_spark_needs_a_remote() -> None:
    chat = ChatDF(workers=1)
    assert chat.settings.engine == "polars"
    chat.close()
    with pytest.raises(ConfigError, match="spark_remote"):
        ChatDF(engine="spark")
    with pytest.raises(ConfigError, match="sc://"):
        ChatDF(engine="spark", spark_remote="http://host:15002")


def test_add_parquet_csv_and_glob_as_views(chat: ChatDF, data_dir: Path) -> None:
    sales = chat.add(data_dir / "sales.parquet", name="sales")
    assert (sales.row_count, sales.column_count, sales.kind) == (6, 3, "parquet")
    assert [c.friendly for c in sales.columns] == ["Text", "Integer", "Text"]
    csv = chat.add(str(data_dir / "sales.csv"), name="sales_csv")
    assert (csv.row_count, csv.kind) == (6, "csv")
    assert csv.schema["amount"].friendly == "Integer"  # the cluster inferred it
    parts = chat.add(str(data_dir / "parts" / "*.parquet"), name="parts")
    assert parts.row_count == 6
    got = chat.sql(BY_REGION)
    assert got.to_dicts() == [
        {"region": "east", "total": 40},
        {"region": "north", "total": 100},
        {"region": "south", "total": 70},
    ]
    assert chat.sql("SELECT COUNT(*) AS n FROM parts").item() == 6
    with pytest.raises(DatasetError, match="could not read"):
        chat.add(str(data_dir / "missing.parquet"), name="missing")


def test_frame_upload_and_its_cap(chat: ChatDF, spark_remote: str) -> None:
    chat.add(SALES, name="sales")
    chat.add(SALES.to_pandas(), name="sales_pd")
    assert chat.sql("SELECT COUNT(*) AS n FROM sales_pd").item() == 6
    small = ChatDF(engine="spark", spark_remote=spark_remote, spark_upload_max_mb=0)
    try:
        with pytest.raises(DatasetError, match="CHATDF_SPARK_UPLOAD_MAX_MB=0") as caught:
            small.add(SALES, name="sales")
        assert caught.value.details["reason"] == "too_large"
    finally:
        small.close()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM parquet.`/etc/passwd`",
        'SELECT * FROM parquet."/tmp"',
        "SELECT reflect('java.lang.System', 'getProperty', 'user.home') AS h",
        "SELECT java_method('java.lang.System', 'getenv', 'HOME') AS h",
        "SELECT * FROM read_files('/etc')",
        "DROP VIEW sales",
        "CREATE TABLE x AS SELECT 1",
        "SELECT * FROM default.sales",
        "SELECT * FROM spark_catalog.default.t",
        "SELECT 1; SELECT 2",
        "SET spark.sql.ansi.enabled=false",
    ],
)
def test_guard_refuses_in_spark(chat: ChatDF, sql: str) -> None:
    chat.add(SALES, name="sales")
    with pytest.raises(QueryError) as caught:
        chat.sql(sql)
    assert caught.value.error_type == "validation"
    assert "TOPSECRET" not in caught.value.message
    assert chat.sql("SELECT COUNT(*) AS n FROM sales").item() == 6  # still answering


def test_plan_check_refuses_relations_outside_views() -> None:
    from chatdf.engine.spark.plancheck import check_plan

    explain = (
        "== Analyzed Logical Plan ==\nid: bigint\nUnion\n:- Project [id#1L]\n"
        ":  +- SubqueryAlias sales\n:     +- View (`sales`, [id#1L])\n"
        ":        +- Relation [id#1L] parquet\n+- Relation [token#2] csv\n\n== Optimized"
    )
    with pytest.raises(QueryError, match="outside the registered") as caught:
        check_plan(explain, ["sales"])
    assert caught.value.error_type == "validation"
    check_plan(explain.replace("+- Relation [token#2] csv", "+- OneRowRelation"), ["sales"])
    with pytest.raises(QueryError, match="not a registered"):
        check_plan(explain, ["other"])


def test_duckdb_flavoured_sql_is_transpiled(chat: ChatDF) -> None:
    chat.add(SALES, name="sales")
    got = chat.sql(
        """SELECT region, "amount"::DOUBLE / 10 AS tenth, EXTRACT(YEAR FROM CAST(day AS DATE)) AS y
           FROM sales WHERE region ILIKE 'NOR%' ORDER BY tenth LIMIT 2"""
    )
    assert got.to_dicts() == [
        {"region": "north", "tenth": 1.0, "y": 2024},
        {"region": "north", "tenth": 3.0, "y": 2024},
    ]


def test_a_50m_row_result_pages_on_the_cluster(chat: ChatDF) -> None:
    chat.add(pl.DataFrame({"i": list(range(10_000))}), name="a")
    chat.add(pl.DataFrame({"j": list(range(5_000))}), name="b")
    session = chat._session
    result = session.call(session.run_sql("SELECT i * 5000 + j AS n FROM a CROSS JOIN b"))
    assert result.total_rows == 50_000_000
    assert result.remote and result.nbytes < 10_000  # only the first rows are in the kernel
    # A page deep in the query's own order, then the first page sorted descending:
    # both computed on the cluster, 20 rows each way.
    deep = session.call(session.page(result.id, offset=49_999_990, limit=20))
    assert (deep.total_rows, deep.rows, deep.offset) == (50_000_000, 10, 49_999_990)
    first = session.call(session.page(result.id, offset=0, limit=3, sort=("n", True)))
    assert first.sort == {"column": "n", "descending": True}
    assert pl.read_ipc_stream(first.ipc)["n"].to_list() == [49_999_999, 49_999_998, 49_999_997]
    with pytest.raises(ExportError, match="CHATDF_EXPORT_MAX_ROWS"):
        chat.export("too_big", result)
    assert chat.export("big_df", result, to="spark").count() == 50_000_000
    with pytest.raises(ChatDFError, match='to="spark"'):
        chat.export("lazy_df", result, to="lazy")


def test_export_with_a_progress_bar_and_pyspark_code(
    chat: ChatDF, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chat.add(str(data_dir / "sales.parquet"), name="sales")
    chat.sql("SELECT region, amount FROM sales ORDER BY amount")
    rows = chat.sql("SELECT COUNT(*) AS n FROM sales").item()
    assert rows == 6
    chat.sql("SELECT region, amount FROM sales ORDER BY amount")
    frame = chat.export("exported", to="polars")
    assert frame["amount"].to_list() == [10, 20, 30, 40, 50, 60]
    assert "6 rows received" in capsys.readouterr().err
    as_pandas = chat.export("exported_pd", to="pandas")
    assert isinstance(as_pandas, pd.DataFrame) and len(as_pandas) == 6
    code = chat.code()
    assert "SparkSession.builder.remote" in code and "spark.read.parquet" in code
    namespace: dict[str, object] = {}
    exec(code, namespace)
    assert namespace["result"].toPandas()["amount"].tolist() == [10, 20, 30, 40, 50, 60]  # type: ignore[attr-defined]


def test_stop_and_timeout_interrupt_the_cluster(chat: ChatDF) -> None:
    chat.add(pl.DataFrame({"i": list(range(20_000))}), name="a")
    # No equality to hash on: the cluster must walk 8e12 rows, far past the 3 s timeout.
    slow = (
        "SELECT COUNT(*) AS n FROM a x CROSS JOIN a y CROSS JOIN a z"
        " WHERE (x.i * 31 + y.i * 17 + z.i) % 1000003 = 5"
    )
    session = chat._session
    started = time.monotonic()
    with pytest.raises(QueryError) as caught:
        session.call(session.engine.run(slow, session.registry.tables(), timeout=3))
    assert caught.value.error_type == "timeout"
    assert time.monotonic() - started < 20
    # The cluster stopped it: a quick query is answered at once, not after the slow one.
    started = time.monotonic()
    assert chat.sql("SELECT COUNT(*) AS n FROM a").item() == 20_000
    assert time.monotonic() - started < 20


def test_stop_during_ask_interrupts(chat: ChatDF, fake_gemini: FakeGemini) -> None:
    chat.add(pl.DataFrame({"i": list(range(20_000))}), name="a")
    # No equality to hash on: the cluster must walk 8e12 rows, far past the 4 s stop.
    slow = (
        "SELECT COUNT(*) AS n FROM a x CROSS JOIN a y CROSS JOIN a z"
        " WHERE (x.i * 31 + y.i * 17 + z.i) % 1000003 = 5"
    )
    fake_gemini.add_stream([function_call("execute_sql", {"query": slow})])
    fake_gemini.add_stream(text_chunks("done"))
    timer = threading.Timer(4.0, chat._session.stop)
    timer.start()
    started = time.monotonic()
    answer = chat.ask("count it")
    assert answer.stopped
    assert time.monotonic() - started < 30
    assert chat.sql("SELECT COUNT(*) AS n FROM a").item() == 20_000


def test_ask_writes_duckdb_sql_run_as_spark(chat: ChatDF, fake_gemini: FakeGemini) -> None:
    chat.add(SALES, name="sales")
    fake_gemini.add_stream(
        [function_call("execute_sql", {"query": "SELECT region, SUM(amount)::BIGINT AS total FROM sales GROUP BY ALL ORDER BY 2 DESC"})]
    )
    fake_gemini.add_stream(text_chunks("North sells most."))
    answer = chat.ask("Which region sells most?")
    assert answer.result is not None and answer.result.row(0) == ("north", 100)
    system = fake_gemini.requests[0].system_text()
    assert "Spark SQL" in system
    # load_dataset is off under Spark unless CHATDF_SPARK_MODEL_LOADS=1
    fake_gemini.add_stream([function_call("load_dataset", {"url": "s3a://bucket/x.parquet"})])
    fake_gemini.add_stream(text_chunks("I cannot load it."))
    chat.ask("load s3a://bucket/x.parquet")
    response = fake_gemini.requests[-1].function_responses()[-1]
    assert "CHATDF_SPARK_MODEL_LOADS" in str(response)


def test_unreachable_server_is_a_network_error_then_reconnects(spark_remote: str) -> None:
    port = free_port()
    chat = ChatDF(engine="spark", spark_remote=f"sc://127.0.0.1:{port}")
    try:
        started = time.monotonic()
        with pytest.raises(QueryError) as caught:
            chat.sql("SELECT 1 AS x")
        assert caught.value.error_type == "network"
        assert time.monotonic() - started < 15
        with pytest.raises(QueryError) as lost:
            chat.add(SALES, name="sales")
        assert lost.value.error_type == "network"
        # The server comes back (here: the session is pointed at a live one): the next call connects.
        engine = chat._session.engine
        engine.connection.remote = spark_remote
        assert chat.sql("SELECT 1 AS x").item() == 1
    finally:
        chat.close()


def test_whole_result_grid_actions_say_the_rows_stay_on_the_cluster(chat: ChatDF) -> None:
    # The kernel holds only a cluster result's first rows: a summary, copy or download
    # of those would look complete and be wrong, so each says what to do instead.
    from chatdf.messages import parse_request
    from chatdf.result_tools import ResultTools

    chat.add(SALES, name="sales")
    session = chat._session
    result = session.call(session.run_sql(BY_REGION))
    tools = ResultTools(session)
    requests = [
        {"type": "summary", "result_id": result.id, "column": "total"},
        {"type": "copy_all", "result_id": result.id},
        {"type": "download", "result_id": result.id, "format": "csv"},
    ]
    for content in requests:
        request = parse_request({"id": "r1", **content})
        call = getattr(tools, content["type"])
        with pytest.raises(QueryError, match="stay on the Spark cluster") as refused:
            session.call(call(request))
        assert refused.value.details["reason"] == "remote_result"
    # The grid's own paging still works on the same result.
    page = session.call(session.page(result.id, offset=0, limit=10))
    assert page.total_rows == 3


FILTERS = [
    [{"column": "region", "op": "eq", "value": "north"}],
    [{"column": "amount", "op": "gt", "value": "25"}, {"column": "region", "op": "ne", "value": "east"}],
    [{"column": "region", "op": "contains", "value": "OUT"}],
    [{"column": "day", "op": "le", "value": "2024-01-03"}],
    [{"column": "note", "op": "is_null"}],
    [{"column": "note", "op": "not_null"}, {"column": "amount", "op": "lt", "value": 45}],
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: "+".join(x["op"] for x in f))
def test_grid_filters_run_on_the_cluster_with_polars_answers(
    spark_remote: str, filters: list[dict[str, object]]
) -> None:
    # The grid's filter row on a cluster result: the same checked filters, run there,
    # give the rows and the filtered count the Polars engine gives for the same data.
    from chatdf.messages import parse_request
    from chatdf.result_tools import ResultTools

    # More rows than a cluster result keeps in the kernel (200), and more than this chat may
    # pull into it (300): checking and running the filters must not read them here.
    chat = ChatDF(engine="spark", spark_remote=spark_remote, export_max_rows=300)
    frame = pl.concat([SALES] * 100).with_columns(
        pl.col("day").str.to_date(),
        note=pl.Series(["a", None, "b", None, "c", "d"] * 100),
        k=pl.int_range(600),
    )
    local = ChatDF(workers=1)
    try:
        answers = []
        for each in (chat, local):
            each.add(frame, name="sales")
            session = each._session
            result = session.call(session.run_sql("SELECT * FROM sales"))
            request = parse_request(
                {"id": "p1", "type": "page", "result_id": result.id, "offset": 0, "limit": 50,
                 "sort": {"column": "k", "descending": True}, "filters": filters}
            )
            page = session.call(
                session.page(result.id, 0, 50, ("k", True), ResultTools(session).where(request))
            )
            answers.append((page.total_rows, pl.read_ipc_stream(page.ipc).to_dicts()))
        assert answers[0] == answers[1]
        assert 0 < answers[0][0] < frame.height  # each filter keeps some rows and drops some
    finally:
        local.close()
        chat.close()


def test_a_bad_grid_filter_on_the_cluster_is_the_same_clear_error(chat: ChatDF) -> None:
    from chatdf.messages import parse_request
    from chatdf.result_tools import ResultTools

    chat.add(SALES, name="sales")
    session = chat._session
    result = session.call(session.run_sql("SELECT * FROM sales"))
    request = parse_request(
        {"id": "p1", "type": "page", "result_id": result.id, "offset": 0, "limit": 50,
         "filters": [{"column": "amount", "op": "gt", "value": "lots"}]}
    )
    with pytest.raises(QueryError, match="'lots' is not a Int64 value") as bad:
        ResultTools(session).where(request)
    assert bad.value.details["reason"] == "bad_filter"


def test_a_chart_of_a_cluster_result_uses_every_row_not_the_first_ones(chat: ChatDF) -> None:
    # The kernel keeps a cluster result's first 200 rows; a chart drawn from those would
    # look right and be wrong. Its data is the whole result (pulled, capped), as with Polars.
    frame = pl.concat([SALES] * 100)  # 600 rows
    chat.add(frame, name="sales")
    session = chat._session
    result = session.call(session.run_sql("SELECT region, amount FROM sales"))
    assert result.total_rows == 600 and result.remote
    spec = {"mark": "bar", "encoding": {"x": {"field": "region", "type": "nominal"},
                                        "y": {"aggregate": "sum", "field": "amount", "type": "quantitative"}}}
    chart = chat.chart(spec, result=result.id).to_dict()
    rows = chart["datasets"][chart["data"]["name"]]
    assert len(rows) == 600
    drawn = pl.DataFrame(rows).group_by("region").agg(pl.col("amount").sum()).sort("region")
    assert drawn.to_dicts() == frame.group_by("region").agg(pl.col("amount").sum()).sort("region").to_dicts()


def test_the_models_describe_table_runs_on_the_cluster(chat: ChatDF, fake_gemini: FakeGemini) -> None:
    # describe_table's profile queries go through the Spark guard and run there; the model
    # gets the same counts, ranges and values as with Polars.
    frame = pl.concat([SALES] * 50).with_columns(note=pl.Series(["a", None, "b"] * 100))  # 300 rows
    chat.add(frame, name="sales")
    fake_gemini.add_stream([function_call("describe_table", {"name": "sales", "columns": ["region", "amount", "note"]})])
    fake_gemini.add_stream(text_chunks("Three regions."))
    chat.ask("What is in sales?")
    reply = str(fake_gemini.requests[-1].function_responses()[-1])
    assert "error" not in reply.lower(), reply
    for expected in ("'north'", "'south'", "'east'", "100", "10", "60"):  # values, nulls, min, max
        assert expected in reply, (expected, reply)

"""Results into the notebook: polars, pandas and live lazy exports, and standalone code."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest
from _notebook_helpers import needs_wiring  # type: ignore[import-not-found]
from IPython.core.interactiveshell import InteractiveShell
from polars.testing import assert_frame_equal

from chatdf import ChatDF, ChatDFError, QueryError, QueryResult
from chatdf.export import code_for, export_result, pick_result, result_frame
from tests.http_server import LocalHTTPServer

JOIN_SQL = """
SELECT o.city, sum(o.amount) AS total, c.country
FROM orders AS o JOIN cities AS c ON o.city = c.city
GROUP BY o.city, c.country
ORDER BY total DESC, o.city
"""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    orders = tmp_path / "orders.csv"
    pl.DataFrame(
        {"city": ["Oslo", "Lima", "Oslo", "Pune", "Lima"], "amount": [10, 4, 5, 7, 1]}
    ).write_csv(orders)
    cities = tmp_path / "cities.parquet"
    pl.DataFrame(
        {"city": ["Oslo", "Lima", "Pune"], "country": ["Norway", "Peru", "India"]}
    ).write_parquet(cities)
    return {"orders": orders, "cities": cities}


@pytest.fixture
def joined(chat: ChatDF, files: dict[str, Path]) -> QueryResult:
    chat.add(files["orders"], name="orders")
    chat.add(files["cities"], name="cities")
    chat.sql(JOIN_SQL)
    return last_result(chat)


def last_result(chat: ChatDF) -> QueryResult:
    return pick_result(chat._session.results)


def export(chat: ChatDF, namespace: dict[str, Any], name: str, to: str, result: Any = None) -> Any:
    kept = pick_result(chat._session.results, result)
    return export_result(namespace, name, kept, to=to, sources=chat._session.registry.provenance)


EXPECTED = [
    {"city": "Oslo", "total": 15, "country": "Norway"},
    {"city": "Pune", "total": 7, "country": "India"},
    {"city": "Lima", "total": 5, "country": "Peru"},
]


# -- the three forms ----------------------------------------------------------------------


def test_export_in_all_three_forms(chat: ChatDF, joined: QueryResult) -> None:
    namespace: dict[str, Any] = {}
    as_polars = export(chat, namespace, "top", "polars")
    as_pandas = export(chat, namespace, "top_pd", "pandas")
    as_lazy = export(chat, namespace, "top_lazy", "lazy")

    assert namespace["top"] is as_polars and as_polars.to_dicts() == EXPECTED
    assert namespace["top_pd"] is as_pandas and isinstance(as_pandas, pd.DataFrame)
    assert as_pandas.to_dict("records") == EXPECTED
    assert isinstance(namespace["top_lazy"], pl.LazyFrame)
    assert_frame_equal(as_lazy.collect(), joined.data)


def test_a_polars_export_is_the_kept_rows_and_a_lazy_one_stays_live(
    chat: ChatDF, joined: QueryResult, files: dict[str, Path]
) -> None:
    namespace: dict[str, Any] = {}
    export(chat, namespace, "snapshot", "polars")
    export(chat, namespace, "live", "lazy")
    # The source changes after the export: Oslo sells 100 more.
    pl.DataFrame({"city": ["Oslo", "Pune"], "amount": [115, 7]}).write_csv(files["orders"])

    assert namespace["snapshot"].to_dicts() == EXPECTED  # nothing was run again
    assert namespace["live"].collect().to_dicts() == [
        {"city": "Oslo", "total": 115, "country": "Norway"},
        {"city": "Pune", "total": 7, "country": "India"},
    ]


def test_a_lazy_export_of_a_frame_whose_object_is_gone_reads_the_snapshot(chat: ChatDF) -> None:
    # Added from an expression: no variable holds the frame, so once it is collected
    # the dataset reads chatdf's own snapshot of it (on Polars 2.x this used to raise).
    chat.add(pl.DataFrame({"city": ["Oslo", "Lima"], "amount": [3, 4]}), name="sales")
    gc.collect()
    chat.sql("SELECT city, amount * 2 AS doubled FROM sales ORDER BY city")
    lazy = export(chat, {}, "doubled", "lazy")
    assert lazy.collect().to_dicts() == [
        {"city": "Lima", "doubled": 8},
        {"city": "Oslo", "doubled": 6},
    ]


def test_editing_an_export_leaves_the_kept_result_alone(chat: ChatDF, joined: QueryResult) -> None:
    namespace: dict[str, Any] = {}
    export(chat, namespace, "top", "polars")
    namespace["top"][0, "total"] = -1
    assert last_result(chat).data["total"][0] == 15
    assert export(chat, namespace, "again", "polars")["total"][0] == 15


def test_a_lazy_export_over_a_notebook_variable_follows_the_variable(chat: ChatDF) -> None:
    namespace: dict[str, Any] = {"df_sales": pl.DataFrame({"amount": [1, 2, 3]})}
    registry = chat._session.registry
    registry.attach_namespace(namespace)
    chat._session.call(registry.add_variable("df_sales", "sales"))
    chat.sql("SELECT sum(amount) AS total FROM sales")
    live = export(chat, namespace, "total", "lazy")
    namespace["df_sales"] = pl.DataFrame({"amount": [10, 20]})
    assert live.collect().item() == 30


def test_export_takes_a_result_id_or_object(chat: ChatDF, joined: QueryResult) -> None:
    chat.sql("SELECT count(*) AS n FROM orders")
    namespace: dict[str, Any] = {}
    assert export(chat, namespace, "by_id", "polars", result=joined.id).to_dicts() == EXPECTED
    assert export(chat, namespace, "by_obj", "polars", result=joined).to_dicts() == EXPECTED
    assert export(chat, namespace, "latest", "polars").item() == 5


# -- mistakes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("2x", r"'2x' is not a valid Python variable name: .*\(e\.g\. df_2x\)"),
        ("my result", r"'my result' is not a valid Python variable name: .*\(e\.g\. my_result\)"),
        ("lambda", "'lambda' is a Python keyword; choose another name"),
    ],
)
def test_bad_variable_names_bind_nothing(
    chat: ChatDF, joined: QueryResult, name: str, message: str
) -> None:
    namespace: dict[str, Any] = {}
    with pytest.raises(ChatDFError, match=message):
        export(chat, namespace, name, "polars")
    assert namespace == {}


# -- names that would clobber the notebook -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason", "message"),
    [
        ("__builtins__", "private", r"'__builtins__' starts with '_'.*e\.g\. builtins\)"),
        ("_x", "private", r"'_x' starts with '_'"),
        ("print", "builtin", r"'print' is a Python builtin; .*e\.g\. print_df"),
        ("list", "builtin", "'list' is a Python builtin"),
        ("len", "builtin", "'len' is a Python builtin"),
        ("class", "keyword", "'class' is a Python keyword"),
        ("\uff50rint", "not_normalized", r"reads as 'print' in Python code"),
        (None, "invalid_name", r"None is not a valid Python variable name.*e\.g\. result"),
        (42, "invalid_name", r"42 is not a valid Python variable name.*e\.g\. df_42"),
    ],
)
def test_names_that_would_break_the_notebook_are_refused(
    chat: ChatDF, joined: QueryResult, name: Any, reason: str, message: str
) -> None:
    namespace: dict[str, Any] = {"keep": 1}
    with pytest.raises(ChatDFError, match=message) as info:
        export(chat, namespace, name, "polars")
    assert info.value.details["reason"] == reason
    assert namespace == {"keep": 1}
    with pytest.raises(ChatDFError, match=message):  # overwrite=True does not lift it
        export_result(
            namespace, name, joined, sources=chat._session.registry.provenance, overwrite=True
        )


def test_the_magics_default_output_is_the_one_underscore_name_allowed(
    chat: ChatDF, joined: QueryResult
) -> None:
    namespace: dict[str, Any] = {}
    export(chat, namespace, "_chatdf", "polars")
    assert namespace["_chatdf"].to_dicts() == EXPECTED


@pytest.mark.parametrize(
    ("held", "kind"),
    [
        (os, "module"),
        (print, "builtin_function_or_method"),
        (lambda x: x, "function"),
        (42, "int"),
        ({"a": 1}, "dict"),
    ],
    ids=["module", "builtin", "function", "int", "dict"],
)
def test_a_variable_of_another_kind_is_kept_unless_overwrite(
    chat: ChatDF, joined: QueryResult, held: Any, kind: str
) -> None:
    namespace: dict[str, Any] = {"thing": held}
    with pytest.raises(ChatDFError, match=rf"'thing' holds a {kind}.*overwrite=True") as info:
        export(chat, namespace, "thing", "polars")
    assert info.value.details == {"reason": "exists", "name": "thing", "holds": kind}
    assert namespace["thing"] is held

    sources = chat._session.registry.provenance
    value = export_result(namespace, "thing", joined, sources=sources, overwrite=True)
    assert namespace["thing"] is value and value.to_dicts() == EXPECTED


def test_a_frame_may_replace_a_frame(chat: ChatDF, joined: QueryResult) -> None:
    namespace: dict[str, Any] = {
        "a": pl.DataFrame({"x": [1]}),
        "b": pd.DataFrame({"x": [1]}),
        "c": pl.LazyFrame({"x": [1]}),
    }
    export(chat, namespace, "a", "pandas")
    export(chat, namespace, "b", "lazy")
    export(chat, namespace, "c", "polars")
    assert isinstance(namespace["a"], pd.DataFrame)
    assert isinstance(namespace["b"], pl.LazyFrame)
    assert namespace["c"].to_dicts() == EXPECTED


def test_an_unknown_target_is_refused(chat: ChatDF, joined: QueryResult) -> None:
    with pytest.raises(
        ChatDFError, match="Unknown export target 'excel'; use one of: polars, pandas, lazy"
    ):
        result_frame(joined, "excel", chat._session.registry.provenance)


def test_no_result_yet_or_an_unknown_id(chat: ChatDF) -> None:
    with pytest.raises(QueryError, match="There is no result yet: ask a question or run chat.sql"):
        pick_result(chat._session.results)
    with pytest.raises(QueryError, match="Result 'abc123' is no longer kept; run its SQL again"):
        pick_result(chat._session.results, "abc123")


def test_lazy_and_code_need_the_sources_still_loaded(chat: ChatDF, joined: QueryResult) -> None:
    chat.remove("cities")
    sources = chat._session.registry.provenance
    with pytest.raises(ChatDFError, match="This result read 'cities', which is no longer loaded"):
        result_frame(joined, "lazy", sources)
    with pytest.raises(ChatDFError, match="no longer loaded"):
        code_for(joined, sources)
    assert result_frame(joined, "polars", sources).to_dicts() == EXPECTED  # the rows still are


# -- code that recreates a result ----------------------------------------------------------------


def run_fresh(code: str, out: Path, cwd: Path) -> pl.DataFrame:
    """Run ``code`` in a new interpreter that cannot import chatdf; the frame it made."""
    program = "import sys\nsys.modules['chatdf'] = None\n" + code
    program += f"result.write_parquet({str(out)!r})\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATDF_", "GEMINI_"))}
    subprocess.run([sys.executable, "-I", "-c", program], cwd=cwd, env=env, check=True, timeout=120)
    return pl.read_parquet(out)


def test_code_recreates_a_join_in_a_fresh_interpreter(
    chat: ChatDF, joined: QueryResult, tmp_path: Path, files: dict[str, Path]
) -> None:
    code = code_for(joined, chat._session.registry.provenance)
    assert "chatdf" not in code.replace("# Recreates a chatdf result", "")
    assert f"pl.scan_csv({str(files['orders'])!r})" in code
    assert f"pl.scan_parquet({str(files['cities'])!r})" in code
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert_frame_equal(run_fresh(code, tmp_path / "out.parquet", elsewhere), joined.data)


def test_code_reads_a_url_dataset_from_its_url(
    fake_gemini: Any,
    monkeypatch: pytest.MonkeyPatch,
    http_server: LocalHTTPServer,
    tmp_path: Path,
) -> None:
    chat = ChatDF(workers=1, allow_private_urls=True)
    try:
        url = http_server.url("/sample.parquet")
        chat.add(url, name="remote")
        chat.sql("SELECT city, price FROM remote WHERE ok ORDER BY city")
        result = last_result(chat)
        code = code_for(result, chat._session.registry.provenance)
        assert f"pl.scan_parquet({url!r})" in code
        assert_frame_equal(run_fresh(code, tmp_path / "out.parquet", tmp_path), result.data)
    finally:
        chat.close()


def test_code_uses_the_variable_that_holds_a_notebook_frame(chat: ChatDF) -> None:
    df_sales = pl.DataFrame({"region": ["N", "S", "N"], "amount": [1, 2, 3]})
    namespace: dict[str, Any] = {"df_sales": df_sales}
    chat._session.registry.attach_namespace(namespace)
    chat.add(df_sales, name="sales")
    chat.sql("SELECT region, sum(amount) AS total FROM sales GROUP BY region ORDER BY region")
    result = last_result(chat)

    code = code_for(result, chat._session.registry.provenance)
    assert "ctx.register('sales', df_sales)" in code
    exec(code, namespace)
    assert_frame_equal(namespace["result"], result.data)


def test_code_for_a_frame_no_variable_holds_says_what_to_supply(chat: ChatDF) -> None:
    chat.add(pl.DataFrame({"a": [1, 2]}), name="mem")
    chat.sql("SELECT sum(a) AS s FROM mem")
    code = code_for(last_result(chat), chat._session.registry.provenance)
    assert "# mem: the in-memory DataFrame added to chatdf as 'mem'" in code
    namespace: dict[str, Any] = {"mem": pl.DataFrame({"a": [1, 2]})}
    exec(code, namespace)
    assert namespace["result"].item() == 3


def test_code_keeps_odd_sql_exact_and_drops_what_comments_hide(
    chat: ChatDF, tmp_path: Path
) -> None:
    path = tmp_path / "t.parquet"
    pl.DataFrame({"a": [1, 2]}).write_parquet(path)
    chat.add(path, name="t")
    sql = (
        "SELECT a, 'say \"\"\"hi\"\"\"' AS quote, 'back\\\\slash' AS b -- read_csv('/etc/passwd')\n"
        "    , 'two\n    lines' AS multi\n"
        "    FROM t ORDER BY a"
    )
    chat.sql(sql)
    result = last_result(chat)
    code = code_for(result, chat._session.registry.provenance)
    compile(code, "<chatdf code>", "exec")
    assert "read_csv" not in code and "/etc/passwd" not in code
    assert result.data["multi"][0] == "two\n    lines"
    assert_frame_equal(run_fresh(code, tmp_path / "out.parquet", tmp_path), result.data)


# -- ChatDF's own methods (once wired) ----------------------------------------------------------


@needs_wiring
def test_chat_export_and_code_bind_into_the_notebook(
    shell: InteractiveShell, files: dict[str, Path]
) -> None:
    chat = shell.run_line_magic("chatdf", "")
    chat.add(files["orders"], name="orders")
    chat.add(files["cities"], name="cities")
    chat.sql(JOIN_SQL)
    value = chat.export("top")
    assert shell.user_ns["top"] is value and value.to_dicts() == EXPECTED
    assert isinstance(chat.export("top_pd", to="pandas"), pd.DataFrame)
    assert_frame_equal(chat.export("top_lazy", to="lazy").collect(), value)
    namespace: dict[str, Any] = {}
    exec(chat.code(), namespace)
    assert_frame_equal(namespace["result"], value)

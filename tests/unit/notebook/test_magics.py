"""The magics in a real IPython shell: the default chat, add, questions, SQL, export, code."""

from __future__ import annotations

import _thread
import signal
import threading
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from _notebook_helpers import magics, markdown_texts, needs_wiring  # type: ignore[import-not-found]
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from polars.testing import assert_frame_equal
from traitlets import TraitError

import chatdf
from chatdf import ChatDF
from tests.fake_gemini import FakeGemini, function_call, text_chunks

TOP_SQL = "SELECT city, price FROM cities WHERE price > 5 ORDER BY price DESC"
TOP_ROWS = [
    {"city": "Baku", "price": 12.0},
    {"city": "Oslo", "price": 10.5},
    {"city": "Pune", "price": 7.0},
]


def script_top_cities(fake: FakeGemini) -> None:
    fake.add_stream([function_call("execute_sql", {"query": TOP_SQL})])
    fake.add_stream(text_chunks("Three cities cost more than 5.", n=4))


# -- the extension ------------------------------------------------------------------


@needs_wiring
def test_load_ext_registers_the_magics_and_unload_closes_the_chat(gemini_env: FakeGemini) -> None:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "chatdf")
    try:
        assert "chatdf" in ip.magics_manager.magics["line"]
        assert "chatdf" in ip.magics_manager.magics["cell"]
        chat = ip.run_line_magic("chatdf", "")
    finally:
        ip.run_line_magic("unload_ext", "chatdf")
    assert "chatdf" not in ip.magics_manager.magics["line"]
    assert chat.comm is None  # closed: its workers are gone


# -- the default chat ---------------------------------------------------------------


def test_the_default_chat_is_made_once_and_shown_again(shell: InteractiveShell) -> None:
    first = shell.run_line_magic("chatdf", "")
    assert isinstance(first, ChatDF)
    assert shell.run_line_magic("chatdf", "") is first
    # As a cell's last line it is the cell's value, which IPython displays.
    with capture_output():
        assert shell.run_cell("%chatdf").result is first
    first.add(Path(chatdf.__file__).parent / "data" / "iris.parquet", name="iris")
    assert [d.name for d in shell.run_line_magic("chatdf", "").datasets] == ["iris"]


def test_a_closed_default_chat_is_replaced(shell: InteractiveShell) -> None:
    first = shell.run_line_magic("chatdf", "")
    first.close()
    second = shell.run_line_magic("chatdf", "")
    assert second is not first and second.comm is not None


def test_sidebar_outside_jupyterlab_shows_inline_with_a_notice(
    shell: InteractiveShell,
) -> None:
    with capture_output() as shown:
        assert shell.run_line_magic("chatdf", "--sidebar") is None
    assert shown.stdout.strip() == (
        "chatdf: no JupyterLab sidebar here (not running in a Jupyter kernel); "
        "showing the chat inline."
    )
    chat = shell.run_line_magic("chatdf", "")
    [output] = shown.outputs
    assert output.data["application/vnd.jupyter.widget-view+json"]["model_id"] == chat.model_id


# -- %chatdf add ----------------------------------------------------------------------


def test_add_files_with_and_without_names(
    shell: InteractiveShell, parquet_file: Path, csv_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.user_ns["folder"] = str(parquet_file.parent)
    # {folder} is IPython's own expansion; 'name=' is ours.
    shell.run_cell(f"%chatdf add {parquet_file} cities={{folder}}/{csv_file.name}")
    out = capsys.readouterr().out.splitlines()
    assert out == ["Added sample · 5 rows × 6 cols", "Added cities · 5 rows × 6 cols"]
    chat = shell.run_line_magic("chatdf", "")
    assert [d.name for d in chat.datasets] == ["sample", "cities"]
    assert [d.kind for d in chat.datasets] == ["parquet", "csv"]


@needs_wiring
def test_add_a_notebook_variable(
    shell: InteractiveShell, cities: pl.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.user_ns["df_cities"] = cities
    # One variable twice is one dataset twice: the second is refused, naming the first.
    with pytest.raises(UsageError, match="already loaded as 'df_cities'"):
        shell.run_line_magic("chatdf", "add df_cities prices=df_cities")
    out = capsys.readouterr().out.splitlines()
    assert out == ["Added df_cities · 5 rows × 2 cols (follows the variable df_cities)"]
    chat = shell.run_line_magic("chatdf", "")
    assert [(d.name, d.source) for d in chat.datasets] == [
        ("df_cities", "<polars.DataFrame df_cities>")
    ]


@needs_wiring
def test_a_variable_is_followed_after_reassignment(
    shell: InteractiveShell, cities: pl.DataFrame
) -> None:
    shell.user_ns["df_cities"] = cities
    shell.run_line_magic("chatdf", "add prices=df_cities")
    chat = shell.run_line_magic("chatdf", "")
    assert chat.sql("SELECT count(*) AS n FROM prices").item() == 5
    shell.run_cell("import polars as pl\ndf_cities = df_cities.filter(pl.col('price') > 5)")
    assert chat.sql("SELECT count(*) AS n FROM prices").item() == 3


def test_adding_a_variable_that_is_not_a_frame_says_so(shell: InteractiveShell) -> None:
    shell.user_ns["threshold"] = 5
    with pytest.raises(UsageError, match="'threshold' is a int, not a DataFrame"):
        shell.run_line_magic("chatdf", "add threshold")


# -- %%chatdf questions -------------------------------------------------------------------


@needs_wiring
def test_a_question_cell_streams_the_answer_and_binds_the_result(
    shell: InteractiveShell, gemini_env: FakeGemini, cities: pl.DataFrame
) -> None:
    shell.user_ns["df_cities"] = cities
    shell.run_line_magic("chatdf", "add cities=df_cities")
    script_top_cities(gemini_env)

    with capture_output() as shown:
        shell.run_cell_magic("chatdf", "-o top", "Which cities cost more than 5?")

    assert shell.user_ns["top"].to_dicts() == TOP_ROWS
    assert "_chatdf" not in shell.user_ns
    texts = markdown_texts(shown.outputs)
    assert texts[0] == "_Thinking…_"
    assert texts[-1] == "Three cities cost more than 5."
    html = [o.data.get("text/html", "") for o in shown.outputs]
    assert any("<table" in h and "Baku" in h for h in html)  # the result
    assert any("<details><summary>SQL</summary>" in h and "price &gt; 5" in h for h in html)
    assert TOP_SQL in [o.data["text/plain"] for o in shown.outputs]


@needs_wiring
def test_the_default_variable_is_underscore_chatdf(
    shell: InteractiveShell, gemini_env: FakeGemini, cities: pl.DataFrame
) -> None:
    shell.user_ns["df_cities"] = cities
    shell.run_line_magic("chatdf", "add cities=df_cities")
    script_top_cities(gemini_env)
    with capture_output():
        shell.run_cell_magic("chatdf", "", "Which cities cost more than 5?")
    assert shell.user_ns["_chatdf"].to_dicts() == TOP_ROWS


def test_the_answer_streams_into_one_display(
    shell: InteractiveShell, gemini_env: FakeGemini
) -> None:
    magics(shell).stream_interval = 0
    gemini_env.add_stream(text_chunks("One, two, three, four.", n=4, delay=0.05))
    with capture_output() as shown:
        shell.run_cell_magic("chatdf", "", "Count to four")
    texts = markdown_texts(shown.outputs)
    assert texts[-1] == "One, two, three, four."
    partial = [t for t in texts if t not in ("_Thinking…_", "One, two, three, four.")]
    assert partial and all("One, two, three, four.".startswith(t) for t in partial)
    display_ids = {o.transient["display_id"] for o in shown.outputs if "text/markdown" in o.data}
    assert len(display_ids) == 1  # every update rewrites the same output
    assert "_chatdf" not in shell.user_ns  # no query, nothing to bind


def test_without_an_api_key_a_question_says_how_to_set_one(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY")
    with capture_output(), pytest.raises(UsageError, match="No Gemini API key. Set GEMINI_API_KEY"):
        shell.run_cell_magic("chatdf", "", "Anything?")


def test_a_model_error_is_a_usage_error_and_binds_nothing(
    shell: InteractiveShell, gemini_env: FakeGemini
) -> None:
    gemini_env.add_error(
        400, "API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID"
    )
    with capture_output(), pytest.raises(UsageError, match="API key"):
        shell.run_cell_magic("chatdf", "-o top", "Anything?")
    assert "top" not in shell.user_ns


def test_interrupting_a_question_stops_it_and_keeps_the_partial_answer(
    shell: InteractiveShell, gemini_env: FakeGemini
) -> None:
    gemini_env.add_hang(text_chunks("Partial answer", n=1, finish_reason=None), seconds=20)
    # The kernel's interrupt is a KeyboardInterrupt in the main thread. Python's own
    # handler makes it one: an asyncio.Runner an earlier test left behind keeps its
    # SIGINT handler installed, which swallows the first interrupt.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(1.0, _thread.interrupt_main)
    timer.start()
    try:
        with capture_output() as shown:
            shell.run_cell_magic("chatdf", "", "Tell me everything")
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert markdown_texts(shown.outputs)[-1] == "Partial answer\n\n_(stopped)_"
    chat = shell.run_line_magic("chatdf", "")
    assert not chat._busy  # the next question may start


# -- %%chatdf --sql, export, code, history, usage ---------------------------------------------


def test_a_sql_cell_binds_and_shows_the_rows(shell: InteractiveShell, parquet_file: Path) -> None:
    shell.run_line_magic("chatdf", f"add cities={parquet_file}")
    with capture_output() as shown:
        shell.run_cell_magic(
            "chatdf", "--sql -o cheap", "SELECT city FROM cities WHERE price < 4 ORDER BY city"
        )
    assert shell.user_ns["cheap"].to_dicts() == [{"city": "Kyiv"}, {"city": "Lima"}]
    assert "Kyiv" in shown.outputs[0].data["text/html"]
    with capture_output():
        shell.run_cell_magic("chatdf", "--sql", "SELECT count(*) AS n FROM cities")
    assert shell.user_ns["_chatdf"].item() == 5


def test_a_sql_cell_is_read_only(shell: InteractiveShell, parquet_file: Path) -> None:
    shell.run_line_magic("chatdf", f"add cities={parquet_file}")
    with pytest.raises(UsageError, match="(?i)only.*select|read-only|not allowed"):
        shell.run_cell_magic("chatdf", "--sql", "DROP TABLE cities")
    assert "_chatdf" not in shell.user_ns


def test_the_default_variable_is_configurable(shell: InteractiveShell, parquet_file: Path) -> None:
    shell.run_line_magic("chatdf", f"add cities={parquet_file}")
    shell.run_line_magic("config", "ChatDFMagics.default_output = 'res'")
    with capture_output():
        shell.run_cell_magic("chatdf", "--sql", "SELECT 1 AS one FROM cities LIMIT 1")
    assert shell.user_ns["res"].item() == 1
    with pytest.raises(TraitError, match="not a valid Python variable name"):
        magics(shell).default_output = "not valid"


@needs_wiring
def test_export_and_code_magics(
    shell: InteractiveShell, parquet_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("chatdf", f"add cities={parquet_file}")
    with capture_output():
        shell.run_cell_magic("chatdf", "--sql", "SELECT city, price FROM cities ORDER BY price")
    capsys.readouterr()
    shell.run_line_magic("chatdf", "export by_price --to pandas")
    assert isinstance(shell.user_ns["by_price"], pd.DataFrame)
    assert capsys.readouterr().out.strip() == (
        "Exported to by_price: a pandas DataFrame, 5 rows × 2 columns"
    )
    shell.run_line_magic("chatdf", "export live --to lazy")
    assert isinstance(shell.user_ns["live"], pl.LazyFrame)
    assert_frame_equal(shell.user_ns["live"].collect(), shell.user_ns["_chatdf"])

    shell.run_line_magic("chatdf", "code")
    code = shell.rl_next_input
    assert "pl.scan_parquet(" in code and "ORDER BY\n  \"price\"" in code  # as generated
    namespace: dict = {}
    exec(code, namespace)
    assert_frame_equal(namespace["result"], shell.user_ns["_chatdf"])

    with pytest.raises(UsageError, match="'nope' is no longer kept"):
        shell.run_line_magic("chatdf", "export x --result nope")


@needs_wiring
def test_export_and_result_cells_keep_variables_that_are_not_frames(
    shell: InteractiveShell, parquet_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("chatdf", f"add cities={parquet_file}")
    shell.run_cell("import os\ndef helper(): return 1")
    with capture_output():
        shell.run_cell_magic("chatdf", "--sql", "SELECT city FROM cities ORDER BY city")
    for line, message in [
        ("export os", "'os' holds a module; choose another name, or add --overwrite"),
        ("export helper", "'helper' holds a function"),
        ("export print", "'print' is a Python builtin"),
        ("export __builtins__", "'__builtins__' starts with '_'"),
        ("code --overwrite", "--overwrite goes with export"),
    ]:
        with pytest.raises(UsageError, match=message):
            shell.run_line_magic("chatdf", line)
    with pytest.raises(UsageError, match="'os' holds a module; name the result another way"):
        shell.run_cell_magic("chatdf", "--sql -o os", "SELECT 1 AS one FROM cities")
    assert shell.run_cell("print(os.sep, helper())").success
    capsys.readouterr()

    shell.run_line_magic("chatdf", "export helper --overwrite")
    assert shell.user_ns["helper"].height == 5
    assert capsys.readouterr().out.startswith("Exported to helper: a polars DataFrame")


def test_history_and_usage(
    shell: InteractiveShell, gemini_env: FakeGemini, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("chatdf", "history")
    assert capsys.readouterr().out.strip() == "No conversations stored yet."
    gemini_env.add_stream(text_chunks("Hello there.", usage=(120, 30)))
    with capture_output():
        shell.run_cell_magic("chatdf", "", "Say hello")

    shell.run_line_magic("chatdf", "history")
    header, row = capsys.readouterr().out.strip().splitlines()
    assert header.split() == ["id", "updated", "messages", "title"]
    assert row.split()[3:] == ["2", "Say", "hello"]  # id, date, time, messages, title

    shell.run_line_magic("chatdf", "usage")
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "Tokens in the last 24 hours: 150 of 5,000,000 (0.0%)."
    assert lines[1].split(":")[1].strip() == "120 in, 30 out"

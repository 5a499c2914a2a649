"""``%chatdf chart NAME`` and charts in ``%%chatdf`` answers, in a real IPython shell."""

from __future__ import annotations

import altair as alt
import polars as pl
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from tests.fake_gemini import FakeGemini, function_call, text_chunks

SQL = "SELECT city, price FROM cities ORDER BY price DESC"
BAR = {"mark": "bar", "encoding": {"x": {"field": "city", "sort": "-y"}, "y": {"field": "price"}}}


@pytest.fixture
def chat_with_cities(shell: InteractiveShell, cities: pl.DataFrame):
    shell.user_ns["df_cities"] = cities
    shell.run_line_magic("chatdf", "add cities=df_cities")
    return shell.run_line_magic("chatdf", "")


def test_the_last_chart_goes_into_a_variable(shell: InteractiveShell, chat_with_cities) -> None:
    with pytest.raises(UsageError, match="No chart yet"):
        shell.run_line_magic("chatdf", "chart fig")
    chat_with_cities.sql(SQL)
    drawn = chat_with_cities.chart(BAR)

    with capture_output() as shown:
        shell.run_line_magic("chatdf", "chart fig")

    assert shell.user_ns["fig"] is drawn
    assert "Chart in fig" in shown.stdout
    shell.run_line_magic("chatdf", "chart fig")  # a chart may replace a chart


def test_a_variable_holding_something_else_is_kept_unless_overwrite(
    shell: InteractiveShell, chat_with_cities
) -> None:
    chat_with_cities.sql(SQL)
    chat_with_cities.chart(BAR)
    shell.user_ns["fig"] = 42
    with pytest.raises(UsageError, match="'fig' holds a int; choose another name, or add --overwrite"):
        shell.run_line_magic("chatdf", "chart fig")
    assert shell.user_ns["fig"] == 42
    shell.run_line_magic("chatdf", "chart fig --overwrite")
    assert isinstance(shell.user_ns["fig"], alt.Chart)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("chart", "Give one variable name"),
        ("chart a b", "Give one variable name"),
        ("chart 1x", "1x"),
        ("chart fig --to pandas", "--to goes with export"),
    ],
)
def test_chart_arguments(shell: InteractiveShell, line: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        shell.run_line_magic("chatdf", line)


def test_a_question_cell_shows_the_chart_above_the_rows(
    shell: InteractiveShell, gemini_env: FakeGemini, chat_with_cities
) -> None:
    gemini_env.add_stream([function_call("execute_sql", {"query": SQL})])
    gemini_env.add_stream([function_call("create_chart", {"spec": BAR})])
    gemini_env.add_stream(text_chunks("Baku is the most expensive."))

    with capture_output() as shown:
        shell.run_cell_magic("chatdf", "-o prices", "Chart the prices")

    kinds = ["chart" if "vega" in str(o.data) else "rows" if "<table" in str(o.data) else "other" for o in shown.outputs]
    assert "chart" in kinds and kinds.index("chart") < kinds.index("rows")
    assert shell.user_ns["prices"].height == 5
    shell.run_line_magic("chatdf", "chart fig")
    assert isinstance(shell.user_ns["fig"], alt.Chart) and shell.user_ns["fig"].data.equals(shell.user_ns["prices"])

"""The notebook journey of issue 6, end to end in a real JupyterLab.

Open ``notebooks/quickstart.ipynb``, run it all (the fake Gemini plays the
replies the notebook is scripted with), open the chat in JupyterLab's right
sidebar, ask a question in it, export the result grid to a variable with the
"Export to variable" button, and use that variable in a new cell. Every step
is saved as ``test-artifacts/ui/journey-NN-<step>.png``.
"""

from __future__ import annotations

import polars as pl
import pytest

from tests.fake_gemini import FakeGemini, function_call, text_chunks

from .harness import REPO_ROOT, SAMPLE_PARQUET, expect, screenshot

pytestmark = pytest.mark.browser

QUICKSTART = REPO_ROOT / "notebooks" / "quickstart.ipynb"
QUICKSTART_REPLIES = REPO_ROOT / "notebooks" / "fake_replies" / "quickstart.json"

QUESTION = "How many flowers of each species are there, and how wide are their sepals?"
QUERY = (
    "SELECT species, count(*) AS flowers, round(avg(sepal_width), 2) AS avg_sepal_width\n"
    "FROM iris\nGROUP BY species\nORDER BY species"
)
ANSWER = "There are **50** flowers of each species; setosa has the widest sepals."
VARIABLE = "sepals"

# The quickstart leaves its chat open: the sidebar shows that same session, iris loaded.
SIDEBAR_CELL = "%chatdf --sidebar"
USE_CELL = (
    f'print({VARIABLE}.shape, {VARIABLE}["flowers"].sum(), {VARIABLE}["avg_sepal_width"].to_list())'
)


def expected_print() -> str:
    """What USE_CELL prints, worked out with plain Polars instead of SQL."""
    frame = (
        pl.read_parquet(SAMPLE_PARQUET)
        .group_by("species")
        .agg(flowers=pl.len(), avg_sepal_width=pl.col("sepal_width").mean().round(2))
        .sort("species")
    )
    return f"{frame.shape} {frame['flowers'].sum()} {frame['avg_sepal_width'].to_list()}"


def test_quickstart_sidebar_ask_export_and_use(open_notebook, fake_gemini: FakeGemini):
    fake_gemini.load_script(QUICKSTART_REPLIES)
    notebook = open_notebook(copy_from=QUICKSTART)
    page = notebook.page
    expect(notebook.cell(0)).to_contain_text("chatdf quickstart")
    screenshot(page, "journey-01-opened")

    # Run All: every cell of the quickstart, the %%chatdf question among them.
    notebook.run_all(timeout=120)
    assert fake_gemini.pending == 0, "the quickstart did not ask the model what it is scripted for"
    asked = notebook.cells.filter(has=page.locator(".jp-InputArea", has_text="%%chatdf -o petals"))
    shown = asked.locator(".jp-OutputArea-output").first
    expect(shown).to_contain_text("Virginica has the longest petals")
    asked.scroll_into_view_if_needed()
    screenshot(page, "journey-02-run-all")

    # The chat in JupyterLab's right sidebar (sidecar), not in the cell's output.
    fake_gemini.add_stream([function_call("execute_sql", {"query": QUERY})])
    fake_gemini.add_stream(text_chunks(ANSWER, n=3))
    sidebar_cell = notebook.run_cell(SIDEBAR_CELL)
    shown_below = notebook.output_text(sidebar_cell)
    assert "no JupyterLab sidebar" not in shown_below  # the inline fallback's notice
    sidebar = page.locator("#jp-right-stack .jupyterlab-sidecar")
    widget = sidebar.locator(".chatdf").first
    expect(widget).to_be_visible()
    expect(notebook.cell(sidebar_cell).locator(".chatdf")).to_have_count(0)
    # The sidebar is narrow: the widget shows its panels as tabs.
    expect(widget.get_by_role("tab", name="Datasets (1)")).to_be_visible()
    screenshot(page, "journey-03-sidebar")

    # Ask in the sidebar: the fake calls execute_sql, then answers.
    box = widget.get_by_role("textbox", name="Ask a question")
    box.fill(QUESTION)
    box.press("Enter")
    expect(widget.locator(".chatdf-msg--user").last).to_have_text(QUESTION)
    answer = widget.locator(".chatdf-msg--assistant .chatdf-md").last
    expect(answer).to_have_text(ANSWER.replace("**", ""), timeout=30_000)
    grid = widget.locator(".chatdf-grid").last
    expect(grid).to_contain_text("Showing 1–3 of 3 rows")
    expect(grid.locator("tbody tr").first.locator("td").first).to_have_text("setosa")
    screenshot(page, "journey-04-answer")

    # Export to variable: the button asks for a name, the widget confirms.
    grid.get_by_role("button", name="Export to variable").click()
    name = grid.get_by_role("textbox", name="Variable name")
    expect(name).to_be_focused()
    name.fill(VARIABLE)
    screenshot(page, "journey-05-export-name")
    name.press("Enter")
    toast = widget.locator(".chatdf-toast")
    expect(toast).to_have_text(f"Saved as the variable {VARIABLE}.")
    expect(name).to_have_count(0)
    screenshot(page, "journey-06-exported")

    # A new cell uses the variable like any DataFrame.
    used = notebook.run_cell(USE_CELL)
    assert notebook.output_text(used).strip() == expected_print()
    notebook.cell(used).scroll_into_view_if_needed()
    screenshot(page, "journey-07-variable-used")

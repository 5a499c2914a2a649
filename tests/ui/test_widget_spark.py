"""The browser journey with the Spark engine: ask, see a 50M-row result, sort and page it.

The rows stay on the local Spark cluster (tests/spark/cluster.py); every page and sort the
grid asks for runs there.
"""

from __future__ import annotations

import re

import pytest

from tests.fake_gemini import FakeGemini, function_call, text_chunks

from .harness import expect, screenshot

pytestmark = pytest.mark.browser

FRAMES = """
import polars as pl
chat.add(pl.DataFrame({"i": range(10_000)}), name="a")
chat.add(pl.DataFrame({"j": range(5_000)}), name="b")
"""


def test_spark_journey_pages_a_50m_row_result(
    open_notebook, chatdf_setup, fake_gemini: FakeGemini, spark_remote: str
):
    setup = chatdf_setup(engine="spark", spark_remote=spark_remote)
    notebook = open_notebook([setup + FRAMES + "chat"])
    notebook.run_all()
    widget = notebook.wait_widget(0)

    sql = "SELECT i * 5000 + j AS n, i, j FROM a CROSS JOIN b"
    fake_gemini.add_stream([function_call("execute_sql", {"query": sql})])
    fake_gemini.add_stream(text_chunks("Here are all 50 million numbers."))
    box = widget.get_by_role("textbox", name="Ask a question")
    box.fill("List every number")
    box.press("Enter")

    grid = widget.locator(".chatdf-grid")
    expect(grid).to_contain_text("of 50,000,000 rows", timeout=120_000)
    grid.get_by_role("button", name="Next page").click()
    expect(grid).to_contain_text("Showing 51–100 of 50,000,000 rows", timeout=60_000)

    header = grid.get_by_role("button", name="Sort by n")
    header.click()  # ascending
    expect(grid.locator("th[aria-sort=ascending]")).to_contain_text("n", timeout=60_000)
    header.click()  # descending: the cluster sorts 50M rows and sends 50
    expect(grid.locator("th[aria-sort=descending]")).to_contain_text("n", timeout=120_000)
    expect(grid.locator("tbody tr").first.locator("td").first).to_have_text(
        re.compile(r"49[,\u202f ]?999[,\u202f ]?999"), timeout=120_000
    )
    screenshot(widget, "widget-spark-50m-sorted")

    # The filter row works on the cluster too: i < 2 keeps 2 × 5,000 rows, counted there.
    grid.locator("th .chatdf-grid__colbtn").filter(has=notebook.page.locator('.chatdf-grid__name:text-is("i")')).click()
    panel = grid.get_by_role("region", name="Column i")
    # The summary of 50M rows would need them in the kernel: it says so, the filter stays.
    expect(panel).to_contain_text("stay on the Spark cluster", timeout=60_000)
    panel.get_by_role("combobox", name="Filter condition").select_option("lt")
    panel.get_by_role("textbox", name="Filter value").fill("2")
    panel.get_by_role("textbox", name="Filter value").press("Enter")
    expect(grid).to_contain_text("of 10,000 rows (filtered)", timeout=120_000)
    expect(grid.locator("tbody tr").first.locator("td").first).to_have_text(re.compile(r"9[,\u202f ]?999"))
    screenshot(widget, "widget-spark-filtered")

"""The result grid on a 10,000-row result: pages from the kernel, sorting over all rows."""

from __future__ import annotations

import pytest

from tests.fake_gemini import FakeGemini, function_call, text_chunks

from .harness import expect, screenshot

pytestmark = pytest.mark.browser

SCORES = """
import polars as pl
scores = pl.DataFrame({
    "id": range(10_000),
    "score": [(i * 7919) % 10_000 for i in range(10_000)],
    "label": [None if i % 7 == 0 else f"item number {i} with a description long enough to need a tooltip in the grid" for i in range(10_000)],
})
chat.add(scores, name="scores")
def helper():
    return "kept"
"""


def first_cells(grid, column: int) -> list[str]:
    return grid.locator(f"tbody tr td:nth-of-type({column})").all_inner_texts()[:3]


def test_sort_and_page_a_10000_row_result(open_notebook, chatdf_setup, fake_gemini: FakeGemini):
    notebook = open_notebook([chatdf_setup() + SCORES + "chat"])
    notebook.run_all()
    widget = notebook.wait_widget(0)
    notebook.page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    fake_gemini.add_stream([function_call("execute_sql", {"query": "SELECT * FROM scores"})])
    fake_gemini.add_stream(text_chunks("Here are all 10,000 scores."))
    box = widget.get_by_role("textbox", name="Ask a question")
    box.fill("Show all scores")
    box.press("Enter")

    grid = widget.locator(".chatdf-grid")
    expect(grid).to_contain_text("Showing 1–50 of 10,000 rows")
    expect(grid).to_contain_text("of 200")
    expect(grid.get_by_role("textbox", name="Go to page")).to_have_value("1")
    assert first_cells(grid, 1) == ["0", "1", "2"]
    expect(grid.locator("tbody tr")).to_have_count(50)
    # Nulls are italic and muted; numbers right-aligned; long text truncated with a tooltip.
    null = grid.locator("tbody tr").first.locator(".chatdf-null")
    expect(null).to_have_text("null")
    assert null.evaluate("el => getComputedStyle(el).fontStyle") == "italic"
    assert grid.locator("tbody td").first.evaluate("el => getComputedStyle(el).textAlign") == "right"
    long_cell = grid.locator("tbody tr").nth(1).locator("td").nth(2)
    assert long_cell.get_attribute("title") == "item number 1 with a description long enough to need a tooltip in the grid"
    assert long_cell.evaluate("el => el.scrollWidth > el.clientWidth")

    grid.get_by_role("button", name="Next page").click()
    expect(grid).to_contain_text("Showing 51–100 of 10,000 rows")
    assert first_cells(grid, 1) == ["50", "51", "52"]

    # Sorting is done by the kernel over all 10,000 rows: asc -> desc -> off.
    header = grid.get_by_role("button", name="Sort by score")
    header.click()
    expect(grid).to_contain_text("Showing 1–50 of 10,000 rows")
    expect(grid.locator("th[aria-sort=ascending]")).to_contain_text("score")
    expect(grid.locator("tbody tr").first.locator("td").nth(1)).to_have_text("0")
    header.click()
    expect(grid.locator("th[aria-sort=descending]")).to_contain_text("score")
    expect(grid.locator("tbody tr").first.locator("td").nth(1)).to_have_text("9,999")
    grid.get_by_role("button", name="Next page").click()
    expect(grid.locator("tbody tr").first.locator("td").nth(1)).to_have_text("9,949")
    screenshot(widget, "widget-grid-sorted")
    header.click()
    expect(grid.locator("th[aria-sort=descending]")).to_have_count(0)
    expect(grid.locator("tbody tr").first.locator("td").first).to_have_text("0")

    # Resize by dragging the header's edge (never below 50 px); double-click fits the content.
    th = grid.locator("thead th").nth(2)
    before = th.bounding_box()["width"]
    handle = th.locator(".chatdf-grid__resizer")
    handle.scroll_into_view_if_needed()
    hb = handle.bounding_box()
    notebook.page.mouse.move(hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2)
    notebook.page.mouse.down()
    notebook.page.mouse.move(hb["x"] - 400, hb["y"] + hb["height"] / 2, steps=5)
    notebook.page.mouse.up()
    assert 49 <= th.bounding_box()["width"] <= 60, th.bounding_box()
    handle.dblclick()
    assert abs(th.bounding_box()["width"] - before) < 20, (th.bounding_box(), before)

    # Copy all: every row as TSV, from the kernel.
    grid.get_by_role("button", name="Copy all").click()
    expect(widget.locator(".chatdf-toast").last).to_contain_text("Copied 10,000 rows")
    copied = notebook.page.evaluate("() => navigator.clipboard.readText()")
    lines = copied.splitlines()
    assert lines[0] == "id\tscore\tlabel" and len(lines) == 10_001
    assert lines[1] == "0\t0\t"

    # Export to variable: a refused name says why; an existing variable is replaced
    # only after the user confirms.
    grid.get_by_role("button", name="Export to variable").click()
    name = grid.get_by_role("textbox", name="Variable name")
    name.fill("print")
    name.press("Enter")
    expect(grid.get_by_role("alert")).to_contain_text("'print' is a Python builtin")
    name.fill("helper")
    name.press("Enter")
    dialog = widget.get_by_role("dialog", name="Replace variable?")
    expect(dialog).to_contain_text("'helper' holds a function; replace it?")
    screenshot(widget, "widget-grid-export-confirm")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert notebook.kernel_json("helper()") == "kept"
    name.press("Enter")
    widget.get_by_role("dialog", name="Replace variable?").get_by_role("button", name="Replace helper").click()
    expect(widget.locator(".chatdf-toast").last).to_have_text("Saved as the variable helper.")
    assert notebook.kernel_json("helper.shape") == [10_000, 3]

    # Only the page crossed to the browser: the saved widget state stays small.
    size = notebook.kernel_json(
        "len(_json.dumps({k: v for k, v in chat.get_state().items() if k not in ('_esm', '_css')}))"
    )
    assert size < 20_000, size
    screenshot(widget, "widget-grid")

"""The grid analysts expect (issue #12, defects 5, 6, 8, 9, 10 and the grid features):
room to read a wide result, formatted numbers, paging with a loading cue, column
summaries and filters over the whole result, copy / download / code, the grid before
the prose, and errors a person can act on. Screenshots in light and dark, in a cell
and in the sidebar at 250 px and 400 px."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fake_gemini import FakeGemini, function_call, text_chunks

from .harness import expect, screenshot

pytestmark = pytest.mark.browser

ROWS = 10_000
WIDE = f"""
import datetime as _dt
import polars as pl
sales = pl.DataFrame({{
    "order_id": range({ROWS}),
    "region": [f"Region {{i % 4}}" for i in range({ROWS})],
    "revenue": [12075718.32 if i == 0 else round(i * 1234.5, 1) for i in range({ROWS})],
    "day": [_dt.date(2024, 1, 1) + _dt.timedelta(days=i % 30) for i in range({ROWS})],
    **{{f"metric_{{k:02d}}": [(i * k) % 97 for i in range({ROWS})] for k in range(4, 36)}},
}})
chat.add(sales, name="sales")
"""
QUERY = "SELECT * FROM sales"


def ask(widget, fake_gemini: FakeGemini, question: str = "Show all sales", answer: str = "Here are the sales.") -> None:
    fake_gemini.add_stream([function_call("execute_sql", {"query": QUERY})])
    fake_gemini.add_stream(text_chunks(answer))
    box = widget.get_by_role("textbox", name="Ask a question")
    box.fill(question)
    box.press("Enter")


def set_theme(notebook, widget, theme: str) -> None:
    notebook.kernel_json(f"setattr(chat, 'theme', {theme!r}) or {theme!r}")
    expect(widget).to_have_attribute("data-theme", theme)


def column_button(grid, name: str):
    return grid.locator("th .chatdf-grid__colbtn").filter(has=grid.page.locator(f'.chatdf-grid__name:text-is("{name}")'))


def visible_counts(grid) -> dict[str, int]:
    """Columns and rows fully inside the grid's scroll box."""
    return grid.locator(".chatdf-grid__scroll").evaluate(
        """box => {
          const r = box.getBoundingClientRect();
          const heads = [...box.querySelectorAll("thead th")].filter(th => {
            const b = th.getBoundingClientRect(); return b.left >= r.left - 1 && b.right <= r.right + 1;
          });
          const rows = [...box.querySelectorAll("tbody tr")].filter(tr => {
            const b = tr.getBoundingClientRect(); return b.top >= r.top - 1 && b.bottom <= r.bottom + 1;
          });
          return { columns: heads.length - 1, rows: rows.length };
        }"""
    )


def test_wide_result_room_row_numbers_frozen_column_and_formats(open_notebook, chatdf_setup, fake_gemini: FakeGemini):
    """Defects 5 and 6: a 36-column result with the file browser open."""
    notebook = open_notebook([chatdf_setup() + WIDE + "chat"])
    notebook.run_all()
    widget = notebook.wait_widget(0)
    notebook.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    ask(widget, fake_gemini)
    grid = widget.locator(".chatdf-grid")
    expect(grid).to_contain_text(f"Showing 1–50 of {ROWS:,} rows")

    # Row numbers, and the dtype under each name.
    expect(grid.locator("tbody tr").first.locator("th")).to_have_text("1")
    expect(grid.locator("tbody tr").nth(49).locator("th")).to_have_text("50")
    expect(column_button(grid, "revenue")).to_contain_text("Float64")
    expect(column_button(grid, "day")).to_contain_text("Date")
    # JupyterLab opens with its file browser: the grid gets the chat column's width.
    counts = visible_counts(grid)
    print("visible with the file browser open:", counts)
    assert counts["columns"] >= 3, counts
    assert grid.locator(".chatdf-grid__scroll").evaluate("box => box.scrollWidth > box.clientWidth * 5")
    assert counts["rows"] >= 20, counts

    # The first column stays put when the table scrolls sideways.
    first = grid.locator("tbody tr").first.locator("td").first
    before = first.bounding_box()["x"]
    grid.locator(".chatdf-grid__scroll").evaluate("box => { box.scrollLeft = 2000; }")
    notebook.page.wait_for_timeout(100)
    assert abs(first.bounding_box()["x"] - before) < 1
    assert grid.locator("tbody tr").first.locator("th").bounding_box()["x"] < before
    grid.locator(".chatdf-grid__scroll").evaluate("box => { box.scrollLeft = 0; }")

    # Numbers: thousands separators, one number of decimals down a column; ids as they are.
    revenue = [t.strip() for t in grid.locator('tbody td[data-col="2"]').all_inner_texts()[:3]]
    assert revenue == ["12,075,718.32", "1,234.50", "2,469.00"], revenue
    decimals = {len(t.split(".")[1]) for t in grid.locator('tbody td[data-col="2"]').all_inner_texts()}
    assert decimals == {2}
    assert grid.locator('tbody td[data-col="0"]').nth(3).inner_text() == "3"
    assert grid.locator('tbody td[data-col="3"]').first.inner_text() == "2024-01-01"
    screenshot(widget, "grid-cell-light")

    # Copy keeps the raw values.
    grid.get_by_role("button", name="Copy all").click()
    expect(widget.locator(".chatdf-toast").last).to_contain_text(f"Copied {ROWS:,} rows")
    lines = notebook.page.evaluate("() => navigator.clipboard.readText()").splitlines()
    assert len(lines) == ROWS + 1
    assert lines[1].split("\t")[:4] == ["0", "Region 0", "12075718.32", "2024-01-01"]

    # With the file browser closed there is room for more.
    notebook.toggle_left_sidebar()
    notebook.page.wait_for_timeout(300)
    wider = visible_counts(grid)
    print("visible with the file browser closed:", wider)
    assert wider["columns"] >= 4, wider
    overflow = widget.evaluate("el => el.scrollWidth - el.clientWidth")
    assert overflow <= 0, f"the widget overflows by {overflow} px"
    screenshot(notebook.page, "grid-cell-file-browser")

    set_theme(notebook, widget, "dark")
    screenshot(widget, "grid-cell-dark")


def test_paging_loading_cue_first_last_goto_and_page_size(open_notebook, chatdf_setup, fake_gemini: FakeGemini):
    """Defect 9."""
    notebook = open_notebook([chatdf_setup() + WIDE + "chat"])
    notebook.run_all()
    widget = notebook.wait_widget(0)
    ask(widget, fake_gemini)
    grid = widget.locator(".chatdf-grid")
    expect(grid).to_contain_text(f"Showing 1–50 of {ROWS:,} rows")

    # "Last page" is not prefetched: the old rows are dimmed under a cue at once.
    cue = notebook.page.evaluate(
        """grid => {
          grid.querySelector('button[aria-label="Last page"]').click();
          return new Promise(resolve => requestAnimationFrame(() => resolve({
            cue: !!grid.querySelector(".chatdf-grid__loading"),
            busy: grid.getAttribute("aria-busy"),
            stale: !!grid.querySelector(".chatdf-grid__table--stale"),
          })));
        }""",
        grid.element_handle(),
    )
    assert cue == {"cue": True, "busy": "true", "stale": True}, cue
    expect(grid).to_contain_text(f"Showing 9,951–10,000 of {ROWS:,} rows")
    expect(grid.locator(".chatdf-grid__loading")).to_have_count(0)
    expect(grid.locator("tbody tr").last.locator("th")).to_have_text("10,000")
    expect(grid.get_by_role("button", name="Next page")).to_be_disabled()

    grid.get_by_role("button", name="First page").click()
    expect(grid).to_contain_text("Showing 1–50 of")
    goto = grid.get_by_role("textbox", name="Go to page")
    goto.fill("7")
    goto.press("Enter")
    expect(grid).to_contain_text("Showing 301–350 of")
    expect(grid.locator("tbody tr").first.locator("td").first).to_have_text("300")

    grid.get_by_role("combobox", name="Rows per page").select_option("100")
    expect(grid).to_contain_text("Showing 301–400 of")
    expect(grid.locator("tbody tr")).to_have_count(100)
    grid.get_by_role("combobox", name="Rows per page").select_option("500")
    expect(grid).to_contain_text("Showing 1–500 of")
    expect(grid.locator("tbody tr")).to_have_count(500)
    expect(grid.get_by_role("textbox", name="Go to page")).to_have_value("1")
    expect(grid).to_contain_text("of 20")
    screenshot(widget, "grid-paging-500")


def test_column_summary_filter_download_and_code(open_notebook, chatdf_setup, fake_gemini: FakeGemini, tmp_path: Path):
    """Headers open a summary of the whole result; filters and sorts run in the kernel."""
    notebook = open_notebook([chatdf_setup() + WIDE + "chat"])
    notebook.run_all()
    widget = notebook.wait_widget(0)
    notebook.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    ask(widget, fake_gemini)
    grid = widget.locator(".chatdf-grid")
    expect(grid).to_contain_text(f"Showing 1–50 of {ROWS:,} rows")

    column_button(grid, "revenue").click()
    panel = grid.get_by_role("region", name="Column revenue")
    expect(panel).to_contain_text("Rows10,000")
    expect(panel).to_contain_text("Nulls0 (0%)")
    expect(panel).to_contain_text("Max12,343,765.5")
    expect(panel.get_by_role("img", name="Histogram of values")).to_be_visible()
    screenshot(widget, "grid-summary-numbers")

    column_button(grid, "region").click()
    panel = grid.get_by_role("region", name="Column region")
    expect(panel).to_contain_text("Distinct4")
    expect(panel.get_by_role("list", name="Most common values")).to_contain_text("Region 0")

    # Filter over the whole result, then sort it descending by revenue.
    panel.get_by_role("combobox", name="Filter condition").select_option("eq")
    panel.get_by_role("textbox", name="Filter value").fill("Region 2")
    panel.get_by_role("textbox", name="Filter value").press("Enter")
    expect(grid).to_contain_text("Showing 1–50 of 2,500 rows (filtered)")
    expect(grid.get_by_role("button", name='Remove filter region = Region 2')).to_be_visible()
    # The filtered column's header makes room for its funnel: the dtype is not cut.
    dtype = column_button(grid, "region").locator(".chatdf-grid__dtype")
    expect(dtype.locator(".chatdf-icon")).to_have_count(1)
    grid.page.wait_for_timeout(200)  # the width follows in the next render
    assert dtype.evaluate("el => el.scrollWidth <= el.clientWidth"), "the filtered column's dtype is cut"
    grid.get_by_role("button", name="Sort by revenue").click()
    grid.get_by_role("button", name="Sort by revenue").click()
    expect(grid.locator("th[aria-sort=descending]")).to_contain_text("revenue")
    expect(grid.locator("tbody tr").first.locator("td").first).to_have_text("9998")
    screenshot(widget, "grid-filtered-sorted")

    # A bad filter value says why; the grid keeps working.
    column_button(grid, "revenue").click()
    panel = grid.get_by_role("region", name="Column revenue")
    panel.get_by_role("combobox", name="Filter condition").select_option("gt")
    panel.get_by_role("textbox", name="Filter value").fill("lots")
    panel.get_by_role("button", name="Filter").click()
    expect(grid.locator(".chatdf-grid__error")).to_contain_text("'lots' is not a Float64 value")
    grid.get_by_role("button", name="Remove filter revenue > lots").click()
    expect(grid).to_contain_text("Showing 1–50 of 2,500 rows (filtered)")
    grid.get_by_role("button", name="Remove filter region = Region 2").click()
    expect(grid).to_contain_text(f"Showing 1–50 of {ROWS:,} rows")

    # Download CSV of the whole result, streamed from the kernel in chunks.
    grid.locator(".chatdf-grid__menu > summary").click()
    with notebook.page.expect_download() as download:
        grid.get_by_role("button", name="CSV").click()
    saved = tmp_path / "sales.csv"
    download.value.save_as(saved)
    text = saved.read_text().splitlines()
    assert len(text) == ROWS + 1 and text[0].startswith("order_id,region,revenue,day,metric_04")

    # Copy as code: the Polars code that recreates the result.
    grid.get_by_role("button", name="Copy as code").click()
    expect(widget.locator(".chatdf-toast").last).to_contain_text("Copied the Polars code")
    code = notebook.page.evaluate("() => navigator.clipboard.readText()")
    assert code == notebook.kernel_json("chat.code()"), code


def test_grid_shows_when_the_query_finishes_not_after_the_prose(open_notebook, chatdf_setup, fake_gemini: FakeGemini):
    """Defect 8: the grid is up while the answer still streams; phase labels follow the turn."""
    notebook = open_notebook([chatdf_setup() + WIDE + "chat"])
    notebook.run_all()
    widget = notebook.wait_widget(0)
    fake_gemini.add_stream([function_call("execute_sql", {"query": QUERY})])
    fake_gemini.add_stream(text_chunks("Revenue is highest in region two by a wide margin this month. " * 4, n=8, delay=0.6))
    box = widget.get_by_role("textbox", name="Ask a question")
    box.fill("Show all sales")
    box.press("Enter")
    answer = widget.locator(".chatdf-msg--assistant").last
    grid = answer.locator(".chatdf-grid")
    expect(grid.locator("tbody tr").first).to_be_visible(timeout=15_000)
    assert answer.get_attribute("aria-busy") == "true", "the grid came only after the answer"
    expect(answer.locator(".chatdf-phase")).to_have_text("Writing the answer…")
    screenshot(widget, "grid-while-streaming")
    # No phase label flashes at the end.
    labels = notebook.page.evaluate(
        """answer => new Promise(resolve => {
          const seen = [];
          const observer = new MutationObserver(() => {
            const p = answer.querySelector(".chatdf-phase");
            if (p) seen.push(p.textContent);
            if (answer.getAttribute("aria-busy") !== "true") { observer.disconnect(); resolve(seen); }
          });
          observer.observe(answer, { subtree: true, childList: true, characterData: true, attributes: true });
        })""",
        answer.element_handle(),
    )
    assert "Thinking…" not in labels, labels
    expect(answer).to_have_attribute("aria-busy", "false")


def test_errors_human_first_line_position_countdown_and_shown_once(open_notebook, chatdf_setup, fake_gemini: FakeGemini):
    """Defect 10."""
    notebook = open_notebook([chatdf_setup() + WIDE + "chat"])
    notebook.run_all()
    widget = notebook.wait_widget(0)
    ask(widget, fake_gemini)
    answer = widget.locator(".chatdf-msg--assistant").last
    expect(answer.locator(".chatdf-grid")).to_contain_text("Showing 1–50")

    # A bad column in edited SQL: a sentence first, the raw Polars text in Details, the spot marked.
    answer.get_by_role("button", name="Show SQL").click()
    editor = answer.locator(".cm-content")
    editor.click()
    notebook.page.keyboard.press("Control+a")
    notebook.page.keyboard.type("SELECT regoin, revenue FROM sales")
    answer.get_by_role("button", name="Run", exact=True).click()
    error = answer.locator(".chatdf-sql__error")
    expect(error.locator(".chatdf-sql__error-title")).to_have_text(re.compile(r'column that does not exist: "regoin"'))
    details = error.locator("details")
    expect(details.locator(".chatdf-error__raw")).to_be_hidden()
    details.locator("summary").click()
    expect(details.locator(".chatdf-error__raw")).to_contain_text("regoin")
    expect(answer.locator(".chatdf-sql__error-mark")).to_have_text("regoin")
    screenshot(widget, "grid-sql-error-light")
    set_theme(notebook, widget, "dark")
    screenshot(widget, "grid-sql-error-dark")
    set_theme(notebook, widget, "light")

    # A parse error has a line and column: the editor marks it.
    editor.click()
    notebook.page.keyboard.press("Control+a")
    notebook.page.keyboard.type("SELECT region FROM sales WHERE (")
    answer.get_by_role("button", name="Run", exact=True).click()
    expect(error.locator(".chatdf-sql__error-title")).to_contain_text("Could not parse the SQL")
    expect(answer.locator(".chatdf-sql__error-mark")).to_have_count(1)

    # 429: a countdown, and "Try again" disabled until it ends.
    fake_gemini.add_error(429, "Resource has been exhausted (e.g. check quota).", retry_delay=4)
    box = widget.get_by_role("textbox", name="Ask a question")
    box.fill("And by month?")
    box.press("Enter")
    card = widget.locator(".chatdf-error").last
    expect(card.locator(".chatdf-error__wait")).to_contain_text(re.compile(r"try again in [1-4] s"))
    retry = card.get_by_role("button", name=re.compile("Try again"))
    expect(retry).to_be_disabled()
    first = card.locator(".chatdf-error__wait").inner_text()
    notebook.page.wait_for_timeout(1200)
    assert card.locator(".chatdf-error__wait").inner_text() != first, "the countdown does not move"
    assert card.locator(".chatdf-error__message").evaluate("el => getComputedStyle(el).color") != card.evaluate(
        "el => getComputedStyle(el).borderLeftColor"
    )
    screenshot(widget, "grid-429-countdown")
    expect(retry).to_be_enabled(timeout=8_000)
    expect(card.locator(".chatdf-error__wait")).to_have_text("You can try again now.")

    # Reopening the conversation shows its error once.
    widget.get_by_role("button", name="New chat").click()
    expect(widget.locator(".chatdf-msg")).to_have_count(0)
    widget.locator(".chatdf-history__open").filter(has_text="Show all sales").first.click()
    expect(widget.locator(".chatdf-msg--user")).to_have_count(2)
    expect(widget.locator(".chatdf-error")).to_have_count(1)
    expect(widget.locator(".chatdf-error__message")).to_have_text("Gemini's rate limit or quota was reached.")
    expect(widget.locator(".chatdf-error__raw")).to_contain_text("Resource has been exhausted")
    expect(widget.locator(".chatdf-md").filter(has_text="Resource has been exhausted")).to_have_count(0)


@pytest.mark.parametrize("width", [250, 400])
def test_grid_in_the_sidebar(open_notebook, chatdf_setup, fake_gemini: FakeGemini, width: int):
    """The grid at the sidebar's default width and at 400 px, light and dark."""
    placed = "from chatdf.sidebar import SidebarPlacement\nSidebarPlacement('chatdf').show(chat)"
    notebook = open_notebook([chatdf_setup() + WIDE + placed])
    notebook.run_all()
    page = notebook.page
    sidebar = page.locator("#jp-right-stack")
    widget = sidebar.locator(".chatdf").first
    expect(widget).to_be_visible()
    current = sidebar.bounding_box()["width"]
    if abs(current - width) > 4:
        handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle:not(.lm-mod-hidden)").last
        box = handle.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 200)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] / 2 - (width - current), box["y"] + 200, steps=5)
        page.mouse.up()
    assert abs(sidebar.bounding_box()["width"] - width) <= 6, sidebar.bounding_box()
    ask(widget, fake_gemini)
    grid = widget.locator(".chatdf-grid").last
    expect(grid).to_contain_text(f"of {ROWS:,} rows")
    grid.scroll_into_view_if_needed()
    counts = visible_counts(grid)
    assert counts["columns"] >= (1 if width == 250 else 2), counts
    overflow = widget.evaluate("el => el.scrollWidth - el.clientWidth")
    assert overflow <= 0, f"the widget overflows by {overflow} px"
    screenshot(sidebar, f"grid-sidebar-{width}-light")
    # The pager fits: every button inside the grid's box.
    footer = grid.locator(".chatdf-grid__footer")
    footer.scroll_into_view_if_needed()
    right = grid.bounding_box()["x"] + grid.bounding_box()["width"]
    for name in ("First page", "Previous page", "Next page", "Last page"):
        box = grid.get_by_role("button", name=name).bounding_box()
        assert box["x"] + box["width"] <= right + 1, (name, box, right)
    screenshot(sidebar, f"grid-sidebar-{width}-pager-light")
    column_button(grid, "revenue").click()
    expect(grid.get_by_role("region", name="Column revenue")).to_contain_text("Rows")
    screenshot(sidebar, f"grid-sidebar-{width}-summary-light")
    set_theme(notebook, widget, "dark")
    screenshot(sidebar, f"grid-sidebar-{width}-summary-dark")
    grid.get_by_role("button", name="Close column summary").click()
    screenshot(sidebar, f"grid-sidebar-{width}-dark")

"""The widget at its real sizes and themes (issue 12: defects 1, 2, 3, 4, 7, 11, 12, 13, 14).

Each test drives the widget in a real JupyterLab in Chromium: in JupyterLab's right
sidebar at its default width, and in a notebook cell. Contrast is measured from
computed style, in JupyterLab's light and dark themes. Screenshots of every state
go to test-artifacts/ui/layout-*.png.
"""

from __future__ import annotations

import re

import pytest

from tests.fake_gemini import FakeGemini, function_call, text_chunks

from .harness import SAMPLE_PARQUET, expect, screenshot
from .layout_helpers import (
    low_contrast,
    right_panel_width,
    set_lab_theme,
    set_right_panel_width,
    sidebar_widget,
)

pytestmark = pytest.mark.browser

QUERY = (
    "SELECT species, avg(petal_length) AS avg_petal_length, avg(petal_width) AS avg_petal_width, "
    "count(*) AS flowers FROM iris GROUP BY species ORDER BY species"
)
ANSWER = (
    "Revenue-style summary by region, as the analysts asked for it:\n\n"
    "| Region | Revenue | Orders |\n|---|---|---|\n"
    "| Northwest | $12.08M | 1,204 |\n| Southeast | $9.71M | 998 |\n\n"
    "- Virginica has the longest petals\n- Setosa the shortest\n\n"
    "Overall the differences between the species are considerable and consistent."
)
QUESTION = "Which species has the longest petals, and by how much?"

# Words split across lines inside markdown (prose and table cells): [word, lines].
SPLIT_WORDS_JS = """(root) => {
  const split = [];
  for (const el of root.querySelectorAll(".chatdf-md p, .chatdf-md li, .chatdf-md th, .chatdf-md td, .chatdf-msg__bubble")) {
    for (const node of el.childNodes) {
      if (node.nodeType !== 3) continue;
      const text = node.textContent;
      const re = /\\S+/g;
      let m;
      while ((m = re.exec(text))) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
        if (tops.size > 1) split.push([m[0], tops.size]);
      }
    }
  }
  return split;
}"""


def ask(widget, question: str) -> None:
    box = widget.get_by_role("textbox", name="Ask a question")
    box.fill(question)
    box.press("Enter")


def script_answer(fake_gemini: FakeGemini) -> None:
    fake_gemini.add_stream([function_call("execute_sql", {"query": QUERY})])
    fake_gemini.add_stream(text_chunks(ANSWER, n=4))


def answered(widget, fake_gemini: FakeGemini) -> None:
    """Load the sample, ask, and wait for the answer and its grid."""
    widget.get_by_role("button", name="Try with sample data").click()
    expect(widget.get_by_role("list", name="Suggested questions")).to_be_visible()
    script_answer(fake_gemini)
    ask(widget, QUESTION)
    expect(widget.locator(".chatdf-md").last).to_contain_text("considerable and consistent", timeout=30_000)
    expect(widget.locator(".chatdf-grid").last).to_contain_text("Showing 1–3 of 3 rows")


def test_sidebar_default_width_wraps_words_scrolls_tables_and_fills_height(
    open_notebook, chatdf_setup, fake_gemini: FakeGemini
):
    notebook = open_notebook([chatdf_setup()], width=1400, height=900)
    notebook.run_all()
    widget = sidebar_widget(notebook)
    page = notebook.page
    width = right_panel_width(page)
    assert 200 <= width <= 300, f"the sidebar's default width is {width} px"

    # The empty chat starts at its top: the heading is on screen, not scrolled away.
    scroll = widget.locator(".chatdf-chat__scroll")
    expect(widget.get_by_role("heading", name="Chat with your data")).to_be_in_viewport()
    assert scroll.evaluate("el => el.scrollTop") == 0
    # The widget fills the sidebar's height (it was a fixed 680 px).
    panel = page.locator("#jp-right-stack").bounding_box()
    box = widget.bounding_box()
    assert box["y"] + box["height"] >= panel["y"] + panel["height"] - 24, (box, panel)
    assert box["y"] + box["height"] <= panel["y"] + panel["height"] + 1, (box, panel)
    screenshot(page, "layout-sidebar-250-onboarding")

    answered(widget, fake_gemini)
    screenshot(page, "layout-sidebar-250-answer")
    assert widget.evaluate(SPLIT_WORDS_JS) == [], "words break mid-word"
    table = widget.locator(".chatdf-md table").last
    assert table.evaluate("el => getComputedStyle(el).overflowX") == "auto"
    assert table.evaluate("el => el.getBoundingClientRect().right") <= box["x"] + box["width"]
    overflow = widget.evaluate("el => el.scrollWidth - el.clientWidth")
    assert overflow <= 0, f"the widget overflows its width by {overflow} px"
    # The grid shows more than one column at 250 px.
    visible = whole_grid_columns(widget)
    assert visible >= 2, f"only {visible} grid column fits at {width} px"
    # Lists use filled discs, as JupyterLab's Markdown does.
    assert widget.locator(".chatdf-md ul").last.evaluate("el => getComputedStyle(el).listStyleType") == "disc"

    set_right_panel_width(page, 400)
    assert abs(right_panel_width(page) - 400) < 30
    assert widget.evaluate(SPLIT_WORDS_JS) == []
    screenshot(page, "layout-sidebar-400-answer")

    # A grid that loaded at 400 px still shows two whole columns when the sidebar goes back
    # to 250 px: its first widths follow the container (they were fixed at first load).
    script_answer(fake_gemini)
    ask(widget, "And by sepal?")
    expect(widget.locator(".chatdf-grid")).to_have_count(2, timeout=30_000)
    expect(widget.locator(".chatdf-grid").last).to_contain_text("Showing 1–3 of 3 rows")
    set_right_panel_width(page, 250)
    expect(widget.locator(".chatdf-grid__scroll").last).to_be_visible()
    page.wait_for_timeout(300)  # a ResizeObserver round
    visible = whole_grid_columns(widget)
    screenshot(page, "layout-sidebar-400-then-250-answer")
    assert visible >= 2, f"only {visible} grid column fits after narrowing to 250 px"


def whole_grid_columns(widget) -> int:
    """How many of the last grid's data columns (not the row numbers) have their header wholly on screen."""
    return widget.locator(".chatdf-grid__scroll").last.evaluate(
        """el => { const r = el.getBoundingClientRect();
           return [...el.querySelectorAll("thead th:not(.chatdf-grid__rownum)")].filter((th) => {
             const b = th.getBoundingClientRect(); return b.left >= r.left - 1 && b.right <= r.right + 1; }).length; }"""
    )


def test_every_text_reaches_aa_contrast_in_light_and_dark(open_notebook, chatdf_setup, fake_gemini: FakeGemini):
    notebook = open_notebook([chatdf_setup(token_limit=30)], width=1400, height=900)
    notebook.run_all()
    widget = sidebar_widget(notebook)
    page = notebook.page
    answered(widget, fake_gemini)  # the fake's 30 tokens use the whole limit: "Usage limit reached"
    assert notebook.kernel_json("chat.usage.exhausted") is True
    # An SQL error in the SQL panel.
    widget.get_by_role("button", name="Show SQL").last.click()
    editor = widget.locator(".chatdf-sql .cm-content").last
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.type("SELECT nope FROM iris")
    widget.get_by_role("button", name="Run").last.click()
    expect(widget.locator(".chatdf-sql__error, .chatdf-grid__error").first).to_be_visible()

    failures = {}
    for lab_theme in ("JupyterLab Light", "JupyterLab Dark"):
        set_lab_theme(page, lab_theme)
        shade = "dark" if lab_theme.endswith("Dark") else "light"
        for tab in ("Chat", "History"):
            widget.get_by_role("tab", name=tab).click()
            if tab == "History":
                summary = widget.locator(".chatdf-usage__summary")
                if summary.get_attribute("aria-expanded") != "true":
                    summary.click()
            screenshot(page, f"layout-contrast-{shade}-{tab.lower()}")
            bad = low_contrast(widget)
            if bad:
                failures[f"{shade}/{tab}"] = bad
    # The pinned palettes (Settings › Theme) whatever JupyterLab shows.
    set_lab_theme(page, "JupyterLab Light")
    for pinned in ("dark", "light"):
        widget.get_by_role("tab", name="History").click()
        settings = widget.locator(".chatdf-settings")
        if settings.get_attribute("open") is None:
            settings.locator("summary").click()
        widget.get_by_role("combobox", name="Theme").select_option(pinned)
        expect(widget).to_have_attribute("data-theme", pinned)
        for tab in ("History", "Chat"):
            widget.get_by_role("tab", name=tab).click()
            screenshot(page, f"layout-contrast-pinned-{pinned}-{tab.lower()}")
            bad = low_contrast(widget)
            if bad:
                failures[f"pinned-{pinned}/{tab}"] = bad
        widget.get_by_role("tab", name="History").click()
    lines = [f"{k}: {b['where']} {b['ratio']} {b['text']!r}" for k, v in failures.items() for b in v]
    assert not lines, "\n".join(lines)


@pytest.fixture
def accepts_only(fake_gemini: FakeGemini):
    """The fake accepts only the key the test pastes; put back afterwards."""
    before = fake_gemini.api_key
    yield fake_gemini
    fake_gemini.api_key = before


def test_no_key_offers_a_session_key_kept_in_memory_only(open_notebook, accepts_only: FakeGemini):
    fake_gemini = accepts_only
    pasted = "pasted-key-4c1e8a9b77"
    fake_gemini.api_key = pasted
    setup = (
        "import os\nos.environ.pop('GEMINI_API_KEY', None)\nfrom chatdf import ChatDF\n"
        f"chat = ChatDF(gemini_base_url={fake_gemini.url!r}, allow_private_urls=True)\nchat"
    )
    notebook = open_notebook([setup], width=1400, height=900)
    notebook.run_all()
    widget = notebook.wait_widget(0)
    page = notebook.page
    form = widget.get_by_role("form", name="Gemini API key")
    expect(form).to_be_visible()
    # One message, not the same sentence twice.
    assert widget.inner_text().count("Add a Gemini API key") == 1
    assert widget.locator(".chatdf-input-reason").count() == 0
    expect(form.get_by_role("link", name="Get a key")).to_have_attribute("href", "https://aistudio.google.com/apikey")
    chips = widget.get_by_role("list", name="Example questions").get_by_role("button")
    expect(chips.first).to_be_disabled()
    expect(widget.locator(".chatdf-chips__why")).to_contain_text("Gemini API key")
    assert low_contrast(widget) == []
    screenshot(widget, "layout-cell-no-key")

    # A bad paste: a clear error, nothing echoed.
    field = form.get_by_label("Gemini API key")
    field.fill("not a key")
    field.press("Enter")  # Enter works in a notebook cell
    expect(form.get_by_role("alert")).to_contain_text("does not look like a Gemini API key")

    field.fill(pasted)
    field.press("Enter")
    expect(form).to_have_count(0)
    expect(widget.get_by_role("textbox", name="Ask a question")).to_be_enabled()
    fake_gemini.add_stream(text_chunks("Key works.", n=1))
    ask(widget, "Hello?")
    expect(widget.locator(".chatdf-md").last).to_have_text("Key works.", timeout=30_000)
    screenshot(widget, "layout-cell-key-set")

    # Kept in kernel memory only: not in the saved notebook, the widget state or the database.
    page.keyboard.press("Control+s")
    page.wait_for_timeout(1500)
    saved = (notebook.lab.root_dir / notebook.path).read_text()
    assert pasted not in saved
    assert notebook.kernel_json(f"{pasted!r} in str(chat.get_state())") is False
    history = notebook.lab.history_path(notebook.path)
    assert history.exists() and pasted.encode() not in history.read_bytes()
    for log in history.parent.rglob("*"):
        if log.is_file():
            assert pasted.encode() not in log.read_bytes(), log


def test_enter_works_in_the_url_box_and_export_box_in_a_cell(open_notebook, chatdf_setup, fake_gemini: FakeGemini):
    notebook = open_notebook([chatdf_setup() + "\nchat"], width=1400, height=900)
    notebook.run_all()
    widget = notebook.wait_widget(0)
    source = widget.get_by_role("textbox", name="Parquet or CSV URL or path")
    source.click()
    source.fill(str(notebook.lab.root_dir / notebook.lab.add_file(SAMPLE_PARQUET)))
    source.press("Enter")
    expect(widget.locator(".chatdf-card__open")).to_contain_text("150 rows")

    script_answer(fake_gemini)
    ask(widget, QUESTION)
    grid = widget.locator(".chatdf-grid").last
    expect(grid).to_contain_text("Showing 1–3 of 3 rows", timeout=30_000)
    grid.get_by_role("button", name="Export to variable").click()
    name = grid.get_by_role("textbox", name="Variable name")
    name.fill("by_species")
    name.press("Enter")
    expect(widget.locator(".chatdf-toast")).to_have_text("Saved as the variable by_species.")
    assert notebook.kernel_json("by_species.height") == 3


def test_cell_height_drags_and_is_remembered_and_results_expand(open_notebook, chatdf_setup, fake_gemini: FakeGemini):
    notebook = open_notebook([chatdf_setup() + "\nchat"], width=1400, height=900)
    notebook.run_all()
    widget = notebook.wait_widget(0)
    page = notebook.page
    answered(widget, fake_gemini)
    widget.get_by_role("button", name="Show SQL").last.click()
    expect(widget.locator(".chatdf-sql .cm-content")).to_contain_text("GROUP BY species")
    screenshot(widget, "readme-chatdf-widget")  # notebooks/images/chatdf-widget.png
    widget.get_by_role("button", name="Hide SQL").last.click()
    script_answer(fake_gemini)  # a second answer: the chat is now taller than the widget
    ask(widget, "And by sepal?")
    expect(widget.locator(".chatdf-grid")).to_have_count(2, timeout=30_000)
    expect(widget.locator(".chatdf-grid").last).to_contain_text("Showing 1–3 of 3 rows")
    # The end of the answer is on screen after the grid loaded (it used to be below the fold).
    actions = widget.locator(".chatdf-msg__actions").last
    expect(actions).to_be_in_viewport()
    scroll = widget.locator(".chatdf-chat__scroll")
    gap = scroll.evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight")
    assert gap < 40, f"the chat is {gap} px short of its end after the grid loaded"

    # The Scroll to bottom pill never covers the messages.
    scroll.evaluate("el => el.scrollTo(0, 0)")
    pill = widget.get_by_role("button", name="Scroll to bottom")
    expect(pill).to_be_visible()
    pill_box, scroll_box = pill.bounding_box(), scroll.bounding_box()
    assert pill_box["y"] >= scroll_box["y"] + scroll_box["height"] - 1, "the pill covers the messages"
    screenshot(widget, "layout-cell-scroll-pill")
    pill.click()
    expect(pill).to_have_count(0)

    # Drag the bottom-right corner 160 px down: the height is kept in the widget's state.
    box = widget.bounding_box()
    before = box["height"]
    corner = (box["x"] + box["width"] - 3, box["y"] + box["height"] - 3)
    page.mouse.move(*corner)
    page.mouse.down()
    page.mouse.move(corner[0], corner[1] + 160, steps=8)
    page.mouse.up()
    page.wait_for_timeout(800)
    after = widget.bounding_box()["height"]
    assert after > before + 100, (before, after)
    kept = notebook.kernel_json("chat._layout.get('height')")
    assert kept is not None and abs(kept - after) < 6, (kept, after)
    # A new view of the same chat opens at that height.
    shown = notebook.run_cell("chat")
    again = notebook.wait_widget(shown)
    assert abs(again.bounding_box()["height"] - after) < 6
    # Inner scrollers don't drag the chat along.
    assert widget.locator(".chatdf-grid__scroll").last.evaluate("el => getComputedStyle(el).overscrollBehaviorY") == "contain"

    widget.get_by_role("button", name="Expand result").last.click()
    dialog = page.get_by_role("dialog", name="Result")
    expect(dialog.locator(".chatdf-grid")).to_contain_text("Showing 1–3 of 3 rows")
    assert dialog.bounding_box()["width"] > 0.85 * 1400
    screenshot(page, "layout-cell-expanded-result")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)


def test_narrow_usage_warning_new_chat_settings_history_and_datasets(
    open_notebook, chatdf_setup, fake_gemini: FakeGemini
):
    notebook = open_notebook([chatdf_setup(token_limit=33)], width=1400, height=900)
    notebook.run_all()
    widget = sidebar_widget(notebook)
    page = notebook.page
    answered(widget, fake_gemini)
    # At 91% the usage warning shows on the Chat tab too, and its details don't wrap word by word.
    banner = widget.locator(".chatdf-usage-banner")
    expect(banner).to_be_visible()
    expect(banner.locator(".chatdf-usage--warning")).to_be_visible()
    banner.locator(".chatdf-usage__summary").click()
    lines = banner.locator(".chatdf-usage__details dt, .chatdf-usage__details dd").evaluate_all(
        "els => els.map((el) => Math.round(el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight)))"
    )
    assert lines and max(lines) <= 2, f"usage details wrap over {lines} lines"
    screenshot(page, "layout-sidebar-250-usage-limit")

    # New chat and Settings from the Chat tab.
    expect(widget.get_by_role("button", name="New chat")).to_be_visible()
    widget.get_by_role("button", name="Settings").click()
    expect(widget.get_by_role("combobox", name="Theme")).to_be_visible()
    screenshot(page, "layout-sidebar-250-settings")
    # History: full title on hover, questions counted (not stored messages), no local-session stub.
    item = widget.locator(".chatdf-history__open").first
    expect(item).to_have_attribute("title", QUESTION)
    expect(item).to_contain_text("1 question")
    assert "Local session" not in widget.inner_text()
    assert "Sign-in coming later" not in widget.inner_text()

    # Datasets: card text whole, schema dialog with one scrollbar.
    widget.get_by_role("tab", name="Datasets (1)").click()
    shape = widget.locator(".chatdf-card__shape").first
    assert shape.evaluate("el => el.scrollWidth <= el.clientWidth"), "the card text is cut"
    screenshot(page, "layout-sidebar-250-datasets")
    widget.locator(".chatdf-card__open").first.click()
    dialog = page.get_by_role("dialog", name="Dataset iris")
    expect(dialog).to_be_visible()
    scrollers = dialog.evaluate(
        """el => [el, ...el.querySelectorAll("*")].filter((n) => n.scrollHeight > n.clientHeight + 1 &&
             ["auto", "scroll"].includes(getComputedStyle(n).overflowY)).length"""
    )
    assert scrollers <= 1, f"the schema dialog has {scrollers} scrollbars"
    page.keyboard.press("Escape")

    # A newly added dataset gets suggested questions.
    notebook.run_cell("import polars as pl\nchat.add(pl.DataFrame({'fare': [1.5, 2.5], 'city': ['a', 'b']}), name='trips')")
    widget.get_by_role("tab", name="Chat").click()
    widget.get_by_role("button", name="New chat").click()
    expect(widget.get_by_role("list", name="Suggested questions")).to_contain_text("trips")
    # Header dataset chips don't overflow silently: they wrap or scroll.
    chips = widget.locator(".chatdf-using")
    assert chips.evaluate("el => el.scrollWidth <= el.clientWidth || getComputedStyle(el).overflowX === 'auto'")
    screenshot(page, "layout-sidebar-250-two-datasets")


def test_screenshots_of_every_state_light_and_dark_sidebar_and_cell(
    open_notebook, chatdf_setup, fake_gemini: FakeGemini
):
    """Not an assertion of looks: the PNGs a person checks (test-artifacts/ui/layout-matrix-*)."""
    notebook = open_notebook([chatdf_setup() + "\nchat"], width=1400, height=900)
    notebook.run_all()
    cell = notebook.wait_widget(0)
    page = notebook.page
    side = sidebar_widget(notebook)

    def shoot(state: str) -> None:
        for theme in ("JupyterLab Light", "JupyterLab Dark"):
            set_lab_theme(page, theme)
            shade = theme.split()[-1].lower()
            for width in (250, 400):
                set_right_panel_width(page, width)
                for tab in ("Chat", "Datasets", "History"):
                    side.get_by_role("tab", name=re.compile(tab)).click()
                    screenshot(page.locator("#jp-right-stack"), f"layout-matrix-{state}-{shade}-sidebar{width}-{tab.lower()}")
                overflow = side.evaluate("el => el.scrollWidth - el.clientWidth")
                assert overflow <= 0, f"{state} {shade} {width}: the widget overflows by {overflow} px"
            side.get_by_role("tab", name="Chat").click()
            cell.scroll_into_view_if_needed()
            screenshot(cell, f"layout-matrix-{state}-{shade}-cell")
        set_lab_theme(page, "JupyterLab Light")

    shoot("onboarding")
    cell.get_by_role("button", name="Try with sample data").click()
    expect(cell.get_by_role("list", name="Suggested questions")).to_be_visible()
    script_answer(fake_gemini)
    ask(cell, QUESTION)
    expect(cell.locator(".chatdf-grid").last).to_contain_text("Showing 1–3 of 3 rows", timeout=30_000)
    expect(side.locator(".chatdf-md").last).to_contain_text("considerable and consistent", timeout=30_000)
    shoot("answer")
    side.get_by_role("tab", name=re.compile("Datasets")).click()
    side.locator(".chatdf-card__open").first.click()
    dialog = page.get_by_role("dialog", name="Dataset iris")
    expect(dialog).to_contain_text("no nulls")
    screenshot(page, "layout-matrix-schema-dialog-light")
    page.keyboard.press("Escape")

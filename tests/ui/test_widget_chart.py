"""Charts in the widget: the model's chart under its answer, and "Chart this" on a grid.

The chart renderer (vega-embed) and the spec editor (CodeMirror) are not in the
first bundle: the widget fetches them over the comm when a chart first shows.
Screenshots: ``test-artifacts/ui/chart-*.png`` (cell and 250 px sidebar, light
and JupyterLab Dark).
"""

from __future__ import annotations

import contextlib

import pytest

from tests.fake_gemini import FakeGemini, function_call, text_chunks

from .harness import expect, screenshot

pytestmark = pytest.mark.browser

# "<b>Bold</b>" is a city: tooltips and axis labels must show it as text.
SALES = """
import polars as pl
chat.add(pl.DataFrame({
    "city": ["Oslo", "Lima", "Pune", "Oslo", "<b>Bold</b>", "Kyiv", "Lima"],
    "price": [10.5, 3.25, 7.0, 2.0, 1.0, 4.5, 6.0],
    "day": pl.date_range(pl.date(2024, 1, 1), pl.date(2024, 1, 7), eager=True),
}), name="sales")
"""
TOTALS = "SELECT city, SUM(price) AS total, COUNT(*) AS n FROM sales GROUP BY city ORDER BY city"
CITIES = 5
BAR = {
    "mark": "bar",
    "encoding": {
        "x": {"field": "city", "type": "nominal", "sort": "-y"},
        "y": {"field": "total", "type": "quantitative", "title": "Sales"},
    },
}

# Bars are <path>s in <g class="mark-rect role-mark">; points and lines have their own classes.
BARS = ".chatdf-chart__canvas g.mark-rect.role-mark path"

# Luminance of the first axis label's fill: follows the theme.
LABEL_LUMINANCE_JS = """(host) => {
  const text = host.querySelector("g.role-axis-label text");
  const [r, g, b] = getComputedStyle(text).fill.match(/[\\d.]+/g).map(Number).map((v) => v / 255);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}"""


def assert_fills_its_box(chart) -> None:
    """The chart is drawn at its box's width (a single view: axes and legend included)."""
    host = chart.locator(".chatdf-chart__host")
    expect(chart.locator(".chatdf-chart__canvas svg")).to_have_count(1)
    chart.page.wait_for_function(
        "(host) => Math.abs(host.querySelector('svg').getBoundingClientRect().width - host.clientWidth) <= 2",
        arg=host.element_handle(),
        timeout=10_000,
    )


def set_lab_theme(page, name: str) -> None:
    """Pick a JupyterLab theme from Settings › Theme, as a person would."""
    page.locator('.lm-MenuBar-itemLabel:text-is("Settings")').click()
    page.locator('.lm-Menu-itemLabel:text-is("Theme")').hover()
    page.locator(f'.lm-Menu-itemLabel:text-is("{name}")').click()
    light = "true" if "Light" in name else "false"
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", light)


def ask(widget, question: str) -> None:
    box = widget.get_by_role("textbox", name="Ask a question")
    box.fill(question)
    box.press("Enter")


def test_the_models_chart_renders_in_both_themes_in_a_cell_and_the_sidebar(
    open_notebook, fake_gemini: FakeGemini, tmp_path
):
    # question -> execute_sql -> create_chart -> answer, through the real SDK and the fake.
    fake_gemini.add_stream([function_call("execute_sql", {"query": TOTALS})])
    fake_gemini.add_stream([function_call("create_chart", {"spec": BAR, "title": "Sales by city"})])
    fake_gemini.add_stream(text_chunks("Oslo sells the most.", n=2))
    # The kernel's own chat (%chatdf), so `%chatdf --sidebar` shows the same one later.
    notebook = open_notebook(["%load_ext chatdf\nchat = %chatdf\n" + SALES + "chat"], width=1280, height=1000)
    notebook.run_all()
    widget = notebook.wait_widget(0)
    page = notebook.page
    ask(widget, "Which city sells the most? Chart it.")

    answer = widget.locator(".chatdf-msg--assistant").last
    expect(answer.locator(".chatdf-md")).to_have_text("Oslo sells the most.", timeout=30_000)
    chart = answer.locator(".chatdf-chart")
    expect(chart.locator(BARS)).to_have_count(CITIES, timeout=30_000)
    expect(chart.locator(".chatdf-chart__host")).to_have_attribute("data-marks", str(CITIES))
    # Under the answer's text, above its grid.
    grid = answer.locator(".chatdf-grid")
    text_box, chart_box, grid_box = (el.bounding_box() for el in (answer.locator(".chatdf-md"), chart, grid))
    assert text_box["y"] < chart_box["y"] < grid_box["y"], (text_box, chart_box, grid_box)
    # It takes the width it is given: no sideways scroll in a cell.
    host = chart.locator(".chatdf-chart__host")
    assert host.evaluate("el => el.scrollWidth - el.clientWidth") <= 1
    assert_fills_its_box(chart)
    # The data never entered synced state.
    assert notebook.kernel_json("len(str(chat.get_state()))") < 20_000

    # Tooltips are on, and text: the "<b>" city stays letters.
    chart.locator(BARS).last.hover()  # bars are in the result's order: Pune last
    tooltip = chart.locator(".chatdf-chart__tooltip")
    expect(tooltip).to_be_visible()
    expect(tooltip).to_have_text("city: Pune\nSales: 7")
    chart.locator(BARS).first.hover()
    expect(tooltip).to_contain_text("<b>Bold</b>")
    expect(tooltip.locator("b")).to_have_count(0)
    page.mouse.move(0, 0)
    answer.scroll_into_view_if_needed()
    screenshot(widget, "chart-cell-light")
    light_label = host.evaluate(LABEL_LUMINANCE_JS)

    # Downloads: an SVG and a PNG of what is shown.
    with page.expect_download() as svg_download:
        chart.get_by_role("button", name="SVG").click()
    assert svg_download.value.suggested_filename == "sales-by-city.svg"
    svg_path = tmp_path / "chart.svg"
    svg_download.value.save_as(svg_path)
    svg = svg_path.read_text()
    assert svg.startswith("<svg") and svg.count('role-mark') >= 1 and "Oslo" in svg
    with page.expect_download() as png_download:
        chart.get_by_role("button", name="PNG").click()
    assert png_download.value.suggested_filename == "sales-by-city.png"
    png_path = tmp_path / "chart.png"
    png_download.value.save_as(png_path)
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png_path.stat().st_size > 2_000

    # JupyterLab Dark: the chart redraws with the dark palette (light labels).
    set_lab_theme(page, "JupyterLab Dark")
    expect(chart.locator(BARS)).to_have_count(CITIES)
    page.wait_for_function("(host) => { const t = host.querySelector('g.role-axis-label text'); return t && getComputedStyle(t).fill !== '' }", arg=host.element_handle())
    # The redraw follows the theme's CSS; on a loaded machine it lands later than 0.5 s.
    with contextlib.suppress(Exception):  # a timeout: the assert below reports the colour
        page.wait_for_function(
            f"(host) => ({LABEL_LUMINANCE_JS})(host) > 0.4", arg=host.element_handle(), timeout=15_000
        )
    dark_label = host.evaluate(LABEL_LUMINANCE_JS)
    assert light_label < 0.4 < 0.6 < dark_label, (light_label, dark_label)
    assert_fills_its_box(chart)
    answer.scroll_into_view_if_needed()
    screenshot(widget, "chart-cell-dark")

    # The same chat in JupyterLab's right sidebar, at its narrow width (~250 px).
    cell = notebook.run_cell("%chatdf --sidebar")
    expect(notebook.cell(cell).locator(".chatdf")).to_have_count(0)
    side = page.locator("#jp-right-stack .jupyterlab-sidecar .chatdf").first
    expect(side).to_be_visible()
    side_chart = side.locator(".chatdf-chart").last
    expect(side_chart.locator(BARS)).to_have_count(CITIES, timeout=30_000)
    assert_fills_its_box(side_chart)
    width = side.bounding_box()["width"]
    assert width <= 320, f"the sidebar is {width:.0f} px wide"
    side_host = side_chart.locator(".chatdf-chart__host")
    assert side_host.evaluate("el => el.scrollWidth - el.clientWidth") <= 1, "the chart overflows the sidebar"
    side_chart.scroll_into_view_if_needed()
    screenshot(page, "chart-sidebar-dark")
    set_lab_theme(page, "JupyterLab Light")
    expect(side_chart.locator(BARS)).to_have_count(CITIES)
    with contextlib.suppress(Exception):  # a timeout: the assert below reports the colour
        page.wait_for_function(
            f"(host) => ({LABEL_LUMINANCE_JS})(host) < 0.4", arg=side_host.element_handle(), timeout=15_000
        )
    assert side_host.evaluate(LABEL_LUMINANCE_JS) < 0.4
    side_chart.scroll_into_view_if_needed()
    screenshot(page, "chart-sidebar-light")
    # Drag the sidebar wider: the chart follows its width.
    svg = side_chart.locator(".chatdf-chart__canvas svg")
    before = svg.bounding_box()["width"]
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle:not(.lm-mod-hidden)").last
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] - 150, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    page.wait_for_function(
        "([svg, before]) => svg.getBoundingClientRect().width > before + 100",
        arg=[svg.element_handle(), before],
        timeout=15_000,
    )
    assert side_host.evaluate("el => el.scrollWidth - el.clientWidth") <= 1
    screenshot(page, "chart-sidebar-400")


def test_chart_this_makes_a_bar_chart_without_the_model(open_notebook, chatdf_setup, fake_gemini: FakeGemini):
    fake_gemini.add_stream([function_call("execute_sql", {"query": TOTALS})])
    fake_gemini.add_stream(text_chunks("Totals per city.", n=1))
    notebook = open_notebook([chatdf_setup() + SALES + "chat"], width=1280, height=1000)
    notebook.run_all()
    widget = notebook.wait_widget(0)
    ask(widget, "Totals per city")
    answer = widget.locator(".chatdf-msg--assistant").last
    grid = answer.locator(".chatdf-grid")
    expect(grid).to_contain_text(f"Showing 1–{CITIES} of {CITIES} rows", timeout=30_000)
    expect(answer.locator(".chatdf-chart")).to_have_count(0)
    asked = len(fake_gemini.requests)

    # category + numeric -> bar; the pickers say so.
    grid.get_by_role("button", name="Chart this").click()
    chart = answer.locator(".chatdf-chart")
    expect(chart.locator(BARS)).to_have_count(CITIES, timeout=30_000)
    settings = chart.get_by_role("group", name="Chart settings")
    expect(settings.get_by_role("combobox", name="Mark")).to_have_value("bar")
    expect(settings.get_by_role("combobox", name="X")).to_have_value("city")
    expect(settings.get_by_role("combobox", name="Y")).to_have_value("total")
    chart_box, grid_box = chart.bounding_box(), grid.bounding_box()
    assert chart_box["y"] < grid_box["y"]
    screenshot(widget, "chart-this-bar")

    # Switch mark, y and colour without the model.
    settings.get_by_role("combobox", name="Mark").select_option("point")
    expect(chart.locator(".chatdf-chart__canvas g.mark-symbol.role-mark path")).to_have_count(CITIES)
    settings.get_by_role("combobox", name="Y").select_option("n")
    settings.get_by_role("combobox", name="Colour").select_option("city")
    expect(chart.locator(".chatdf-chart__canvas g.role-legend")).to_have_count(1)
    screenshot(widget, "chart-this-scatter-colour")

    # Edit the spec as JSON and Run: drawn again, checked by the kernel.
    chart.get_by_role("button", name="Edit spec").click()
    editor = chart.locator(".chatdf-chart__spec .cm-content")
    expect(editor).to_contain_text('"mark"')
    editor.click()
    page = notebook.page
    page.keyboard.press("Control+a")
    page.keyboard.insert_text('{"mark": "bar", "encoding": {"y": {"field": "city"}, "x": {"field": "n"}}}')
    chart.get_by_role("button", name="Run").click()
    expect(chart.locator(BARS)).to_have_count(CITIES)
    expect(chart.locator(".chatdf-chart__canvas g.role-legend")).to_have_count(0)
    assert_fills_its_box(chart)
    # A field that is not a column: the kernel's words, the chart stays.
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text('{"mark": "bar", "encoding": {"x": {"field": "town"}}}')
    page.keyboard.press("Control+Enter")
    expect(chart.locator(".chatdf-chart__error")).to_contain_text("town")
    expect(chart.locator(BARS)).to_have_count(CITIES)
    screenshot(widget, "chart-this-edit-spec")
    assert len(fake_gemini.requests) == asked, "Chart this must not ask the model"

    # The chart the user drew is saved with the answer: reopening the conversation draws it.
    conversation = notebook.kernel_json("chat.conversation_id")
    notebook.kernel_json(f"[chat.new(), chat.open_conversation({conversation!r})] and True")
    answer = widget.locator(".chatdf-msg--assistant").last
    chart = answer.locator(".chatdf-chart")
    expect(chart.locator(BARS)).to_have_count(CITIES, timeout=30_000)
    expect(chart.get_by_role("group", name="Chart settings")).to_have_count(0)
    # Chart this again, try a scatter, close: the saved bar chart is back.
    answer.locator(".chatdf-grid").get_by_role("button", name="Chart this").click()
    settings = chart.get_by_role("group", name="Chart settings")
    settings.get_by_role("combobox", name="Mark").select_option("point")
    expect(chart.locator(".chatdf-chart__canvas g.mark-symbol.role-mark path")).to_have_count(CITIES)
    chart.get_by_role("button", name="Close chart").click()
    expect(chart.locator(BARS)).to_have_count(CITIES, timeout=30_000)
    screenshot(widget, "chart-this-reopened")

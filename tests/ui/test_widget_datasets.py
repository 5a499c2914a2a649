"""Datasets and appearance: a bad URL then Retry, the schema dialog, dark theme, narrow layout."""

from __future__ import annotations

import polars as pl
import pytest

from tests.http_server import LocalHTTPServer

from .harness import expect, screenshot

pytestmark = pytest.mark.browser

IRIS_CARD = "iris · 150 rows × 5 cols"

# Relative luminance contrast (WCAG 2) of an element's text against the widget background.
CONTRAST_JS = """([el, root]) => {
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  let bgEl = el, bg = "rgba(0, 0, 0, 0)";
  while (bgEl && (bg === "rgba(0, 0, 0, 0)" || bg === "transparent")) { bg = getComputedStyle(bgEl).backgroundColor; bgEl = bgEl.parentElement; }
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(rgb(bg))];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def show_widget(open_notebook, chatdf_setup, *extra: str, **page):
    notebook = open_notebook(["\n".join([chatdf_setup(), *extra, "chat"])], **page)
    notebook.run_all()
    return notebook, notebook.wait_widget(0)


def test_bad_url_shows_the_error_then_retry_loads_it(open_notebook, chatdf_setup, tmp_path):
    with LocalHTTPServer(tmp_path) as server:
        url = server.url("/later.parquet")
        notebook, widget = show_widget(open_notebook, chatdf_setup)
        source = widget.get_by_role("textbox", name="Parquet or CSV URL or path")
        source.fill(url)
        widget.get_by_role("button", name="Add").click()

        card = widget.locator(".chatdf-card--error")
        expect(card).to_be_visible()
        expect(card.locator(".chatdf-card__error")).to_contain_text("404")
        screenshot(widget, "widget-dataset-error")

        pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}).write_parquet(tmp_path / "later.parquet")
        card.get_by_role("button", name="Retry").click()
        expect(widget.locator(".chatdf-card--error")).to_have_count(0)
        expect(widget.locator(".chatdf-card__open")).to_have_text("later · 3 rows × 2 cols")
        expect(widget.locator(".chatdf-datasets h3")).to_have_text("Datasets (1/20)")
        assert notebook.kernel_json("[d.source for d in chat.datasets]") == [url]


def test_schema_dialog_renames_and_closes_three_ways(open_notebook, chatdf_setup):
    notebook, widget = show_widget(open_notebook, chatdf_setup)
    widget.get_by_role("button", name="Try with sample data").click()
    expect(widget.locator(".chatdf-card__open")).to_have_text(IRIS_CARD)

    widget.locator(".chatdf-card__open").click()
    dialog = notebook.page.get_by_role("dialog", name="Dataset iris")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("150 rows × 5 columns")
    columns = dialog.get_by_role("list", name="Columns of iris")
    expect(columns.locator("li")).to_have_count(5)
    expect(columns.locator("li").first).to_have_text("sepal_lengthDecimalno nulls · e.g. 5.1, 4.9, 4.7")
    expect(columns.locator("li").last).to_have_text("speciesTextno nulls · e.g. setosa")
    screenshot(notebook.page, "widget-schema-dialog")

    name = dialog.get_by_role("textbox", name="Table name")
    name.fill("bad name")
    dialog.get_by_role("button", name="Rename").click()
    expect(dialog.get_by_role("alert")).to_contain_text("Letters, digits and _")
    name.fill("select")
    dialog.get_by_role("button", name="Rename").click()
    expect(dialog.get_by_role("alert")).to_contain_text("select")  # the kernel refuses reserved words
    name.fill("flowers")
    dialog.get_by_role("button", name="Rename").click()
    flowers = notebook.page.get_by_role("dialog", name="Dataset flowers")
    expect(flowers).to_contain_text("Renamed to flowers.")
    expect(widget.locator(".chatdf-card__open")).to_have_text("flowers · 150 rows × 5 cols")

    flowers.get_by_role("button", name="Refresh schema").click()
    expect(flowers).to_contain_text("Schema refreshed.")
    notebook.page.keyboard.press("Escape")
    expect(flowers).to_have_count(0)

    widget.locator(".chatdf-card__open").click()
    expect(flowers).to_be_visible()
    flowers.get_by_role("button", name="Close").click()
    expect(flowers).to_have_count(0)

    widget.locator(".chatdf-card__open").click()
    box = flowers.bounding_box()
    notebook.page.mouse.click(box["x"] + box["width"] + 30, box["y"] + 10)  # the backdrop
    expect(flowers).to_have_count(0)
    assert notebook.kernel_json("[d.name for d in chat.datasets]") == ["flowers"]

    # Remove asks first.
    widget.get_by_role("button", name="Remove flowers").click()
    confirm = notebook.page.get_by_role("dialog", name="Remove dataset")
    confirm.get_by_role("button", name="Remove").click()
    expect(widget.locator(".chatdf-datasets h3")).to_have_text("Datasets (0/20)")
    assert notebook.kernel_json("chat.datasets") == []


def test_dark_theme_and_readable_contrast(open_notebook, chatdf_setup):
    notebook, widget = show_widget(open_notebook, chatdf_setup)
    widget.get_by_role("button", name="Try with sample data").click()
    expect(widget.locator(".chatdf-card__open")).to_have_text(IRIS_CARD)

    for theme in ("light", "dark"):
        widget.locator(".chatdf-settings > summary").click() if theme == "light" else None
        widget.get_by_role("combobox", name="Theme").select_option(theme)
        expect(widget).to_have_attribute("data-theme", theme)
        for selector in (".chatdf-chat__title", ".chatdf-card__shape", ".chatdf-panel__title", ".chatdf-usage__label", ".chatdf-input-hint", ".chatdf-btn--primary"):
            ratio = notebook.page.evaluate(CONTRAST_JS, [widget.locator(selector).first.element_handle(), None])
            assert ratio >= 4.5, f"{theme}: {selector} has contrast {ratio:.2f}"
    screenshot(widget, "widget-dark")
    assert notebook.kernel_json("chat.theme") == "dark"


def test_narrow_container_uses_tabs(open_notebook, chatdf_setup):
    notebook, widget = show_widget(open_notebook, chatdf_setup, width=640, height=900)
    notebook.toggle_left_sidebar()
    tabs = widget.get_by_role("tablist", name="Panels")
    expect(tabs).to_be_visible()
    widget.get_by_role("button", name="Try with sample data").click()
    expect(widget.get_by_role("list", name="Datasets in use")).to_contain_text(IRIS_CARD)
    screenshot(notebook.page, "widget-narrow-chat")
    tabs.get_by_role("tab", name="Datasets (1)").click()
    expect(widget.locator(".chatdf-card__open")).to_have_text(IRIS_CARD)
    tabs.get_by_role("tab", name="History").click()
    expect(widget.get_by_role("button", name="New chat")).to_be_visible()
    screenshot(notebook.page, "widget-narrow-history")
    overflow = widget.evaluate("el => el.scrollWidth - el.clientWidth")
    assert overflow <= 0, f"the widget overflows its width by {overflow} px"

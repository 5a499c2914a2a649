"""Privacy mode in JupyterLab: the chat header says the model sees no cell values."""

from __future__ import annotations

import re

import pytest

from .harness import expect, screenshot

pytestmark = pytest.mark.browser


def test_schema_privacy_shows_a_badge_in_every_width_and_theme(open_notebook, chatdf_setup):
    source = "\n".join([chatdf_setup(privacy="schema"), "chat"])
    notebook = open_notebook([source])
    notebook.run_all()
    widget = notebook.wait_widget(0)
    widget.get_by_role("button", name="Try with sample data").click()
    expect(widget.locator(".chatdf-card__open")).to_contain_text("iris")

    badge = widget.locator(".chatdf-chat__header .chatdf-privacy")
    expect(badge).to_have_text("Schema only")
    assert "never cell values" in (badge.get_attribute("title") or "")
    screenshot(widget, "widget-privacy-light")

    widget.locator(".chatdf-settings > summary").click()
    widget.get_by_role("combobox", name="Theme").select_option("dark")
    expect(widget).to_have_attribute("data-theme", "dark")
    widget.locator(".chatdf-settings > summary").click()
    screenshot(widget, "widget-privacy-dark")

    # As in a sidebar: the badge stays whole inside the header at 400 and 250 px.
    for width in (400, 250):
        widget.evaluate(f"el => {{ el.style.width = '{width}px'; }}")
        expect(widget).to_have_class(re.compile(r"\bchatdf--narrow\b"))
        expect(badge).to_be_visible()
        label = badge.locator(".chatdf-privacy__label")
        expect(label).to_be_visible() if width == 400 else expect(label).to_be_hidden()
        header = widget.locator(".chatdf-chat__header").bounding_box()
        box = badge.bounding_box()
        assert header and box and box["x"] + box["width"] <= header["x"] + header["width"] + 0.5
        screenshot(widget, f"widget-privacy-{width}px")

    assert notebook.kernel_json("chat.settings.privacy") == "schema"

"""Smoke test of the browser harness: the widget renders in a real JupyterLab.

A person runs a cell that makes a ChatDF with the shipped iris sample, sees
its dataset card, then runs SQL from the next cell.
"""

from __future__ import annotations

import pytest

from tests.fake_gemini import text_chunks

from .harness import SAMPLE_PARQUET, expect, screenshot

pytestmark = pytest.mark.browser

IRIS_CARD = "iris · 150 rows × 5 cols"


def _show_iris(chatdf_setup) -> str:
    return f"{chatdf_setup()}\nchat.add({str(SAMPLE_PARQUET)!r}, name='iris')\nchat"


def test_widget_shows_the_dataset_card_and_sql_runs(open_notebook, chatdf_setup, jupyterlab):
    notebook = open_notebook([_show_iris(chatdf_setup)])
    notebook.run_all()

    widget = notebook.wait_widget(0)
    # innerText: what is on screen, not text hidden in a collapsed panel or tab.
    expect(widget).to_contain_text("Datasets (1/20)", use_inner_text=True)
    expect(widget).to_contain_text(IRIS_CARD, use_inner_text=True)
    screenshot(notebook.page, "smoke-wide")
    screenshot(widget, "smoke-wide-widget")

    index = notebook.run_cell('chat.sql("SELECT count(*) AS n FROM iris")')
    assert not notebook.has_error(index), notebook.output_text(index)
    shown = notebook.output_text(index).split()
    assert "150" in shown, shown
    assert "n" in shown, shown

    # Kernel-side state, and proof that the kernel keeps its history inside the sandbox.
    state = notebook.kernel_json(
        "{'datasets': [d.name for d in chat.datasets],"
        " 'db': __import__('os').path.abspath(chat.settings.resolved_db_path())}"
    )
    assert state == {"datasets": ["iris"], "db": str(jupyterlab.history_path(notebook.path))}


def test_widget_fits_a_narrow_window(open_notebook, chatdf_setup):
    notebook = open_notebook([_show_iris(chatdf_setup)], width=600, height=800)
    notebook.toggle_left_sidebar()  # as a person on a small screen would
    notebook.run_all()

    widget = notebook.wait_widget(0)
    expect(widget).to_contain_text(IRIS_CARD, use_inner_text=True)
    screenshot(notebook.page, "smoke-narrow")

    # Nothing is cut off: the widget fits the window and scrolls nothing sideways.
    box = widget.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 600, box
    overflow = widget.evaluate("el => el.scrollWidth - el.clientWidth")
    assert overflow <= 0, f"the widget overflows its width by {overflow} px"


def test_kernel_reaches_the_fake_gemini(open_notebook, chatdf_setup, fake_gemini):
    fake_gemini.add_stream(text_chunks("Iris has **150** rows.", n=3))
    notebook = open_notebook([_show_iris(chatdf_setup), 'chat.ask("How many rows?")'])
    notebook.run_all()

    assert "Iris has 150 rows." in notebook.output_text(1)
    (request,) = fake_gemini.requests
    assert any("How many rows?" in text for text in request.texts("user")), request.texts()

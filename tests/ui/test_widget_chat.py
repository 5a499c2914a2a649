"""The chat as a person uses it: sample data, a streamed answer, SQL, stop, history, XSS.

Every test drives the widget in a real JupyterLab in Chromium, with the fake
Gemini answering; kernel-side state is checked through a notebook cell.
"""

from __future__ import annotations

import pytest

from tests.fake_gemini import FakeGemini, function_call, text_chunks

from .harness import expect, screenshot

pytestmark = pytest.mark.browser

IRIS_CARD = "iris · 150 rows × 5 cols"


def slow_text(text: str, n: int, delay: float) -> list[dict]:
    """Text chunks with a pause before each, so streaming can be watched."""
    return [{**chunk, "delay": delay} for chunk in text_chunks(text, n=n)]


def ask(widget, question: str) -> None:
    box = widget.get_by_role("textbox", name="Ask a question")
    box.fill(question)
    box.press("Enter")


def show_widget(open_notebook, chatdf_setup, *extra: str, **settings):
    notebook = open_notebook(["\n".join([chatdf_setup(**settings), *extra, "chat"])])
    notebook.run_all()
    return notebook, notebook.wait_widget(0)


def test_sample_data_streamed_answer_and_editable_sql(open_notebook, chatdf_setup, fake_gemini: FakeGemini):
    notebook, widget = show_widget(open_notebook, chatdf_setup)
    expect(widget.get_by_role("heading", name="Chat with your data")).to_be_visible()
    screenshot(widget, "widget-onboarding")

    widget.get_by_role("button", name="Try with sample data").click()
    expect(widget.locator(".chatdf-card__open")).to_have_text(IRIS_CARD)
    expect(widget.get_by_role("list", name="Suggested questions")).to_contain_text("species")

    query = "SELECT species, avg(petal_length) AS avg_petal FROM iris GROUP BY species ORDER BY avg_petal DESC"
    fake_gemini.add_stream([function_call("execute_sql", {"query": query})], delay=1.0)
    fake_gemini.add_stream(
        slow_text("**Virginica** has the longest petals, then versicolor and setosa.", n=6, delay=0.5)
    )
    ask(widget, "Which species has the longest petals?")

    expect(widget.locator(".chatdf-msg--user")).to_have_text("Which species has the longest petals?")
    phase = widget.locator(".chatdf-phase")
    expect(phase).to_contain_text("…")  # Thinking… / Running query… / Preparing response…
    expect(widget.get_by_role("button", name="Stop answering")).to_be_visible()
    answer = widget.locator(".chatdf-msg--assistant .chatdf-md")
    expect(answer).to_contain_text("Virginica", timeout=20_000)
    screenshot(widget, "widget-streaming")
    expect(answer).to_have_text("Virginica has the longest petals, then versicolor and setosa.", timeout=20_000)
    expect(answer.locator("strong")).to_have_text("Virginica")
    expect(phase).to_have_count(0)
    grid = widget.locator(".chatdf-grid")
    expect(grid).to_contain_text("Showing 1–3 of 3 rows")
    expect(grid.locator("tbody tr").first.locator("td").first).to_have_text("virginica")
    expect(widget.get_by_role("button", name="Send question")).to_be_visible()

    # The SQL panel: highlighted, editable, and Run replaces the grid's rows.
    widget.get_by_role("button", name="Show SQL").click()
    editor = widget.locator(".chatdf-sql .cm-content")
    expect(editor).to_contain_text("GROUP BY species")
    expect(widget.locator(".chatdf-sql .cm-content span").first).to_be_visible()  # tokens are styled
    screenshot(widget, "widget-sql-panel")
    editor.click()
    notebook.page.keyboard.press("Control+a")
    notebook.page.keyboard.type("SELECT species, count(*) AS n FROM iris GROUP BY species ORDER BY species")
    widget.get_by_role("button", name="Run").click()
    expect(grid.locator("thead")).to_contain_text("n")
    expect(grid.locator("tbody tr").first).to_contain_text("setosa")
    expect(grid.locator("tbody tr").first.locator("td").nth(1)).to_have_text("50")
    state = notebook.kernel_json("chat._messages[-1]['sql']")
    assert state == ["SELECT species, count(*) AS n FROM iris GROUP BY species ORDER BY species"]

    # A query the guard refuses: a clear error in the panel, the grid keeps its rows.
    editor.click()
    notebook.page.keyboard.press("Control+a")
    notebook.page.keyboard.type("DELETE FROM iris")
    widget.get_by_role("button", name="Run").click()
    expect(widget.locator(".chatdf-sql__error")).to_be_visible()
    expect(grid.locator("tbody tr")).to_have_count(3)
    screenshot(widget, "widget-sql-refused")
    editor.press("Escape")
    expect(widget.locator(".chatdf-sql")).to_have_count(0)


def test_stop_a_streaming_answer(open_notebook, chatdf_setup, fake_gemini: FakeGemini):
    notebook, widget = show_widget(open_notebook, chatdf_setup)
    fake_gemini.add_hang(seconds=60, chunks=[{"text": "The first part of a long answer"}])
    ask(widget, "Tell me everything")
    expect(widget.locator(".chatdf-msg--assistant .chatdf-md")).to_contain_text("The first part")
    widget.get_by_role("button", name="Stop answering").click()

    expect(widget.locator(".chatdf-note")).to_have_text("Stopped — the answer above is partial.")
    expect(widget.get_by_role("button", name="Send question")).to_be_visible()
    assert notebook.kernel_json("[chat._busy, chat._messages[-1]['status']]") == [False, "stopped"]
    screenshot(widget, "widget-stopped")


def test_switch_between_conversations(open_notebook, chatdf_setup, fake_gemini: FakeGemini, tmp_path):
    # A history file of its own: the server's default one holds other tests' conversations.
    notebook, widget = show_widget(open_notebook, chatdf_setup, db_path=str(tmp_path / "history.db"))
    fake_gemini.add_stream(text_chunks("Polars SQL speaks a PostgreSQL-like dialect."))
    ask(widget, "What SQL dialect do you use?")
    expect(widget.locator(".chatdf-msg--assistant")).to_contain_text("PostgreSQL-like")

    widget.get_by_role("button", name="New chat").click()
    expect(widget.locator(".chatdf-msg")).to_have_count(0)
    fake_gemini.add_stream(text_chunks("Try a parquet URL."))
    ask(widget, "Where do I start?")
    expect(widget.locator(".chatdf-msg--assistant")).to_contain_text("Try a parquet URL.")

    history = widget.get_by_role("list", name="Conversation history")
    expect(history.locator("li")).to_have_count(2)
    expect(history.locator("li").first).to_contain_text("Where do I start?")
    expect(history.locator("li").first).to_contain_text("just now")
    history.get_by_role("button", name="What SQL dialect do you use?").click()
    expect(widget.locator(".chatdf-chat__title")).to_have_text("What SQL dialect do you use?")
    expect(widget.locator(".chatdf-msg--assistant")).to_have_text("Polars SQL speaks a PostgreSQL-like dialect.")
    expect(history.locator("[aria-current=true]")).to_contain_text("What SQL dialect")
    screenshot(widget, "widget-history")

    # Rename inline, then delete with confirm.
    history.locator("li").nth(1).hover()
    history.get_by_role("button", name="Rename What SQL dialect do you use?").click()
    title = widget.get_by_role("textbox", name="Conversation title")
    title.fill("Dialects")
    title.press("Enter")
    expect(history.locator("li").nth(1)).to_contain_text("Dialects")
    history.locator("li").first.hover()
    history.get_by_role("button", name="Delete Where do I start?").click()
    dialog = notebook.page.get_by_role("dialog", name="Delete conversation")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Delete").click()
    expect(history.locator("li")).to_have_count(1)
    assert notebook.kernel_json("[c.title for c in chat.conversations]") == ["Dialects"]


def test_xss_in_markdown_and_cell_values_does_not_run(open_notebook, chatdf_setup, fake_gemini: FakeGemini):
    evil_cell = "<img src=x onerror=\"window.__chatdf_xss='cell'\">"
    notebook, widget = show_widget(
        open_notebook,
        chatdf_setup,
        "import polars as pl",
        f"chat.add(pl.DataFrame({{'payload': [{evil_cell!r}, '<script>window.__chatdf_xss=1</script>']}}), name='evil')",
    )
    fake_gemini.add_stream([function_call("execute_sql", {"query": "SELECT payload FROM evil"})])
    fake_gemini.add_stream(
        text_chunks(
            "Here: <img src=x onerror=\"window.__chatdf_xss='md'\"> <script>window.__chatdf_xss='script'</script>"
            " [click](javascript:window.__chatdf_xss='link') <iframe srcdoc=\"<script>parent.__chatdf_xss='frame'</script>\"></iframe>"
            " and [docs](https://example.org).",
            n=3,
        )
    )
    ask(widget, "Show the payloads")
    grid = widget.locator(".chatdf-grid")
    expect(grid).to_contain_text("Showing 1–2 of 2 rows")
    expect(grid.locator("tbody td").first).to_have_text(evil_cell)  # shown as text

    answer = widget.locator(".chatdf-msg--assistant .chatdf-md")
    expect(answer).to_contain_text("and docs.")
    assert answer.locator("img, script, iframe").count() == 0
    link = answer.get_by_role("link", name="docs")
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert answer.get_by_text("click").get_attribute("href") is None
    answer.get_by_text("click").click()
    notebook.page.wait_for_timeout(500)
    assert notebook.page.evaluate("() => window.__chatdf_xss") is None
    screenshot(widget, "widget-xss")

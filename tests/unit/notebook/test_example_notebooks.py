"""The committed example notebooks are clean: run, keyless, tagged and scripted for nbval.

nbval itself runs them (``python -m pytest --nbval notebooks``); these checks
are the cheap ones that catch a notebook committed in a bad state.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from tests.fake_gemini import TEST_API_KEY, FakeGemini

NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"
EXAMPLES = sorted(NOTEBOOKS.glob("*.ipynb"))
GOOGLE_KEY = re.compile(r"AIza[0-9A-Za-z_\-]{35}")


def question_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """%%chatdf cells that ask the model (not --sql ones)."""
    return [
        c
        for c in nb.cells
        if c.cell_type == "code"
        and c.source.startswith("%%chatdf")
        and "--sql" not in c.source.splitlines()[0]
    ]


def test_the_examples_are_all_there() -> None:
    assert [p.stem for p in EXAMPLES] == [
        "join_two_datasets",
        "notebook_dataframes",
        "quickstart",
        "sidebar",
    ]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_a_notebook_is_committed_clean(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    assert TEST_API_KEY not in text and not GOOGLE_KEY.search(text)
    assert nb.metadata.kernelspec.name == "python3"
    assert "widgets" not in nb.metadata  # widget state is noise (and holds model ids)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert cell.execution_count is not None, f"not run: {cell.source[:40]!r}"
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.source[:40]
        assert "execution" not in cell.metadata


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_streamed_answers_are_not_compared(path: Path) -> None:
    # A streamed answer is one output updated in place; nbval only sees its first version.
    nb = nbformat.read(path, as_version=4)
    for cell in question_cells(nb):
        assert "nbval-ignore-output" in cell.metadata.get("tags", []), cell.source


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_question_has_scripted_replies(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    script = NOTEBOOKS / "fake_replies" / f"{path.stem}.json"
    if not question_cells(nb):
        return
    replies = json.loads(script.read_text(encoding="utf-8"))["replies"]
    # Each question is answered by tool calls (a query, maybe a chart), then the text.
    assert len([r for r in replies if "text" in r]) == len(question_cells(nb))
    assert "text" in replies[-1] and "function_call" in replies[0]
    FakeGemini(script)  # the script is valid for the fake

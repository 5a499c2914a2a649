"""The README runs: every ```python block, magics included, in order, in a real IPython shell.

The chat talks to the fake Gemini (a dummy key, ``CHATDF_GEMINI_BASE_URL`` at
the fake), which answers every question by running ``SELECT 1 AS n`` and then
saying so. Example URLs become local files through :data:`SUBSTITUTIONS`, and
the files and notebook variables the examples assume exist are made by
:func:`given`. Blocks that are not meant to run belong in ```text or ```bash.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from chatdf import ChatDF
from tests.fake_gemini import FakeGemini, function_call, text_chunks

README = Path(__file__).resolve().parents[3] / "README.md"

SUBSTITUTIONS = {
    "https://example.com/trips.parquet": "trips.parquet",
    "https://example.com/orders.parquet": "orders.parquet",
    "https://example.com/stations.csv": "stations.csv",
}
"""Example URLs in the README -> the local files :func:`given` writes in their place."""

_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[str]:
    return [match.group(1) for match in _BLOCK.finditer(text)]


def given(folder: Path) -> dict[str, object]:
    """Write the files the examples read; return the notebook variables they use."""
    pl.DataFrame(
        {"vendor": ["A", "B", "A", "C"], "distance": [1.5, 2.0, 3.25, 0.5]}
    ).write_parquet(folder / "trips.parquet")
    pl.DataFrame(
        {"customer": ["ann", "bob", "ann"], "amount": [10.0, 5.5, 7.25], "month": [1, 1, 2]}
    ).write_parquet(folder / "orders.parquet")
    pl.DataFrame({"station": ["north", "south"], "bikes": [12, 7]}).write_csv(
        folder / "stations.csv"
    )
    (folder / "data").mkdir()
    for month in (1, 2):
        pl.DataFrame({"month": [month] * 2, "amount": [3.0, 4.5]}).write_csv(
            folder / "data" / f"2024-0{month}.csv"
        )
    return {
        "df": pl.DataFrame({"customer": ["ann", "bob"], "country": ["NO", "PE"]}),
        "df_sales": pl.DataFrame({"month": [1, 1, 2], "amount": [10.0, 5.5, 7.25]}),
    }


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    # Every question: one query, then a sentence. The script loops for any number of questions.
    with FakeGemini(loop=True) as fake:
        fake.add_stream([function_call("execute_sql", {"query": "SELECT 1 AS n"})])
        fake.add_stream(text_chunks("The query returned one row.", n=2))
        yield fake


@pytest.fixture
def readme_shell(
    fake: FakeGemini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("GEMINI_API_KEY", "readme-dummy-key")
    monkeypatch.setenv("CHATDF_GEMINI_BASE_URL", fake.url)
    monkeypatch.setenv("CHATDF_WORKERS", "1")
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    before = set(shell.user_ns)
    shell.user_ns.update(given(tmp_path))
    yield shell
    for value in list(shell.user_ns.values()):
        if isinstance(value, ChatDF):
            value.close()
    if "chatdf" in shell.extension_manager.loaded:
        shell.run_line_magic("unload_ext", "chatdf")
    for name in set(shell.user_ns) - before:
        del shell.user_ns[name]


def test_every_python_block_of_the_readme_runs(
    readme_shell: InteractiveShell, fake: FakeGemini
) -> None:
    text = README.read_text()
    for example in SUBSTITUTIONS:  # a stale entry would hide nothing, but says the table drifted
        assert example in text, f"{example} is no longer in the README: drop it from SUBSTITUTIONS"
    blocks = python_blocks(text)
    assert len(blocks) >= 4
    for number, block in enumerate(blocks, 1):
        for example, local in SUBSTITUTIONS.items():
            block = block.replace(example, local)
        with capture_output() as shown:
            result = readme_shell.run_cell(block, store_history=False)
        error = result.error_before_exec or result.error_in_exec
        assert error is None, (
            f"README python block {number} failed: {type(error).__name__}: {error}\n"
            f"--- block ---\n{block}--- output ---\n{shown.stdout}{shown.stderr}"
        )
    assert fake.requests, "no README example asked Gemini anything"

"""Run the example notebooks against the fake Gemini server.

``conftest.py`` uses this for nbval; run it directly to refresh the outputs
stored in the notebooks after changing them::

    python notebooks/run_notebooks.py               # every notebook
    python notebooks/run_notebooks.py quickstart    # just one

The notebooks know nothing about the fake: chatdf reads its Gemini endpoint
and key from the environment, and this sets both for the kernels it starts
(with one query worker and an in-memory history). The model's replies for
each notebook are scripted in ``fake_replies/<notebook>.json``, in the order
the notebook asks. With a real ``GEMINI_API_KEY`` the same notebooks run
unchanged against Gemini.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REPLIES = HERE / "fake_replies"

if str(ROOT) not in sys.path:  # run as a script: make `tests.fake_gemini` importable
    sys.path.insert(0, str(ROOT))

from tests.fake_gemini import TEST_API_KEY, FakeGemini  # noqa: E402

# Whatever the developer has set must not reach the notebooks' kernels.
_CLEARED_PREFIXES = ("CHATDF_",)
_CLEARED = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "JPY_SESSION_NAME")


def notebooks() -> list[Path]:
    """The example notebooks, in name order."""
    return sorted(HERE.glob("*.ipynb"))


def kernel_env(fake_url: str) -> dict[str, str]:
    """The environment a notebook kernel gets: the fake's URL and key, nothing else of ours."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_CLEARED_PREFIXES) and k not in _CLEARED
    }
    path = [str(ROOT), env.get("PYTHONPATH", "")]
    env.update(
        GEMINI_API_KEY=TEST_API_KEY,
        CHATDF_GEMINI_BASE_URL=fake_url,
        CHATDF_DB_PATH=":memory:",
        CHATDF_WORKERS="1",
        PYTHONPATH=os.pathsep.join(p for p in path if p),
    )
    return env


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """Make ``env`` the process environment (which kernels inherit) for a while."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def script_for(fake: FakeGemini, notebook: Path) -> None:
    """Queue the model replies of ``notebook`` (none if it asks nothing)."""
    fake.reset()
    replies = REPLIES / f"{notebook.stem}.json"
    if replies.exists():
        fake.load_script(replies)


def clean(nb: Any) -> None:
    """Drop what should not be committed: widget state and execution timings."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)


def regenerate(paths: list[Path]) -> None:
    """Execute each notebook against the fake and store its outputs in place."""
    import nbformat
    from nbclient import NotebookClient

    with FakeGemini() as fake:
        for path in paths:
            script_for(fake, path)
            nb = nbformat.read(path, as_version=4)
            with environment(kernel_env(fake.url)):
                NotebookClient(
                    nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": HERE}}
                ).execute()
            clean(nb)
            text = nbformat.writes(nb) + "\n"
            if TEST_API_KEY in text:  # pragma: no cover - a leak must never be committed
                raise SystemExit(f"{path.name}: the API key appears in an output; not written.")
            path.write_text(text, encoding="utf-8")
            left = fake.pending
            print(f"{path.name}: {len(nb.cells)} cells, {left} scripted replies left over")


def main(argv: list[str]) -> int:
    wanted = {Path(a).stem for a in argv}
    paths = [p for p in notebooks() if not wanted or p.stem in wanted]
    if not paths:
        print(f"No notebook matches {sorted(wanted)}; have {[p.stem for p in notebooks()]}.")
        return 2
    regenerate(paths)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

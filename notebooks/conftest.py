"""nbval runs the example notebooks here against the fake Gemini server.

Before a notebook's kernel starts (in its first cell's setup), the fake is
loaded with that notebook's scripted replies and the environment the kernel
inherits points chatdf at it (see ``run_notebooks.py``). The fake is one
server for the whole session, closed when pytest ends.

Outputs are compared after the substitutions in ``nbval_sanitize.cfg``,
which is used unless ``--nbval-sanitize-with`` names another file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from run_notebooks import environment, kernel_env, script_for  # type: ignore[import-not-found]

from tests.fake_gemini import FakeGemini

SANITIZE = Path(__file__).with_name("nbval_sanitize.cfg")

_fake: FakeGemini | None = None


def pytest_configure(config: pytest.Config) -> None:
    option = getattr(config.option, "nbval_sanitize_with", "missing")
    if option is None:  # nbval is installed and no file was given
        config.option.nbval_sanitize_with = str(SANITIZE)


def _started_fake(config: pytest.Config) -> FakeGemini:
    global _fake
    if _fake is None:
        _fake = FakeGemini().start()
        config.add_cleanup(_close_fake)
    return _fake


def _close_fake() -> None:
    global _fake
    if _fake is not None:
        _fake.close()
        _fake = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    notebook = item.parent
    starting = getattr(notebook, "kernel", "n/a") is None  # nbval starts it in this setup
    if not starting:
        yield
        return
    fake = _started_fake(item.config)
    script_for(fake, Path(str(notebook.path)))
    with environment(kernel_env(fake.url)):
        yield

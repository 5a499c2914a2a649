"""Browser-test fixtures: one JupyterLab, one Chromium and one fake Gemini per session.

Each test gets fresh pages and notebooks from :func:`open_notebook`; see
``tests/ui/README.md``.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_gemini import TEST_API_KEY, FakeGemini

from .harness import (
    ARTIFACTS,
    CHROMIUM,
    JupyterLabServer,
    Notebook,
    chatdf_source,
    launch_chromium,
    require,
    screenshot,
)

_UI_DIR = Path(__file__).parent
_VIEWPORT = {"width": 1280, "height": 900}
_FAILED = pytest.StashKey[bool]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Everything under tests/ui drives the browser, whether or not its module says so.
    for item in items:
        if _is_ui_test(item) and item.get_closest_marker("browser") is None:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    # Fixtures read this at teardown to save a screenshot of a failed test's pages.
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


# -- session: prerequisites, server, browser, fake Gemini ---------------------------------


@pytest.fixture(scope="session")
def ui_prerequisites() -> None:
    """Skip (locally) or fail (in CI) when Chromium, Playwright or JupyterLab is missing."""
    require(CHROMIUM.is_file(), f"{CHROMIUM} is missing: install it with apt-get install chromium")
    for module, package in (("playwright", "playwright"), ("jupyterlab", "jupyterlab")):
        require(
            importlib.util.find_spec(module) is not None,
            f"{package} is not installed: pip install -e '.[test]'",
        )


@pytest.fixture(scope="session")
def jupyterlab(
    ui_prerequisites: None, ui_gemini: FakeGemini, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterLabServer]:
    """A sandboxed JupyterLab on 127.0.0.1 (temp root, HOME and Jupyter dirs, random token).

    Its kernels default to the session's fake Gemini and the test key, so a
    plain ``ChatDF()`` or an example notebook runs against the fake as is.
    """
    env = {
        "GEMINI_API_KEY": TEST_API_KEY,
        "CHATDF_GEMINI_BASE_URL": ui_gemini.url,
        "CHATDF_ALLOW_PRIVATE_URLS": "true",
    }
    with JupyterLabServer(tmp_path_factory.mktemp("jupyterlab"), env=env) as lab:
        yield lab


class _Chromium:
    """One Playwright and one Chromium, started on first use, stopped when the browser tests end.

    Sync Playwright leaves its event loop marked as running on the main thread
    until it stops, which breaks every pytest-asyncio test that runs after it
    in the same session; so it must not outlive the run of browser tests.
    """

    def __init__(self) -> None:
        self._playwright: Any = None
        self._browser: Any = None

    def get(self) -> Any:
        if self._browser is None:
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()
            try:
                self._browser = launch_chromium(self._playwright)
            except BaseException:
                self.stop()
                raise
        return self._browser

    def stop(self) -> None:
        browser, self._browser = self._browser, None
        playwright, self._playwright = self._playwright, None
        try:
            if browser is not None:
                browser.close()
        finally:
            if playwright is not None:
                playwright.stop()


_CHROMIUM = _Chromium()


def _is_ui_test(item: pytest.Item | None) -> bool:
    return item is not None and _UI_DIR in Path(str(item.path)).parents


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    # After the pages of the last browser test in a row are closed.
    if _is_ui_test(item) and not _is_ui_test(nextitem):
        _CHROMIUM.stop()


def pytest_sessionfinish(session: pytest.Session) -> None:
    _CHROMIUM.stop()


@pytest.fixture
def browser(ui_prerequisites: None) -> Any:
    """Debian's headless Chromium, driven by Playwright's sync API (shared by the session)."""
    return _CHROMIUM.get()


@pytest.fixture(scope="session")
def ui_gemini() -> Iterator[FakeGemini]:
    """The fake Gemini server the kernels talk to, for the whole session."""
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def fake_gemini(ui_gemini: FakeGemini) -> FakeGemini:
    """The session's fake Gemini, emptied: script it with ``add_stream`` etc. before asking."""
    ui_gemini.reset()
    return ui_gemini


@pytest.fixture
def chatdf_setup(fake_gemini: FakeGemini) -> Callable[..., str]:
    """``chatdf_setup(**settings)``: code for a cell that creates ``chat`` wired to the fake."""

    def source(var: str = "chat", **settings: Any) -> str:
        return chatdf_source(fake_gemini.url, TEST_API_KEY, var=var, **settings)

    return source


# -- per test: pages and notebooks ------------------------------------------------------


class _Pages:
    """The pages a test opened; saves their screenshots and console logs if it failed."""

    def __init__(self, browser: Any, request: pytest.FixtureRequest) -> None:
        self._browser = browser
        self._request = request
        self._opened: list[tuple[Any, Any, list[str]]] = []
        self._captured = False

    def new(self, width: int = _VIEWPORT["width"], height: int = _VIEWPORT["height"]) -> Any:
        context = self._browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        log: list[str] = []
        page.on("console", lambda m: log.append(f"console.{m.type}: {m.text}"))
        page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))
        self._opened.append((context, page, log))
        return page

    def capture_if_failed(self) -> None:
        """Once, and only for a failed test: ``FAILED-<test>.png`` and ``-console.txt``.

        A passing test removes those of its earlier failures, so what is in the
        folder is never stale.
        """
        if self._captured:
            return
        self._captured = True
        prefix = f"FAILED-{_file_stem(self._request.node.name)}"
        if not self._request.node.stash.get(_FAILED, False):
            for stale in ARTIFACTS.glob(f"{glob.escape(prefix)}*"):
                if re.fullmatch(r"(-\d+)?(-console\.txt|\.png)", stale.name[len(prefix) :]):
                    stale.unlink(missing_ok=True)
            return
        from playwright.sync_api import Error as PlaywrightError

        for number, (_, page, log) in enumerate(self._opened):
            name = prefix + (f"-{number}" if number else "")
            # A crashed or closed page must not hide the test's own failure.
            with contextlib.suppress(PlaywrightError, OSError):
                path = screenshot(page, name)
                path.with_name(f"{path.stem}-console.txt").write_text("\n".join(log) + "\n")

    def close(self) -> None:
        self.capture_if_failed()
        for context, _, _ in self._opened:
            context.close()


@pytest.fixture
def _pages(browser: Any, request: pytest.FixtureRequest) -> Iterator[_Pages]:
    pages = _Pages(browser, request)
    yield pages
    pages.close()


@pytest.fixture
def new_page(_pages: _Pages) -> Callable[..., Any]:
    """``new_page(width=1280, height=900)``: a page in a fresh browser context.

    When the test fails, each page's screenshot and its console errors are saved
    as ``test-artifacts/ui/FAILED-<test>.png`` / ``-console.txt``.
    """
    return _pages.new


@pytest.fixture
def open_notebook(
    jupyterlab: JupyterLabServer, _pages: _Pages, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Notebook]]:
    """``open_notebook(cells=(), *, name=None, copy_from=None, width=1280, height=900)``.

    Opens a notebook in a new page once its kernel is idle: written with
    ``cells`` (source strings), or copied from an existing ``.ipynb``
    (``copy_from``). It goes into a folder named after the test module and
    test, unless ``name`` (a path in the server's root) is given; the folder
    gives the test's kernels a chatdf history of their own. Its kernel is shut
    down after the test.
    """
    notebooks: list[Notebook] = []

    def open_(
        cells: list[str] | tuple[str, ...] = (),
        *,
        name: str | None = None,
        copy_from: Path | str | None = None,
        width: int = _VIEWPORT["width"],
        height: int = _VIEWPORT["height"],
    ) -> Notebook:
        if name is None:
            test = _file_stem(request.node.name)
            folder = f"{_file_stem(request.node.module.__name__.rpartition('.')[2])}-{test}"
            if not notebooks:  # a rerun of the test starts without the last run's history
                shutil.rmtree(jupyterlab.root_dir / folder, ignore_errors=True)
            suffix = f"-{len(notebooks)}" if notebooks else ""
            file = Path(copy_from).name if copy_from else f"{test}{suffix}.ipynb"
            name = f"{folder}/{file}"
        if copy_from is not None:
            jupyterlab.add_file(Path(copy_from), name)
        page = _pages.new(width=width, height=height)
        notebook = Notebook.open(page, jupyterlab, name, None if copy_from else cells)
        notebooks.append(notebook)
        return notebook

    yield open_

    _pages.capture_if_failed()  # before the kernels go, while the outputs still show
    for notebook in notebooks:
        jupyterlab.shutdown_kernels(notebook.path, wait=False)


def _file_stem(test_name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in test_name).strip("_")

"""Drive a real JupyterLab in headless Chromium the way a person would.

Three pieces, used by ``tests/ui/conftest.py`` and by the tests themselves:

* :class:`JupyterLabServer` starts ``python -m jupyter lab`` on 127.0.0.1 in a
  sandbox (temp root dir, HOME, Jupyter config/data/runtime dirs, lab settings
  and workspaces, a chatdf history file per notebook folder), so nothing from
  the developer's machine leaks in and nothing leaks out;
* :func:`launch_chromium` starts Debian's ``/usr/bin/chromium`` through
  Playwright (``playwright install`` cannot download browsers here);
* :class:`Notebook` is one notebook open in one page: wait for the kernel, run
  all cells or type and run a new one, read outputs, find the widget, and read
  kernel-side state as JSON printed by a cell.

:func:`screenshot` saves PNGs into ``test-artifacts/ui/`` at the repo root.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # the fixtures then skip, or fail in CI, before anything waits
    PlaywrightTimeout = TimeoutError

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "ui"
SAMPLE_PARQUET = REPO_ROOT / "chatdf" / "data" / "iris.parquet"
HISTORY_FILE = ".chatdf/history.sqlite"
"""``CHATDF_DB_PATH`` of every kernel, relative to its notebook's folder."""

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]

# Generous but bounded: JupyterLab's first load takes ~10 s on a busy 2-core box.
SERVER_START_TIMEOUT = 90.0
LAB_LOAD_TIMEOUT = 60.0
KERNEL_IDLE_TIMEOUT = 60.0
CELL_TIMEOUT = 60.0
WIDGET_TIMEOUT = 30.0
EXPECT_TIMEOUT = 15.0

# Where a cell's kernel-state JSON starts in its printed output.
_JSON_MARKER = "@@chatdf-json@@"
_PROMPT_DONE = re.compile(r"^\[\d+\]:$")
# The last line IPython shows for an exception without a full traceback.
_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt)\b")

# The id of the main-area panel whose tab says "Path: <path>" (the tab's tooltip).
_FIND_PANEL_JS = """(path) => {
  const tabs = [...document.querySelectorAll(".lm-DockPanel .lm-TabBar-tab[data-id]")];
  const tab = tabs.find((t) => (t.title || "").split("\\n").includes("Path: " + path));
  return tab && document.getElementById(tab.dataset.id) ? tab.dataset.id : null;
}"""

# JupyterLab user settings that keep tests deterministic and offline: no news
# or update toasts (they fetch from the internet and cover the page), and every
# cell kept in the DOM (the default windowing detaches off-screen cells).
_LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}

_LEAKY_ENV = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "PYTHONPATH", "IPYTHONDIR", "VIRTUAL_ENV")


def in_ci() -> bool:
    """True when ``CI`` is set to a true value (``.ci/run`` exports ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


def require(condition: bool, message: str) -> None:
    """Skip the test when ``condition`` is false, but fail it in CI.

    A missing browser or JupyterLab must never turn a CI run green.
    """
    import pytest

    if condition:
        return
    if in_ci():
        pytest.fail(f"{message} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(message)


# -- the server ---------------------------------------------------------------------


class JupyterLabServer:
    """A sandboxed JupyterLab on 127.0.0.1 with a random token.

    Parameters
    ----------
    base_dir
        An empty temp folder; the notebook root, HOME and every Jupyter
        directory are created inside it.
    env
        Extra environment variables for the server and, through it, the kernels.

    Examples
    --------
    >>> with JupyterLabServer(tmp_path) as lab:  # doctest: +SKIP
    ...     lab.api("GET", "/api/status").json()
    """

    def __init__(self, base_dir: Path, env: dict[str, str] | None = None) -> None:
        # Resolved, as the kernels' os.getcwd() will be.
        self.base_dir = Path(base_dir).resolve()
        self.root_dir = self.base_dir / "root"
        self.log_path = self.base_dir / "jupyterlab.log"
        self.token = secrets.token_hex(16)
        self.url = ""
        self.extra_env = dict(env or {})
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self._client: httpx.Client | None = None
        self._shutdowns: list[threading.Thread] = []

    # -- lifecycle

    def start(self) -> JupyterLabServer:
        env = self._sandbox()
        runtime_dir = Path(env["JUPYTER_RUNTIME_DIR"])
        command = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            # Port 0: the server binds a free port itself (no race); we read it back
            # from its runtime file.
            "--ServerApp.port=0",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root_dir}",
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ]
        self._log_file = self.log_path.open("wb")
        self._process = subprocess.Popen(
            command,
            cwd=self.root_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            # Only a prctl call through a pointer looked up before the fork.
            preexec_fn=_die_with_parent if _PRCTL is not None else None,
        )
        try:
            self.url = self._wait_for_url(runtime_dir)
            self._wait_for_status()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Shut the server down with its kernels (and their worker processes)."""
        for thread in self._shutdowns:
            thread.join(timeout=30)
        self._shutdowns.clear()
        process, self._process = self._process, None
        if process is not None:
            descendants = _descendants(process.pid)
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # the server shuts its kernels down
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            for child in descendants:  # whatever ignored the polite request
                with contextlib.suppress(Exception):
                    if child.is_running():
                        child.kill()
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> JupyterLabServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- REST

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the server's REST API with the token (``path`` like ``/api/sessions``)."""
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.url,
                headers={"Authorization": f"token {self.token}"},
                timeout=30,
                trust_env=False,  # a developer's proxy settings must not catch 127.0.0.1
            )
        response = self._client.request(method, path, **kwargs)
        response.raise_for_status()
        return response

    def lab_url(self, notebook: str, workspace: str) -> str:
        """The address that opens ``notebook`` in a fresh JupyterLab workspace.

        A workspace of its own per page keeps JupyterLab from restoring (and
        starting kernels for) the notebooks earlier tests opened.
        """
        tree = f"/lab/workspaces/{quote(workspace)}/tree/{quote(notebook)}"
        return f"{self.url}{tree}?token={self.token}"

    def sessions(self, path: str | None = None) -> list[dict[str, Any]]:
        """Running kernel sessions, optionally only the one for notebook ``path``."""
        sessions = self.api("GET", "/api/sessions").json()
        return [s for s in sessions if path is None or s.get("path") == path]

    def shutdown_kernels(self, path: str, *, wait: bool = True) -> None:
        """Stop the kernel of notebook ``path`` so the next test has the CPU to itself.

        With ``wait=False`` the shutdown runs in the background (a kernel whose
        chatdf ran queries takes seconds to exit); :meth:`stop` waits for it.
        """

        def shutdown() -> None:
            with contextlib.suppress(httpx.HTTPError):
                for session in self.sessions(path):
                    self.api("DELETE", f"/api/sessions/{session['id']}")

        if wait:
            shutdown()
            return
        thread = threading.Thread(target=shutdown, name=f"shutdown {path}", daemon=True)
        thread.start()
        self._shutdowns.append(thread)

    def history_path(self, notebook: str) -> Path:
        """The chatdf history file the kernel of ``notebook`` uses by default."""
        return self.root_dir / Path(notebook).parent / HISTORY_FILE

    def add_file(self, source: Path, name: str | None = None) -> str:
        """Copy a file (a notebook, a data file) into the root dir; return its path there."""
        name = name or Path(source).name
        target = self.root_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return name

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- internals

    def _sandbox(self) -> dict[str, str]:
        """Create the temp dirs and build the server's (and kernels') environment."""
        home = self.base_dir / "home"
        jupyter = self.base_dir / "jupyter"
        dirs = {
            "HOME": home,
            "XDG_CONFIG_HOME": home / ".config",
            "XDG_DATA_HOME": home / ".local" / "share",
            "XDG_CACHE_HOME": home / ".cache",
            "JUPYTER_CONFIG_DIR": jupyter / "config",
            "JUPYTER_DATA_DIR": jupyter / "data",
            "JUPYTER_RUNTIME_DIR": jupyter / "runtime",
            "IPYTHONDIR": jupyter / "ipython",
            "JUPYTERLAB_SETTINGS_DIR": jupyter / "lab" / "user-settings",
            "JUPYTERLAB_WORKSPACES_DIR": jupyter / "lab" / "workspaces",
        }
        for path in [self.root_dir, *dirs.values()]:
            path.mkdir(parents=True, exist_ok=True)
        for plugin, values in _LAB_SETTINGS.items():
            file = dirs["JUPYTERLAB_SETTINGS_DIR"] / f"{plugin}.jupyterlab-settings"
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(json.dumps(values, indent=2))

        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("CHATDF_", "JUPYTER", "XDG_")) and name not in _LEAKY_ENV
        }
        env.update({name: str(path) for name, path in dirs.items()})
        env.update(
            {
                # The kernel imports chatdf from this checkout, installed or not.
                "PYTHONPATH": str(REPO_ROOT),
                # Relative, so it resolves in the kernel's working directory: the
                # notebook's folder. Notebooks in separate folders keep separate
                # histories (and token usage).
                "CHATDF_DB_PATH": HISTORY_FILE,
                "JUPYTER_PLATFORM_DIRS": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def _wait_for_url(self, runtime_dir: Path) -> str:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            self._check_alive()
            for info_file in runtime_dir.glob("jpserver-*.json"):
                with contextlib.suppress(OSError, ValueError):
                    info = json.loads(info_file.read_text())
                    if info.get("port"):
                        return f"http://127.0.0.1:{info['port']}"
            time.sleep(0.2)
        raise TimeoutError(
            f"JupyterLab did not write its server info within {SERVER_START_TIMEOUT:.0f} s.\n"
            f"{self.log_tail()}"
        )

    def _wait_for_status(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            self._check_alive()
            with contextlib.suppress(httpx.HTTPError):
                self.api("GET", "/api/status")
                # The lab page is what the browser needs, not just the REST API.
                self.api("GET", "/lab")
                return
            time.sleep(0.2)
        raise TimeoutError(
            f"JupyterLab did not answer /api/status within {SERVER_START_TIMEOUT:.0f} s.\n"
            f"{self.log_tail()}"
        )

    def _check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(
                f"JupyterLab exited with code {self._process.returncode}:\n{self.log_tail()}"
            )


def _load_prctl() -> Any:
    # Looked up once in the parent: the child after fork should do as little as possible.
    try:
        return ctypes.CDLL(None).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl() if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: SIGTERM the server if pytest dies without running its teardown."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


def _descendants(pid: int) -> list[Any]:
    try:
        import psutil
    except ImportError:  # then the server's own shutdown has to do
        return []
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


# -- the browser ----------------------------------------------------------------------


def launch_chromium(playwright: Any, **kwargs: Any) -> Any:
    """Launch Debian's Chromium headless through Playwright's sync API."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, **kwargs
    )


def expect(target: Any, message: str | None = None) -> Any:
    """Playwright's auto-retrying assertions, with a timeout fit for a busy 2-core box.

    Imported lazily, so a machine without Playwright skips (or, in CI, fails)
    the browser tests through :func:`require` instead of breaking collection.
    """
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=EXPECT_TIMEOUT * 1000)
    return playwright_expect(target, message)


def screenshot(target: Any, name: str, *, full_page: bool = False) -> Path:
    """Save a PNG of a page or locator as ``test-artifacts/ui/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{_safe_name(name)}.png"
    if hasattr(target, "context"):  # a Page (locators have no browser context)
        target.screenshot(path=str(path), full_page=full_page)
    else:
        target.screenshot(path=str(path))
    return path


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "screenshot"


# -- notebooks --------------------------------------------------------------------------


def write_notebook(root_dir: Path, name: str, cells: list[str] | tuple[str, ...] = ()) -> Path:
    """Write a Python 3 notebook with these code cells (one empty cell if none)."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in (cells or [""])]
    path = Path(root_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def chatdf_source(gemini_url: str, api_key: str, *, var: str = "chat", **settings: Any) -> str:
    """Code that creates a ``ChatDF`` talking to ``gemini_url`` (the fake Gemini server)."""
    args = [f"api_key={api_key!r}", f"gemini_base_url={gemini_url!r}", "allow_private_urls=True"]
    args += [f"{key}={value!r}" for key, value in settings.items()]
    return f"from chatdf import ChatDF\n{var} = ChatDF({', '.join(args)})"


class Notebook:
    """One notebook open in one Playwright page of a running JupyterLab.

    Cells are addressed by index (0-based, as in the .ipynb). Every wait is
    bounded and says what it was waiting for when it times out.
    """

    def __init__(self, page: Any, lab: JupyterLabServer, path: str) -> None:
        self.page = page
        self.lab = lab
        self.path = path
        self._panel_id: str | None = None

    # -- opening

    @classmethod
    def open(
        cls,
        page: Any,
        lab: JupyterLabServer,
        name: str,
        cells: list[str] | tuple[str, ...] | None = (),
        *,
        workspace: str | None = None,
    ) -> Notebook:
        """Open notebook ``name`` (relative to the root dir) in ``page``.

        With ``cells`` (source strings) the notebook is written first; with
        ``None`` it must already be there (see :meth:`JupyterLabServer.add_file`).
        """
        if cells is not None:
            write_notebook(lab.root_dir, name, cells)
        elif not (lab.root_dir / name).is_file():
            raise FileNotFoundError(f"{name} is not in the JupyterLab root {lab.root_dir}.")
        notebook = cls(page, lab, name)
        url = lab.lab_url(name, workspace or secrets.token_hex(6))
        page.goto(url, timeout=LAB_LOAD_TIMEOUT * 1000)
        notebook.wait_ready()
        return notebook

    def wait_ready(self, timeout: float = LAB_LOAD_TIMEOUT) -> None:
        """Wait until the notebook's tab and cells are shown and its kernel is idle."""
        try:
            handle = self.page.wait_for_function(
                _FIND_PANEL_JS, arg=self.path, timeout=timeout * 1000
            )
        except PlaywrightTimeout as error:
            raise TimeoutError(
                f"JupyterLab did not open a tab for {self.path} within {timeout:.0f} s."
            ) from error
        self._panel_id = handle.json_value()
        self.panel.locator(".jp-Cell").first.wait_for(state="visible", timeout=timeout * 1000)
        self.wait_kernel_idle()

    @property
    def panel(self) -> Any:
        """The notebook's panel (its tab's content) in JupyterLab's main area."""
        if self._panel_id is None:
            raise RuntimeError("The notebook is not open yet; call wait_ready() first.")
        return self.page.locator(f"#{self._panel_id}")

    def wait_kernel_idle(self, timeout: float = KERNEL_IDLE_TIMEOUT) -> None:
        """Wait until the notebook's kernel is idle and this page is connected to it.

        Asked of the server rather than read from the toolbar: in a narrow
        window JupyterLab folds the kernel indicator into an overflow menu.
        """
        deadline = time.monotonic() + timeout
        sessions: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            sessions = self.lab.sessions(self.path)
            if any(
                s["kernel"]["execution_state"] == "idle" and s["kernel"].get("connections", 0) > 0
                for s in sessions
            ):
                return
            time.sleep(0.2)
        raise TimeoutError(
            f"The kernel of {self.path} was not idle within {timeout:.0f} s (sessions: {sessions})."
        )

    def toggle_left_sidebar(self) -> None:
        """Show or hide JupyterLab's left sidebar (the file browser), as Ctrl+B does."""
        self.page.locator('.lm-MenuBar-itemLabel:text-is("View")').click()
        self.page.locator('.lm-Menu-itemLabel:text-is("Appearance")').hover()
        self.page.locator('.lm-Menu-itemLabel:text-is("Show Left Sidebar")').click()

    # -- cells

    @property
    def cells(self) -> Any:
        return self.panel.locator(".jp-Notebook .jp-Cell")

    def cell(self, index: int) -> Any:
        """The cell at ``index``; negative counts from the end."""
        count = self.cells.count()
        return self.cells.nth(index if index >= 0 else count + index)

    def run_all(self, timeout: float = CELL_TIMEOUT, *, check: bool = True) -> None:
        """Run every cell via the Run menu and wait for each to finish (``timeout`` per cell).

        A cell that raises stops the run, as in JupyterLab; with ``check`` that
        raises :class:`CellError`, otherwise the remaining cells stay unrun.
        Markdown cells and empty code cells get no execution count, so only
        the other code cells are waited for. Stored outputs are cleared first
        (see :meth:`clear_outputs`).
        """
        runnable = self._runnable_cells()
        if any(_PROMPT_DONE.match(self._prompt(i)) for i in runnable):
            self.clear_outputs()
        before = {i: self._prompt(i) for i in runnable}
        self.panel.click(position={"x": 5, "y": 5})  # make this notebook the current widget
        self.page.locator('.lm-MenuBar-itemLabel:text-is("Run")').click()
        self.page.locator('.lm-Menu-itemLabel:text-is("Run All Cells")').click()
        self._park_mouse()
        for index, prompt in before.items():
            self.wait_cell_done(index, timeout, before=prompt)
            if self.has_error(index):
                if check:
                    raise CellError(self, index)
                return

    def clear_outputs(self) -> None:
        """Clear every cell's outputs and execution count (Edit › Clear Outputs of All Cells).

        A notebook saved with its outputs shows the counts a fresh kernel gives
        again (``[1]:``, ``[2]:``, ...), so a finished re-run could not be told
        from the stored prompt.
        """
        self.panel.click(position={"x": 5, "y": 5})  # make this notebook the current widget
        self.page.locator('.lm-MenuBar-itemLabel:text-is("Edit")').click()
        self.page.locator('.lm-Menu-itemLabel:text-is("Clear Outputs of All Cells")').click()
        self.page.wait_for_function(
            "(sel) => [...document.querySelectorAll(sel)].every("
            "(p) => !/^\\[\\d+\\]:$/.test(p.textContent.trim()))",
            arg=f"#{self._panel_id} .jp-Notebook .jp-Cell .jp-InputPrompt",
            timeout=10_000,
        )

    def run_cell(self, source: str, timeout: float = CELL_TIMEOUT, *, check: bool = True) -> int:
        """Type ``source`` into a new cell at the end, run it (Ctrl+Enter), return its index.

        A new cell is appended unless the last cell is empty, as a person would.
        With ``check``, a cell that raises fails with :class:`CellError`.
        """
        last = self.cell(-1)
        index = self.cells.count() - 1
        if self._source(last).strip():
            last.locator(".jp-InputArea-editor").click()
            self.page.keyboard.press("Escape")  # command mode
            self.page.keyboard.press("b")  # insert a cell below
            index += 1
            self.page.wait_for_function(
                "([sel, n]) => document.querySelectorAll(sel).length > n",
                arg=[f"#{self._panel_id} .jp-Notebook .jp-Cell", index],
                timeout=10_000,
            )
        cell = self.cell(index)
        before = self._prompt(index)
        cell.locator(".jp-InputArea-editor").click()
        editor = cell.locator(".cm-content")
        editor.wait_for(state="visible", timeout=10_000)
        # insert_text bypasses auto-indent and bracket auto-closing, so the cell
        # holds exactly `source`.
        self.page.keyboard.insert_text(source)
        typed = self._source(cell)
        if typed != source:
            raise AssertionError(f"The cell editor holds {typed!r}, not {source!r}.")
        self.page.keyboard.press("Control+Enter")  # run, and stay on this cell
        self.wait_cell_done(index, timeout, before=before)
        if check and self.has_error(index):
            raise CellError(self, index)
        return index

    def wait_cell_done(
        self, index: int, timeout: float = CELL_TIMEOUT, *, before: str | None = None
    ) -> None:
        """Wait until cell ``index`` shows an execution count (``[3]:``), not ``[*]:``.

        ``before`` is the prompt before the run, so a re-run cell's old count
        is not mistaken for the new one.
        """
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self._prompt(index)
            if _PROMPT_DONE.match(text) and text != before:
                return
            time.sleep(0.1)
        raise TimeoutError(
            f"Cell {index} of {self.path} did not finish within {timeout:.0f} s "
            f"(prompt {text!r}; output so far: {self.output_text(index)[:500]!r})."
        )

    def output_text(self, index: int) -> str:
        """The visible text of cell ``index``'s outputs (stdout, results, errors)."""
        outputs = self.cell(index).locator(".jp-OutputArea-output")
        return "\n".join(outputs.all_inner_texts())

    def has_error(self, index: int) -> bool:
        """True when cell ``index`` shows an exception (not mere stderr output).

        JupyterLab renders tracebacks and stderr alike, so this reads the text:
        IPython's traceback header, or a last line like ``UsageError: ...``.
        """
        stderr = self.cell(index).locator('[data-mime-type="application/vnd.jupyter.stderr"]')
        for text in stderr.all_inner_texts():
            lines = [line for line in text.splitlines() if line.strip()]
            if "Traceback (most recent call last)" in text or (
                lines and _ERROR_LINE.match(lines[-1])
            ):
                return True
        return False

    def kernel_json(self, expression: str, timeout: float = CELL_TIMEOUT) -> Any:
        """Evaluate ``expression`` in the kernel (in a new cell) and return its JSON value.

        Objects that JSON cannot encode are converted with ``str``.
        """
        source = (
            "import json as _json\n"
            f"_value = {expression}\n"
            f"print({_JSON_MARKER!r}, _json.dumps(_value, default=str))"
        )
        index = self.run_cell(source, timeout)
        text = self.output_text(index)
        if _JSON_MARKER not in text:
            raise AssertionError(f"{expression!r} printed no JSON; the cell shows:\n{text}")
        return json.loads(text.split(_JSON_MARKER, 1)[1].strip().splitlines()[0])

    # -- the widget

    def widget(self, index: int | None = None) -> Any:
        """The ``.chatdf`` root rendered in cell ``index``'s output (any cell if None)."""
        scope = self.panel if index is None else self.cell(index)
        return scope.locator(".jp-OutputArea-output .chatdf").first

    def wait_widget(self, index: int | None = None, timeout: float = WIDGET_TIMEOUT) -> Any:
        """Wait until the widget is rendered in cell ``index`` and return its locator."""
        widget = self.widget(index)
        try:
            widget.wait_for(state="visible", timeout=timeout * 1000)
        except PlaywrightTimeout as error:
            where = "any cell" if index is None else f"cell {index}"
            shown = self.output_text(index) if index is not None else ""
            raise TimeoutError(
                f"No chatdf widget rendered in {where} of {self.path} within {timeout:.0f} s"
                + (f"; the output shows:\n{shown[:1000]}" if shown else ".")
            ) from error
        return widget

    # -- internals

    def _runnable_cells(self) -> list[int]:
        """Indexes of the code cells that have some source (those that get a count)."""
        is_code = self.cells.evaluate_all(
            "cells => cells.map((c) => c.classList.contains('jp-CodeCell'))"
        )
        return [i for i, code in enumerate(is_code) if code and self._source(self.cell(i)).strip()]

    def _prompt(self, index: int) -> str:
        return (self.cell(index).locator(".jp-InputPrompt").text_content() or "").strip()

    def _park_mouse(self) -> None:
        # A pointer left where a menu was hovers an output prompt and shows its
        # overlay in screenshots; rest it on the notebook's empty bottom edge.
        box = self.panel.bounding_box()
        if box:
            self.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] - 4)

    @staticmethod
    def _source(cell: Any) -> str:
        # CodeMirror 6 renders one .cm-line per line.
        return "\n".join(cell.locator(".cm-content .cm-line").all_text_contents())



class CellError(AssertionError):
    """A cell raised; the message carries what the cell shows."""

    def __init__(self, notebook: Notebook, index: int) -> None:
        self.index = index
        self.output = notebook.output_text(index)
        super().__init__(f"Cell {index} of {notebook.path} raised:\n{self.output[-3000:]}")

"""``import chatdf`` and ``%load_ext chatdf`` stay cheap: the heavy stacks load on first use.

Each check runs in a fresh interpreter, so nothing another test imported hides
an eager import. (The time itself is measured by ``bench/import_time.py``.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ["google.genai", "aiosqlite", "anywidget", "ipywidgets"]
"""The Gemini SDK, the SQLite driver and the widget stack: loaded when ChatDF is first used."""
DATA = ["polars", "pyarrow", "sqlglot", "httpx"]
"""Loaded by the names that need them (Answer, Dataset, ChatDF, ...), not by the import itself."""


def loaded_after(code: str, watched: list[str] = HEAVY) -> dict:
    """Run ``code`` in a fresh interpreter; which ``watched`` modules it loaded, and ``result``."""
    probe = (
        "import json, sys\n"
        "result = None\n"
        f"{code}\n"
        f"print(json.dumps({{'loaded': [m for m in {watched!r} if m in sys.modules], "
        "'result': result}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_chatdf_loads_no_sdk_database_driver_or_widget_stack() -> None:
    assert loaded_after("import chatdf", HEAVY + DATA)["loaded"] == []


def test_the_light_names_do_not_load_them_either() -> None:
    code = (
        "from chatdf import Answer, ChatDFError, ConfigError, Dataset, LLMError, QueryError, "
        "SessionClosedError, Settings, StoreWarning, load_ipython_extension\n"
        "Settings()"
    )
    assert loaded_after(code)["loaded"] == []


def test_load_ext_chatdf_loads_none_of_them() -> None:
    code = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "ip.run_line_magic('load_ext', 'chatdf')\n"
        "result = 'chatdf' in ip.magics_manager.magics['line']"
    )
    found = loaded_after(code, HEAVY + DATA)
    assert found["result"] is True
    assert found["loaded"] == []


def test_chatdf_class_is_the_real_widget_class_on_first_access() -> None:
    code = (
        "import chatdf, ipywidgets\n"
        "from chatdf import ChatDF\n"
        "class Mine(chatdf.ChatDF):\n"
        "    pass\n"
        "result = [ChatDF is chatdf.ChatDF, issubclass(Mine, ipywidgets.DOMWidget), "
        "isinstance(ChatDF, type), 'ChatDF' in dir(chatdf), ChatDF.__module__]"
    )
    found = loaded_after(code)
    assert found["result"] == [True, True, True, True, "chatdf.widget"]
    assert "anywidget" in found["loaded"]

"""Sidebar placement: why it falls back inline, and that it then shows the widget inline."""

from __future__ import annotations

import sys

import ipywidgets
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from chatdf.sidebar import SidebarPlacement, sidebar_unavailable


@pytest.fixture
def kernel_shell(monkeypatch: pytest.MonkeyPatch) -> InteractiveShell:
    """The IPython shell as a kernel-hosted one looks (it has a ``kernel``), in JupyterLab."""
    ip = InteractiveShell.instance()
    monkeypatch.setattr(ip, "kernel", object(), raising=False)
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/analysis.ipynb")
    for name in ("VSCODE_PID", "VSCODE_CWD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    return ip


def test_outside_a_kernel_the_widget_shows_inline_with_one_line_of_notice() -> None:
    InteractiveShell.instance()  # IPython, but no kernel: as in a terminal
    widget = ipywidgets.Label("hello")
    with capture_output() as shown:
        placement = SidebarPlacement().show(widget)
    assert placement == "inline"
    assert shown.stdout == (
        "chatdf: no JupyterLab sidebar here (not running in a Jupyter kernel); "
        "showing the chat inline.\n"
    )
    [output] = shown.outputs
    assert output.data["application/vnd.jupyter.widget-view+json"]["model_id"] == widget.model_id


def test_jupyterlab_with_sidecar_can_use_the_sidebar(kernel_shell: InteractiveShell) -> None:
    assert sidebar_unavailable() is None


def test_vs_code_has_no_sidebar(
    kernel_shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VSCODE_PID", "4242")
    assert sidebar_unavailable() == "VS Code has no sidebar"


def test_colab_has_no_sidebar(
    kernel_shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "google.colab", object())
    assert sidebar_unavailable() == "Google Colab has no sidebar"


def test_a_kernel_not_started_by_jupyter_server(
    kernel_shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JPY_SESSION_NAME")
    assert sidebar_unavailable() == "the kernel was not started by JupyterLab"


def test_without_the_sidecar_package(
    kernel_shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sidecar", None)  # makes `import sidecar` fail
    assert sidebar_unavailable() == "the sidecar package is missing: pip install 'chatdf[lab]'"

"""Sidecar placement: the chat in JupyterLab's right sidebar, inline where there is none.

The kernel cannot ask the front end what it can do, so the check is about
where the kernel runs: a Jupyter kernel started by Jupyter Server (JupyterLab
or Notebook 7 set ``JPY_SESSION_NAME``), not VS Code or Colab, with the
``sidecar`` package (its JupyterLab extension ships in the same wheel).
Everywhere else the widget shows inline with a one-line notice saying why.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Literal

Placement = Literal["sidebar", "inline"]

SIDEBAR_TITLE = "chatdf"
NOTICE = "chatdf: no JupyterLab sidebar here ({reason}); showing the chat inline."


def sidebar_unavailable() -> str | None:
    """Why the chat cannot open in a JupyterLab sidebar here; None when it can."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return "not running in a Jupyter kernel"
    if "google.colab" in sys.modules:
        return "Google Colab has no sidebar"
    if "VSCODE_PID" in os.environ or "VSCODE_CWD" in os.environ:
        return "VS Code has no sidebar"
    if not os.environ.get("JPY_SESSION_NAME"):
        return "the kernel was not started by JupyterLab"
    try:
        import sidecar  # noqa: F401
    except ImportError:
        return "the sidecar package is missing: pip install 'chatdf[lab]'"
    return None


class SidebarPlacement:
    """Shows one widget in the sidebar, replacing the panel it opened before.

    Parameters
    ----------
    title
        The sidebar tab's title.
    """

    def __init__(self, title: str = SIDEBAR_TITLE) -> None:
        self.title = title
        self._sidecar: Any = None

    def show(self, widget: Any) -> Placement:
        """Open ``widget`` in the right sidebar, or inline with a notice; where it went."""
        from IPython.display import display

        reason = sidebar_unavailable()
        if reason is not None:
            print(NOTICE.format(reason=reason))
            display(widget)
            return "inline"
        from sidecar import Sidecar

        # One panel per kernel: a second --sidebar replaces the first rather than stacking.
        self.close()
        self._sidecar = Sidecar(title=self.title, anchor="right")
        with self._sidecar:
            display(widget)
        return "sidebar"

    def close(self) -> None:
        """Close the sidebar panel this placement opened, if any."""
        if self._sidecar is not None:
            self._sidecar.close()
            self._sidecar = None


__all__ = ["NOTICE", "Placement", "SidebarPlacement", "sidebar_unavailable"]

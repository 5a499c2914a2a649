"""chatdf: chat with your data inside Jupyter.

:class:`ChatDF` is the chat widget and the Python API; ``%load_ext chatdf``
adds the ``%chatdf`` magics. Importing chatdf is cheap: the Gemini SDK, the
SQLite driver and the widget stack load when ``ChatDF`` is first used, Polars
when a name that needs it (``ChatDF``, ``Answer``, ``Dataset``, ...) is.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import (
    ChartError,
    ChatDFError,
    ConfigError,
    DatasetError,
    LLMError,
    QueryError,
    SessionClosedError,
    StoreError,
    StoreWarning,
)
from .settings import Settings

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from .models import Answer, ColumnInfo, Dataset, QueryResult
    from .widget import ChatDF

# Names imported from their module on first access (see __getattr__).
_LAZY = {
    "Answer": "models",
    "ColumnInfo": "models",
    "Dataset": "models",
    "QueryResult": "models",
    "ChatDF": "widget",
}

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "ChartError",
    "ChatDF",
    "ChatDFError",
    "ColumnInfo",
    "ConfigError",
    "Dataset",
    "DatasetError",
    "LLMError",
    "QueryError",
    "QueryResult",
    "SessionClosedError",
    "Settings",
    "StoreError",
    "StoreWarning",
    "__version__",
    "load_ipython_extension",
    "unload_ipython_extension",
]


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """``%load_ext chatdf``: register the ``%chatdf`` magics (the chat starts on first use)."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    """``%unload_ext chatdf``: close the default chat and remove the magics."""
    from .magics import unload_ipython_extension as unload

    unload(ipython)


def __getattr__(name: str) -> Any:
    # ChatDF brings the widget stack, the SDK and the store; the models bring Polars.
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'chatdf' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})

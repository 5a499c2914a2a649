"""chatdf: chat with your data inside Jupyter."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import ChatDFError, ConfigError, DatasetError, LLMError, QueryError, StoreError

__version__ = "0.1.0"

# Imported on first use, so a process that needs only a part of chatdf (the
# team gateway, a server) does not load the widget, Polars or the Gemini SDK.
_LAZY = {
    "Answer": ".models",
    "ColumnInfo": ".models",
    "Dataset": ".models",
    "QueryResult": ".models",
    "ChatDF": ".widget",
    "load_ipython_extension": ".magics",
    "unload_ipython_extension": ".magics",
}

if TYPE_CHECKING:
    from .magics import load_ipython_extension, unload_ipython_extension
    from .models import Answer, ColumnInfo, Dataset, QueryResult
    from .widget import ChatDF


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chatdf' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "Answer",
    "ChatDF",
    "ChatDFError",
    "ColumnInfo",
    "ConfigError",
    "Dataset",
    "DatasetError",
    "LLMError",
    "QueryError",
    "QueryResult",
    "StoreError",
    "__version__",
    "load_ipython_extension",
]

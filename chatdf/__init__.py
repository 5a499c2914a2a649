"""chatdf: chat with your data inside Jupyter."""

from .errors import ChatDFError, ConfigError, DatasetError, LLMError, QueryError, StoreError
from .models import Answer, ColumnInfo, Dataset, QueryResult
from .magics import load_ipython_extension, unload_ipython_extension
from .widget import ChatDF

__version__ = "0.1.0"

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

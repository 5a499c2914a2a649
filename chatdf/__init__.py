"""chatdf: chat with your data inside Jupyter."""

from .errors import ChatDFError, ConfigError, DatasetError, LLMError, QueryError, StoreError
from .models import Answer, ColumnInfo, Dataset, QueryResult
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
]

"""Typed records that cross module boundaries: datasets, columns, query results."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

if TYPE_CHECKING:
    from google.genai import types

    from .charts import ChartRecord
    from .engine.ipc import ResultFile
    from .errors import ChatDFError

FriendlyType = Literal[
    "Text", "Integer", "Decimal", "Date", "Timestamp", "Boolean", "List", "Struct", "Other"
]

SourceKind = Literal["url", "parquet", "csv", "frame"]


def friendly_type(dtype: pl.DataType) -> FriendlyType:
    """The plain-English name of a Polars dtype that the UI and the prompt show."""
    if dtype in (pl.String, pl.Categorical, pl.Enum) or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "Text"
    if dtype.is_integer():
        return "Integer"
    if dtype.is_float() or dtype.is_decimal():
        return "Decimal"
    if dtype == pl.Date:
        return "Date"
    if isinstance(dtype, pl.Datetime) or dtype == pl.Datetime:
        return "Timestamp"
    if dtype == pl.Boolean:
        return "Boolean"
    if isinstance(dtype, (pl.List, pl.Array)):
        return "List"
    if isinstance(dtype, pl.Struct):
        return "Struct"
    return "Other"


class ColumnInfo(BaseModel):
    """One column: its name, Polars dtype (as text) and friendly type."""

    model_config = ConfigDict(frozen=True)

    name: str
    dtype: str
    friendly: FriendlyType

    @classmethod
    def from_polars(cls, name: str, dtype: pl.DataType) -> ColumnInfo:
        return cls(name=name, dtype=str(dtype), friendly=friendly_type(dtype))


def columns_of(schema: pl.Schema | dict[str, pl.DataType]) -> list[ColumnInfo]:
    return [ColumnInfo.from_polars(name, dtype) for name, dtype in schema.items()]


class Dataset(BaseModel):
    """A registered table the SQL and the model can use.

    ``schema`` maps each column name to its :class:`ColumnInfo` (dtype and
    friendly type). ``source`` is the URL, path or glob, or ``<DataFrame>`` for
    in-memory data.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    source: str
    kind: SourceKind
    row_count: int
    column_count: int
    columns: list[ColumnInfo] = Field(default_factory=list)

    @property
    def schema(self) -> dict[str, ColumnInfo]:  # type: ignore[override]
        return {c.name: c for c in self.columns}

    def describe(self) -> str:
        """``name · 1,234 rows × 5 cols`` as the dataset cards show it."""
        return f"{self.name} · {self.row_count:,} rows × {self.column_count} cols"


def new_result_id() -> str:
    return uuid.uuid4().hex[:12]


class QueryResult(BaseModel):
    """A finished query kept in the kernel so it can be paged, sorted and exported.

    Its rows live in ``file`` (the worker's result file, memory-mapped) when
    the engine made it, or in the ``data`` frame it was built with. Pages come
    from :meth:`slice` and :meth:`take`, which never copy the whole result.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str = Field(default_factory=new_result_id)
    sql: str
    columns: list[ColumnInfo]
    total_rows: int
    elapsed_ms: float = 0.0
    tables: list[str] = Field(default_factory=list)
    """Names of the datasets the query read (provenance)."""
    polars_sql: str = ""
    """The Polars SQL that ran: ``sql`` after the dialect layer (empty: ``sql`` itself)."""
    _frame: pl.DataFrame | None = PrivateAttr(default=None)
    _file: ResultFile | None = PrivateAttr(default=None)

    def __init__(
        self, *, data: pl.DataFrame | None = None, file: ResultFile | None = None, **values: Any
    ) -> None:
        if data is None and file is None:
            raise TypeError("QueryResult needs its rows: data= or file=")
        super().__init__(**values)
        self._file = file
        self._frame = data if data is not None else file.mapped  # type: ignore[union-attr]

    @property
    def remote(self) -> bool:
        """True when the rows stay where the engine is (a Spark cluster)."""
        return False

    @property
    def data(self) -> pl.DataFrame:
        """Every row. Mapped from the result file, so free to get; read into memory
        only for column types the mapping cannot hold (128-bit integers)."""
        if self._frame is None:
            self._frame = self._file.read()  # type: ignore[union-attr]
        return self._frame

    @property
    def file(self) -> ResultFile | None:
        """The result file on disk, or None for a result built from a frame."""
        return self._file

    @property
    def polars_schema(self) -> pl.Schema:
        """Column names and Polars types, without reading a row (a cluster's result
        answers from the first rows it keeps; ``data`` would pull them all)."""
        if self._file is not None:
            return self._file.schema
        assert self._frame is not None
        return self._frame.schema

    @property
    def nbytes(self) -> int:
        """Its size: the result file's bytes, else the frame's estimated size."""
        if self._file is not None:
            return self._file.size
        return int(self.data.estimated_size())

    def slice(self, offset: int, length: int) -> pl.DataFrame:
        """Rows ``offset`` .. ``offset + length``."""
        if self._frame is None:
            return self._file.slice(offset, length)  # type: ignore[union-attr]
        return self._frame.slice(offset, length)

    def head(self, rows: int) -> pl.DataFrame:
        return self.slice(0, rows)

    def take(self, rows: pl.Series) -> pl.DataFrame:
        """The rows at positions ``rows``, in that order."""
        if self._frame is None:
            return self._file.take(rows)  # type: ignore[union-attr]
        return self._frame[rows]

    def release(self) -> None:
        """Delete the result file (the result is no longer kept); frames already
        handed out stay readable."""
        if self._file is not None:
            self._file.remove()

    def summary(self) -> dict[str, Any]:
        """What the widget and the store keep: no rows."""
        return {
            "id": self.id,
            "sql": self.sql,
            "columns": [c.model_dump() for c in self.columns],
            "total_rows": self.total_rows,
            "elapsed_ms": round(self.elapsed_ms, 1),
        }


class CsvOptions(BaseModel):
    """How Polars reads a CSV source.

    The same arguments go to every ``pl.scan_csv`` of the source (the kernel's
    schema read, the workers, lazy exports, ``chat.code()``), so every reader
    infers the same column types.
    """

    model_config = ConfigDict(frozen=True)

    separator: str = ","
    infer_schema_length: int = 100
    """Rows the column types are inferred from (Polars' default is 100)."""

    def scan_arguments(self) -> dict[str, Any]:
        """Keyword arguments for ``pl.scan_csv`` / ``pl.read_csv``."""
        return {"separator": self.separator, "infer_schema_length": self.infer_schema_length}


class TableSource(BaseModel):
    """How a worker process reads one registered dataset.

    ``kind`` is ``parquet`` or ``csv`` for a local path or glob (or the local
    copy of a CSV URL whose server sends no byte ranges), ``url`` for an
    http(s) parquet or CSV file read through the kernel's egress proxy
    (``location`` is the proxy's route), ``ipc`` for an Arrow IPC file the
    kernel wrote from an in-memory frame. ``csv`` says how to read a CSV
    (``None``: parquet, IPC, or a local CSV with Polars' defaults).
    ``version`` changes whenever the data behind the name may have changed
    (refresh, re-export of a notebook variable), so workers drop what they
    cached for the old version.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    kind: Literal["url", "parquet", "csv", "ipc"]
    location: str
    version: int = 0
    csv: CsvOptions | None = None


class TokenUsage(BaseModel):
    """Tokens one turn used (input = prompt, output = answer incl. thinking)."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Answer(BaseModel):
    """What ``chat.ask`` returns: the markdown answer and what backed it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    text: str
    """The answer in markdown (partial when ``stopped`` or ``error``)."""
    sql: list[str] = Field(default_factory=list)
    """Every query the model ran this turn, in order."""
    result: pl.DataFrame | None = Field(default=None, exclude=True, repr=False)
    """The last successful query result, or None."""
    result_id: str | None = None
    chart: Any = Field(default=None, exclude=True, repr=False)
    """The chart the model drew for this answer: an ``altair.Chart`` (or a compound
    chart) with its data bound, or None. Displaying it renders it."""
    chart_id: str | None = None
    usage: TokenUsage = Field(default_factory=TokenUsage)
    stopped: bool = False
    error: dict[str, Any] | None = None
    """``{error_type, message, details}`` when the turn failed after some text or a result."""

    def _repr_markdown_(self) -> str:
        """The answer as a notebook shows it: the text, then a stop note or the error."""
        parts = [self.text] if self.text else []
        if self.stopped:
            parts.append("_(stopped)_")
        if self.error is not None:
            parts.append(f"> **Error ({self.error.get('error_type')}):** {self.error.get('message')}")
        if not parts:
            parts.append("_(no answer)_")
        return "\n\n".join(parts)


def failed_outright(answer: Answer | Any) -> bool:
    """Whether a turn failed leaving neither text nor a result, and was not stopped.

    Takes an :class:`Answer` or an :class:`~chatdf.events.AnswerEvent` (same fields).
    Such a turn raises its error instead of returning an empty answer.
    """
    return (
        answer.error is not None
        and not answer.stopped
        and not answer.text
        and answer.result_id is None
    )


@dataclass
class Exchange:
    """One finished turn as the model saw it: the question and every content after it.

    ``contents`` starts with the user's question and holds the model's
    function calls, our function responses and the final answer, so a later
    turn (or a restored conversation) replays exactly what happened.
    """

    question: str
    answer: str
    contents: list[types.Content] = field(default_factory=list)
    stopped: bool = False
    calls: list[dict[str, Any]] = field(default_factory=list)
    """One entry per tool call: name, sql, result_id, summary or error (for the history)."""
    error: ChatDFError | None = field(default=None, repr=False, compare=False)
    """What ended the turn, if it failed (the session raises it when nothing else came back)."""
    chart: ChartRecord | None = field(default=None, repr=False, compare=False)
    """The last chart the model drew in this turn (saved with the answer)."""

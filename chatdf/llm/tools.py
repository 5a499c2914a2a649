"""The tools Gemini may call, and what their results look like to the model.

``execute_sql(query)`` runs one read-only Polars SQL query; ``load_dataset(url)``
adds a parquet, CSV or TSV file from a public URL; ``create_chart(spec, result_id, title)``
draws a result with a Vega-Lite spec (:mod:`chatdf.charts`). The controller runs the calls
(through the engine and the dataset pipeline); this module only declares
them, reads their arguments and shapes the results into compact JSON the
model reads well: columns with friendly types, the total row count and at
most 1000 rows as CSV text, with a note when rows were cut.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from google.genai import types

from ..errors import ChartError, ChatDFError, QueryError
from ..models import Dataset, QueryResult
from .client import FunctionCall

__all__ = [
    "CREATE_CHART",
    "DESCRIBE_TABLE",
    "EXECUTE_SQL",
    "LOAD_DATASET",
    "MAX_MODEL_ROWS",
    "TOOLS",
    "chart_arguments",
    "dataset_payload",
    "describe_arguments",
    "describe_payload",
    "error_payload",
    "function_response_part",
    "function_responses_content",
    "query_result_payload",
    "required_argument",
    "schema_only_result_payload",
    "tool_declarations",
]

EXECUTE_SQL = "execute_sql"
LOAD_DATASET = "load_dataset"
CREATE_CHART = "create_chart"
DESCRIBE_TABLE = "describe_table"
MAX_DESCRIBE_COLUMNS = 100
"""Columns ``describe_table`` profiles in one call; the rest come as names and types."""

MAX_MODEL_ROWS = 1000
"""Rows of a result the model sees; the user sees them all in the grid."""
MAX_MODEL_CHARS = 60_000
"""Characters of CSV the model sees (about 15k tokens), whatever the row count."""
MAX_CELL_CHARS = 200
"""Characters of one value; longer text is cut with an ellipsis."""
NULL = "NULL"

_EXECUTE_SQL = types.FunctionDeclaration(
    name=EXECUTE_SQL,
    description=(
        "Run one read-only SQL SELECT query (Polars SQL dialect) against the loaded datasets "
        "and return the column names and types, the total row count and up to "
        f"{MAX_MODEL_ROWS} rows as CSV. Use the table and column names exactly as listed in "
        "the instructions. On failure it returns error_type and message: fix the query and "
        "call again."
    ),
    parameters=types.Schema(
        type=types.Type.OBJECT,
        properties={
            "query": types.Schema(
                type=types.Type.STRING,
                description="One SELECT (or WITH ... SELECT) statement, without a trailing semicolon.",
            )
        },
        required=["query"],
    ),
)

_LOAD_DATASET = types.FunctionDeclaration(
    name=LOAD_DATASET,
    description=(
        "Load a parquet, CSV or TSV file (gzip-compressed CSV too) from a public http(s) URL "
        "the user gave as a new table, and return its table name, row count and columns. The "
        "format and separator are recognised from the file itself, so a URL without a file "
        "extension works; a web page, JSON or a spreadsheet (xlsx) is refused with the reason. "
        "Only call this with a URL the user provided."
    ),
    parameters=types.Schema(
        type=types.Type.OBJECT,
        properties={
            "url": types.Schema(
                type=types.Type.STRING,
                description="The http(s) URL of a parquet, CSV or TSV file (.csv.gz too).",
            )
        },
        required=["url"],
    ),
)

# A free-form object parameter: the API refuses an OBJECT schema without properties in
# `parameters`, so this declaration uses JSON Schema (`parametersJsonSchema`) instead.
_CREATE_CHART = types.FunctionDeclaration(
    name=CREATE_CHART,
    description=(
        "Draw a query result as a chart shown under your answer. Give a Vega-Lite v6 "
        "specification (mark, encoding, optional transform) WITHOUT any data, url or "
        "$schema: the result's rows are bound to it. Fields must be the result's column names "
        "exactly. On failure it returns error_type and message: fix the spec and call again."
    ),
    parameters_json_schema={
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "description": (
                    'A Vega-Lite spec object, e.g. {"mark": "bar", "encoding": {"x": {"field": '
                    '"city", "type": "nominal", "sort": "-y"}, "y": {"field": "total", "type": '
                    '"quantitative"}}}.'
                ),
            },
            "result_id": {
                "type": "string",
                "description": "The result_id of the execute_sql result to chart; default the last one.",
            },
            "title": {"type": "string", "description": "A short chart title."},
        },
        "required": ["spec"],
    },
)

_DESCRIBE_TABLE = types.FunctionDeclaration(
    name=DESCRIBE_TABLE,
    description=(
        "Describe a table's columns: full type, null count, distinct count, and (unless the "
        "user turned privacy mode on) min/max and a few sample values, or every value of a "
        "column with few distinct values. Use it for columns the instructions do not list, "
        "or before filtering on a column whose values you do not know."
    ),
    parameters=types.Schema(
        type=types.Type.OBJECT,
        properties={
            "name": types.Schema(type=types.Type.STRING, description="The table name."),
            "columns": types.Schema(
                type=types.Type.ARRAY,
                items=types.Schema(type=types.Type.STRING),
                description=(
                    f"Column names to describe; default all (profiled up to {MAX_DESCRIBE_COLUMNS})."
                ),
            ),
        },
        required=["name"],
    ),
)

TOOLS: list[types.Tool] = [
    types.Tool(
        function_declarations=[_EXECUTE_SQL, _LOAD_DATASET, _CREATE_CHART, _DESCRIBE_TABLE]
    )
]
"""The declarations as the SDK takes them (``tools=TOOLS``)."""


def tool_declarations() -> list[types.Tool]:
    """A fresh copy of :data:`TOOLS` (safe to modify)."""
    return [tool.model_copy(deep=True) for tool in TOOLS]


def required_argument(call: FunctionCall, name: str) -> str:
    """The non-empty string argument ``name`` of ``call``.

    Raises
    ------
    QueryError
        ``error_type="validation"``, for the model to read and correct.
    """
    value = call.args.get(name)
    if not isinstance(value, str) or not value.strip():
        raise QueryError(
            f"{call.name} needs a non-empty string argument '{name}'; got "
            f"{json.dumps(call.args, default=str)[:200]}.",
            "validation",
        )
    return value.strip()


def chart_arguments(call: FunctionCall) -> tuple[Any, str | None, str | None]:
    """``(spec, result_id, title)`` of a ``create_chart`` call.

    The spec may come as an object or as its JSON text (models do both).

    Raises
    ------
    ChartError
        ``invalid_spec`` when the spec is missing or the other arguments are not text.
    """
    spec = call.args.get("spec")
    if isinstance(spec, str):
        with contextlib.suppress(ValueError):  # check_spec says what is wrong with it
            spec = json.loads(spec)
    if spec is None or spec == {}:
        raise ChartError(
            'create_chart needs a "spec" argument: a Vega-Lite object such as {"mark": "bar", '
            '"encoding": {...}}.',
            details={"reason": "invalid_spec"},
        )
    result_id, title = call.args.get("result_id"), call.args.get("title")
    for name, value in (("result_id", result_id), ("title", title)):
        if value is not None and not isinstance(value, str):
            raise ChartError(
                f"create_chart's {name} must be text, not {json.dumps(value, default=str)[:80]}.",
                details={"reason": "invalid_spec"},
            )
    return spec, (result_id or None), (title.strip()[:200] if title and title.strip() else None)


# ---------------------------------------------------------------- payloads


def query_result_payload(
    result: QueryResult,
    *,
    max_rows: int = MAX_MODEL_ROWS,
    max_chars: int = MAX_MODEL_CHARS,
) -> dict[str, Any]:
    """What the model reads after a successful ``execute_sql``.

    ``rows`` is CSV text (header line first) of at most ``max_rows`` rows and
    about ``max_chars`` characters; missing values are ``NULL``.
    """
    frame = result.head(max_rows)  # never the whole result (it may not be mapped)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(frame.columns)
    shown = 0
    for row in frame.iter_rows():
        writer.writerow([_cell(value) for value in row])
        shown += 1
        if buffer.tell() >= max_chars:
            break
    total = result.total_rows
    payload: dict[str, Any] = {
        "result_id": result.id,
        "columns": [{"name": c.name, "type": c.friendly} for c in result.columns],
        "total_rows": total,
        "rows_shown": shown,
        "rows": buffer.getvalue(),
    }
    if shown < total:
        cause = "to keep the reply small" if shown < min(max_rows, frame.height) else ""
        payload["note"] = (
            f"Only the first {shown:,} of {total:,} rows are shown here{' ' + cause if cause else ''}; "
            "the user can see every row in the result table. Use aggregation (GROUP BY, COUNT, "
            "AVG, ...) rather than reading rows when you need facts about all of them."
        )
    return payload


def schema_only_result_payload(result: QueryResult) -> dict[str, Any]:
    """What the model reads after ``execute_sql`` in privacy mode ``schema``: the shape only."""
    return {
        "result_id": result.id,
        "columns": [{"name": c.name, "type": c.friendly} for c in result.columns],
        "total_rows": result.total_rows,
        "note": (
            "Privacy mode: you do not see rows. The query ran and the user sees its "
            f"{result.total_rows:,} rows in the table under your answer; point them at the "
            "columns that answer the question."
        ),
    }


def describe_arguments(call: FunctionCall) -> tuple[str, list[str] | None]:
    """``(name, columns)`` of a ``describe_table`` call (columns may come as one string).

    Raises
    ------
    QueryError
        ``validation`` when the name is missing or the columns are not names.
    """
    name = required_argument(call, "name")
    columns = call.args.get("columns")
    if columns in (None, "", []):
        return name, None
    if isinstance(columns, str):
        columns = [c.strip() for c in columns.split(",") if c.strip()]
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise QueryError(
            "describe_table's 'columns' must be a list of column names, e.g. [\"status\"].",
            "validation",
        )
    return name, columns


def describe_payload(
    dataset: Dataset, profiles: Sequence[Any], *, schema_only: bool, more: Sequence[str] = ()
) -> dict[str, Any]:
    """What the model reads after ``describe_table``: one entry per profiled column.

    ``more`` are columns not profiled this time (past :data:`MAX_DESCRIBE_COLUMNS`),
    given as names and types.
    """
    payload: dict[str, Any] = {
        "name": dataset.name,
        "row_count": dataset.row_count,
        "column_count": dataset.column_count,
        "columns": [p.payload(schema_only=schema_only) for p in profiles],
    }
    if more:
        schema = dataset.schema
        payload["more_columns"] = [{"name": n, "type": schema[n].dtype} for n in more]
        payload["note"] = (
            f"{len(more):,} more columns are listed with their types only; call describe_table "
            "with columns=[...] for their statistics."
        )
    if schema_only:
        payload["privacy"] = "schema: counts only, no values"
    return payload


def error_payload(error: ChatDFError) -> dict[str, Any]:
    """What the model reads when a tool call failed: ``{error_type, message}``."""
    if isinstance(error, QueryError):
        kind: str = error.error_type
    else:
        kind = type(error).__name__.removesuffix("Error").lower() or "error"
    payload: dict[str, Any] = {"error_type": kind, "message": error.message}
    if kind in ("sql", "validation"):
        payload["hint"] = (
            "Fix the query using the schema in your instructions and call execute_sql again."
        )
    elif isinstance(error, ChartError):
        reason = error.details.get("reason")
        payload["hint"] = (
            "Aggregate in SQL with execute_sql, then call create_chart on the new result."
            if reason == "too_many_rows"
            else "Fix the spec as the message says and call create_chart again."
        )
    return payload


def dataset_payload(dataset: Dataset) -> dict[str, Any]:
    """What the model reads after ``load_dataset``: the new table's name, size and columns."""
    return {
        "name": dataset.name,
        "row_count": dataset.row_count,
        "columns": [{"name": c.name, "type": c.friendly} for c in dataset.columns],
        "note": f"Loaded; query it as table {dataset.name}.",
    }


def function_response_part(call: FunctionCall, response: dict[str, Any]) -> types.Part:
    """The ``functionResponse`` part answering ``call`` (echoing its id when it had one)."""
    part = types.Part.from_function_response(name=call.name, response=response)
    if call.id and part.function_response is not None:
        part.function_response.id = call.id
    return part


def function_responses_content(parts: Sequence[types.Part]) -> types.Content:
    """The user turn that carries the responses to one model turn's calls."""
    return types.Content(role="user", parts=list(parts))


def _cell(value: Any) -> str:
    """One value, short and unambiguous."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return format(value, ".10g")
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, str):
        text = value
    elif isinstance(value, (list, dict, tuple)):
        text = json.dumps(value, default=str, ensure_ascii=False)
    else:
        text = str(value)
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"

"""The guarded query as Spark SQL.

The guard parses DuckDB-flavoured SQL (what the model writes) into a checked
tree; sqlglot generates Spark SQL from that tree, so Spark never sees the
user's text. Spark has functions the guard's lists do not know, some of which
reach the JVM; they are refused here, before anything is sent.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from ...errors import QueryError

# Call arbitrary Java methods, or read/write outside the registered views.
FORBIDDEN_FUNCTIONS = frozenset(
    {
        "reflect",
        "java_method",
        "try_reflect",
        "read_files",
        "input_file_name",
        "input_file_block_start",
        "input_file_block_length",
        "current_catalog",
        "current_database",
        "current_schema",
        "current_user",
        "session_user",
        "user",
        "version",
    }
)


def to_spark_sql(tree: exp.Expression) -> str:
    """Spark SQL text for a guarded tree (names backquoted, no comments)."""
    for node in tree.walk():
        name = _function_name(node)
        if name in FORBIDDEN_FUNCTIONS:
            raise QueryError(
                f"The function {name}() is not allowed: it reaches outside the registered datasets.",
                "validation",
                details={"reason": "function", "function": name},
            )
    return tree.sql(dialect="spark", comments=False, identify=True)


def _function_name(node: Any) -> str | None:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return None

"""Exploration statements, answered from the registry's catalog with plain SELECTs.

``DESCRIBE t``, ``SHOW TABLES``, ``SUMMARIZE t`` and ``information_schema.tables``
/ ``.columns`` become SELECT text over the catalog (table and column names with
their types, written into the query as ``VALUES`` rows) or over the table
itself (``SUMMARIZE`` aggregates it in a worker). The guard then checks that
text like any other query: nothing here reads a file or lists anything the
registry does not hold. Column names follow DuckDB's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlglot import exp
from sqlglot.tokens import Token, TokenType

from ..errors import QueryError
from .dialect import Catalog

_NUMERIC = re.compile(r"^(U?Int\d+|Float\d+|Decimal)")
_DUCKDB_TYPES = {
    "Int8": "TINYINT",
    "Int16": "SMALLINT",
    "Int32": "INTEGER",
    "Int64": "BIGINT",
    "Int128": "HUGEINT",
    "UInt8": "UTINYINT",
    "UInt16": "USMALLINT",
    "UInt32": "UINTEGER",
    "UInt64": "UBIGINT",
    "Float32": "FLOAT",
    "Float64": "DOUBLE",
    "String": "VARCHAR",
    "Boolean": "BOOLEAN",
    "Date": "DATE",
    "Time": "TIME",
    "Binary": "BLOB",
    "Null": '"NULL"',
    "Categorical": "VARCHAR",
}


def duckdb_type(dtype: str) -> str:
    """DuckDB's name for a Polars dtype text (``Datetime(time_unit='us', ...)`` -> TIMESTAMP)."""
    if dtype in _DUCKDB_TYPES:
        return _DUCKDB_TYPES[dtype]
    if dtype.startswith("Datetime"):
        return (
            "TIMESTAMP"
            if "time_zone=None" in dtype or "time_zone" not in dtype
            else "TIMESTAMP WITH TIME ZONE"
        )
    if dtype.startswith("Duration"):
        return "INTERVAL"
    if dtype.startswith("Decimal"):
        digits = re.findall(r"\d+", dtype)
        return f"DECIMAL({digits[0]},{digits[1]})" if len(digits) >= 2 else "DECIMAL"
    if dtype.startswith(("List", "Array")):
        inner = dtype[dtype.index("(") + 1 : dtype.rindex(")")] if "(" in dtype else "VARCHAR"
        return duckdb_type(inner.split(",")[0].strip()) + "[]"
    if dtype.startswith("Struct"):
        return "STRUCT"
    if dtype.startswith(("Enum", "Categorical")):
        return "VARCHAR"
    return dtype.upper()


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _name(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _refuse(message: str, reason: str = "exploration") -> QueryError:
    return QueryError(message, "validation", details={"reason": reason})


def _values(rows: Sequence[Sequence[str]], columns: list[str], empty: list[str]) -> str:
    """SELECT text of ``rows`` (already SQL literals) as ``columns``; ``empty`` types them if none."""
    if not rows:
        nulls = ", ".join(
            f"CAST(NULL AS {t}) AS {_name(c)}" for c, t in zip(columns, empty, strict=True)
        )
        return f"SELECT {nulls} LIMIT 0"
    body = ", ".join("(" + ", ".join(row) + ")" for row in rows)
    return f"SELECT * FROM (VALUES {body}) AS v({', '.join(_name(c) for c in columns)})"


def _tables_sql(catalog: Catalog) -> str:
    rows = [("'memory'", "'main'", _q(name), "'BASE TABLE'") for name in catalog]
    return _values(
        rows,
        ["table_catalog", "table_schema", "table_name", "table_type"],
        ["VARCHAR"] * 4,
    )


def _columns_sql(catalog: Catalog) -> str:
    rows = [
        (
            "'memory'",
            "'main'",
            _q(table),
            _q(column),
            str(position),
            "'YES'",
            _q(duckdb_type(dtype)),
        )
        for table, columns in catalog.items()
        for position, (column, dtype) in enumerate(columns.items(), start=1)
    ]
    return _values(
        rows,
        [
            "table_catalog",
            "table_schema",
            "table_name",
            "column_name",
            "ordinal_position",
            "is_nullable",
            "data_type",
        ],
        ["VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "BIGINT", "VARCHAR", "VARCHAR"],
    )


def _find(catalog: Catalog, name: str) -> str:
    for registered in catalog:
        if registered.casefold() == name.casefold():
            return registered
    available = ", ".join(sorted(catalog, key=str.casefold)) or "none"
    raise QueryError(
        f"Unknown table '{name}'. Available tables: {available}",
        "validation",
        details={"reason": "unknown_table", "table": name, "available": sorted(catalog)},
    )


def describe_sql(catalog: Catalog, table: str) -> str:
    """DuckDB's DESCRIBE: column_name, column_type, null, key, default, extra."""
    name = _find(catalog, table)
    rows = [
        (
            _q(column),
            _q(duckdb_type(dtype)),
            "'YES'",
            "NULL",
            "NULL",
            "NULL",
        )
        for column, dtype in catalog[name].items()
    ]
    return _values(
        rows, ["column_name", "column_type", "null", "key", "default", "extra"], ["VARCHAR"] * 6
    )


def show_tables_sql(catalog: Catalog) -> str:
    """DuckDB's SHOW TABLES: one column, name, sorted."""
    rows = [(_q(name),) for name in sorted(catalog)]
    return _values(rows, ["name"], ["VARCHAR"]) + (' ORDER BY "name"' if rows else "")


def summarize_sql(catalog: Catalog, table: str) -> str:
    """DuckDB's SUMMARIZE: one row per column, aggregated over the table in a worker."""
    name = _find(catalog, table)
    parts = []
    for column, dtype in catalog[name].items():
        col = _name(column)
        numeric = bool(_NUMERIC.match(dtype))
        simple = not dtype.startswith(("List", "Array", "Struct", "Object", "Binary", "Null"))
        as_double = f"CAST({col} AS DOUBLE)"
        minimum = f"CAST(MIN({col}) AS VARCHAR)" if simple else "CAST(NULL AS VARCHAR)"
        maximum = f"CAST(MAX({col}) AS VARCHAR)" if simple else "CAST(NULL AS VARCHAR)"
        unique = f"CAST(COUNT(DISTINCT {col}) AS BIGINT)" if simple else "CAST(NULL AS BIGINT)"
        stats = (
            [f"AVG({as_double})", f"STDDEV({as_double})"]
            + [f"CAST(QUANTILE_CONT({as_double}, {q}) AS VARCHAR)" for q in ("0.25", "0.5", "0.75")]
            if numeric
            else ["CAST(NULL AS DOUBLE)", "CAST(NULL AS DOUBLE)"] + ["CAST(NULL AS VARCHAR)"] * 3
        )
        nulls = f"CAST(ROUND(100.0 * (COUNT(*) - COUNT({col})) / COUNT(*), 2) AS DOUBLE)"
        values = [
            _q(column),
            _q(duckdb_type(dtype)),
            minimum,
            maximum,
            unique,
            *stats,
            "CAST(COUNT(*) AS BIGINT)",
            nulls,
        ]
        names = [
            "column_name",
            "column_type",
            "min",
            "max",
            "approx_unique",
            "avg",
            "std",
            "q25",
            "q50",
            "q75",
            "count",
            "null_percentage",
        ]
        select = ", ".join(f"{v} AS {_name(n)}" for v, n in zip(values, names, strict=True))
        parts.append(f"SELECT {select} FROM {_name(name)}")
    if not parts:
        raise _refuse(f"Table '{name}' has no columns to summarize.")
    return " UNION ALL ".join(parts)


def statement(tokens: list[Token], sql: str, catalog: Catalog | None) -> str | None:
    """SELECT text answering an exploration statement, or None when ``tokens`` are not one."""
    if catalog is None or not tokens:
        return None
    words = [t.text.upper() if t.token_type != TokenType.IDENTIFIER else t.text for t in tokens]
    first = words[0]
    if first in ("DESCRIBE", "DESC", "SUMMARIZE"):
        if (
            len(tokens) == 3
            and tokens[1].token_type != TokenType.IDENTIFIER
            and words[1] == "TABLE"
        ):
            tokens = [tokens[0], tokens[2]]
        if len(tokens) != 2 or tokens[1].token_type not in (TokenType.VAR, TokenType.IDENTIFIER):
            raise _refuse(
                f"{first} takes one table name ({first} orders); for the columns of a query, "
                "run it with LIMIT 0.",
            )
        table = tokens[1].text
        return (
            summarize_sql(catalog, table) if first == "SUMMARIZE" else describe_sql(catalog, table)
        )
    if first == "PIVOT":
        return pivot_sql(tokens, sql, catalog)
    if first == "SHOW":
        rest = words[1:]
        if rest in (["TABLES"], ["ALL", "TABLES"]):
            return show_tables_sql(catalog)
        raise _refuse("Only SHOW TABLES is supported; DESCRIBE t lists a table's columns.")
    return None


_PIVOT_HINT = (
    "PIVOT needs its values listed (PIVOT t ON col IN ('a', 'b') USING SUM(x) GROUP BY g); or "
    "write SUM(CASE WHEN col = 'a' THEN x END) AS a ... GROUP BY g."
)


def pivot_sql(tokens: list[Token], sql: str, catalog: Catalog) -> str:
    """DuckDB's ``PIVOT t ON col IN (...) USING agg(x) [GROUP BY g]`` as conditional aggregates.

    What follows the pivot (ORDER BY, LIMIT) is kept as written; the guard checks it all.
    """
    from ..engine.sqlguard import _DIALECT  # the guard's own parser and generator

    cut = next(
        (i for i, t in enumerate(tokens) if t.token_type in (TokenType.ORDER_BY, TokenType.LIMIT)),
        len(tokens),
    )
    head = sql[tokens[0].start : tokens[cut - 1].end + 1]
    rest = sql[tokens[cut].start : tokens[-1].end + 1] if cut < len(tokens) else ""
    try:
        node = _DIALECT.parser().parse(_DIALECT.tokenize(head), head)[0]
    except Exception:  # noqa: BLE001 - any other shape gets the hint
        raise _refuse(_PIVOT_HINT) from None
    source = node.this if isinstance(node, exp.Pivot) else None
    fields = node.expressions if isinstance(node, exp.Pivot) else []
    aggs = node.args.get("using") or [] if isinstance(node, exp.Pivot) else []
    if (
        not isinstance(source, exp.Table)
        or not isinstance(source.this, exp.Identifier)
        or len(fields) != 1
        or not isinstance(fields[0], exp.In)
        or not aggs
    ):
        raise _refuse(_PIVOT_HINT)
    column, values = fields[0].this, fields[0].expressions
    if not values or not all(isinstance(v, exp.Literal) for v in values):
        raise _refuse(_PIVOT_HINT)  # values written out: a subquery would need the data
    group = node.args.get("group") if node is not None else None
    if isinstance(group, exp.Group) and group.expressions:
        keys = list(group.expressions)
    else:  # DuckDB groups by every other column
        used = {c.name for agg in aggs for c in agg.find_all(exp.Column)} | {column.name}
        table = _find(catalog, source.name)
        keys = [exp.column(c, quoted=True) for c in catalog[table] if c not in used]
    projections: list[exp.Expression] = [k.copy() for k in keys]
    for value in values:
        for agg in aggs:
            call = agg.this if isinstance(agg, exp.Alias) else agg
            new = call.copy()
            cond = exp.EQ(this=column.copy(), expression=value.copy())
            arguments = new.expressions if isinstance(new, exp.Anonymous) else []
            if not arguments:
                raise _refuse(_PIVOT_HINT)
            for arg in arguments:
                inner = exp.Literal.number(1) if isinstance(arg, exp.Star) else arg.copy()
                arg.replace(exp.Case(ifs=[exp.If(this=cond.copy(), true=inner)]))
            label = value.name
            if len(aggs) > 1:
                label += "_" + (
                    agg.alias if isinstance(agg, exp.Alias) else call.sql(dialect="duckdb").lower()
                )
            projections.append(exp.alias_(new, label, quoted=True))  # type: ignore[arg-type]
    select = exp.select(*projections).from_(source.copy())
    if keys:
        select = select.group_by(*[k.copy() for k in keys])
    text = select.sql(dialect=_DIALECT, comments=False, normalize_functions=False)
    return f"{text} {rest}".strip()


def catalog_tables(tree: exp.Expression, catalog: Catalog | None) -> exp.Expression:
    """``information_schema.tables`` / ``.columns`` replaced by the catalog's rows."""
    if catalog is None:
        return tree
    for table in list(tree.find_all(exp.Table)):
        if table.args.get("db") is None or table.args.get("catalog") is not None:
            continue
        if table.db.casefold() != "information_schema":
            continue
        which = table.name.casefold()
        if which not in ("tables", "columns"):
            raise _refuse(
                "Only information_schema.tables and information_schema.columns are available."
            )
        text = _tables_sql(catalog) if which == "tables" else _columns_sql(catalog)
        from ..engine.sqlguard import _DIALECT  # the guard's own parser

        inner = _DIALECT.parser().parse(_DIALECT.tokenize(text), text)[0]
        assert inner is not None
        alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(table.name))
        table.replace(exp.Subquery(this=inner, alias=alias))
    return tree


__all__ = [
    "catalog_tables",
    "describe_sql",
    "duckdb_type",
    "show_tables_sql",
    "statement",
    "summarize_sql",
]

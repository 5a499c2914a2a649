"""The read-only guard every query passes before a worker sees it.

Polars' SQL can do more than read the registered datasets: ``read_csv(...)``
and friends read any file or URL, ``CREATE TABLE`` / ``DROP TABLE`` change the
context, ``SHOW TABLES`` lists it. The guard parses the text with sqlglot (a
real SQL parser, never regexes) and lets through exactly one ``SELECT`` (or
``WITH ... SELECT``, ``UNION`` and friends) whose tables are all registered
datasets or CTEs of the same query. Everything else is a
``QueryError(error_type="validation")`` that says what was refused and why.

The parse must see the same code Polars will run, or a comment or string that
the two parsers read differently could hide a ``read_csv`` from the guard. So
Polars never gets the raw text: it gets sqlglot's own tokens at their original
offsets with everything between them (comments, odd whitespace) blanked out.
Line and column numbers in Polars' error messages still match the user's SQL.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ErrorLevel, ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from ..errors import QueryError

MAX_SQL_CHARS = 100_000
"""Longer texts are refused before parsing (no model or person writes these)."""

# Functions that read files or URLs in Polars, DuckDB or Postgres. Polars only
# knows read_csv/read_parquet/read_ipc/read_json today; the rest keeps the guard
# honest if a later Polars grows more of them.
_READER_PREFIXES = (
    "read_",
    "scan_",
    "load_",
    "write_",
    "import_",
    "export_",
    "pg_read",
    "pg_ls",
    "lo_",
)
_READER_NAMES = frozenset(
    {
        "glob",
        "sniff_csv",
        "parquet_metadata",
        "parquet_schema",
        "parquet_file_metadata",
        "parquet_kv_metadata",
        "parquet_scan",
        "csv_scan",
        "delta_scan",
        "iceberg_scan",
        "sqlite_scan",
        "postgres_scan",
        "mysql_scan",
        "query_table",
        "http_get",
        "http_post",
        "url",
        "file",
    }
)

# Statements that are not queries; refused wherever sqlglot finds them.
_STATEMENTS = tuple(
    cls
    for cls in (
        getattr(exp, name, None)
        for name in (
            "Insert",
            "Update",
            "Delete",
            "Merge",
            "Create",
            "Drop",
            "Alter",
            "TruncateTable",
            "Copy",
            "Attach",
            "Detach",
            "Pragma",
            "Set",
            "Command",
            "Use",
            "Transaction",
            "Commit",
            "Rollback",
            "Describe",
            "Show",
            "Install",
            "Summarize",
            "Into",
            "Cache",
            "Uncache",
            "Analyze",
            "Kill",
            "Grant",
            "Revoke",
            "LoadData",
            "Refresh",
            "Export",
            "Comment",
            "Declare",
        )
    )
    if cls is not None
)

_QUERY_STARTS = {TokenType.SELECT, TokenType.WITH, TokenType.L_PAREN}


class PolarsDialect(DuckDB):
    """sqlglot's DuckDB dialect read the way Polars' SQL parser reads text.

    Both treat backslashes in strings literally, nest block comments and know
    ``$$`` strings; Polars also accepts backtick-quoted identifiers.
    """

    class Tokenizer(DuckDB.Tokenizer):
        IDENTIFIERS = ['"', "`"]


_DIALECT = PolarsDialect()


@dataclasses.dataclass(frozen=True)
class GuardedQuery:
    """A query the guard accepted.

    Attributes
    ----------
    sql
        The text to hand to Polars: the accepted tokens at their original
        positions, comments blanked, no trailing semicolon.
    tables
        The registered datasets the query reads, spelled as registered, in order
        of first use (CTE names are not included).
    """

    sql: str
    tables: list[str]


def guard(sql: str, allowed_tables: Iterable[str]) -> GuardedQuery:
    """Check that ``sql`` is one read-only query over ``allowed_tables``.

    Parameters
    ----------
    sql
        The query as the user or the model wrote it.
    allowed_tables
        Names of the registered datasets. Like Polars, table names match
        without regard to case, quoted or not.

    Returns
    -------
    GuardedQuery

    Raises
    ------
    QueryError
        ``error_type="validation"``, with a message naming what was refused.
    """
    if not isinstance(sql, str):
        raise _refuse(f"The query must be text, not {type(sql).__name__}.", "type")
    if len(sql) > MAX_SQL_CHARS:
        raise _refuse(
            f"The query is too long ({len(sql):,} characters; at most {MAX_SQL_CHARS:,}).",
            "too_long",
        )
    bad = next((ch for ch in sql if ch < " " and ch not in "\t\n\r"), None)
    if bad is not None:
        raise _refuse(f"The query contains a control character (U+{ord(bad):04X}).", "control_char")

    tokens = _tokenize(sql)
    statements = _split_statements(tokens)
    if not statements:
        raise _refuse("The query is empty: write one SELECT statement.", "empty")
    if len(statements) > 1:
        raise _refuse(
            f"Only one statement is allowed (got {len(statements)}); send them one at a time.",
            "multiple_statements",
        )
    tokens = statements[0]
    if tokens[0].token_type not in _QUERY_STARTS:
        raise _not_a_query(tokens[0].text.upper())

    tree = _parse(tokens, sql)
    _check_statement(tree)
    tables = _check_tables(tree, allowed_tables)
    _check_functions(tree)
    return GuardedQuery(sql=_polars_text(sql, tokens), tables=tables)


# -- steps -----------------------------------------------------------------------------


def _tokenize(sql: str) -> list[Token]:
    try:
        return _DIALECT.tokenize(sql)
    except TokenError as exc:
        raise _refuse(f"Could not read the SQL: {_first_line(exc)}", "syntax") from None


def _split_statements(tokens: list[Token]) -> list[list[Token]]:
    statements: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    return [s for s in statements if s]


def _parse(tokens: list[Token], sql: str) -> exp.Expression:
    try:
        trees = _DIALECT.parser(error_level=ErrorLevel.RAISE).parse(tokens, sql)
    except ParseError as exc:
        where = ""
        if exc.errors:
            err = exc.errors[0]
            where = f" near line {err.get('line')}, column {err.get('col')}"
            # sqlglot names its own classes in some messages; keep just the name.
            reason = re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", err.get("description") or "")
            reason = reason or "invalid syntax"
        else:
            reason = _first_line(exc)
        raise _refuse(f"Could not parse the SQL{where}: {reason}.", "syntax") from None
    except RecursionError:
        raise _refuse("The query is nested too deeply to check.", "too_deep") from None
    trees = [t for t in trees if t is not None]
    if len(trees) != 1:  # one token run is one statement; anything else is a parser surprise
        raise _refuse("Only one statement is allowed.", "multiple_statements")
    return trees[0]


def _check_statement(tree: exp.Expression) -> None:
    query = tree
    while isinstance(query, exp.Subquery):
        query = query.this
    if not isinstance(query, (exp.Select, exp.SetOperation)):
        raise _not_a_query(_statement_name(query))
    for node in tree.walk():
        if isinstance(node, _STATEMENTS):
            raise _not_a_query(_statement_name(node))


def _check_tables(tree: exp.Expression, allowed_tables: Iterable[str]) -> list[str]:
    registered: dict[str, str] = {}
    for name in allowed_tables:
        registered.setdefault(name.casefold(), name)
    ctes = {cte.alias_or_name.casefold() for cte in tree.find_all(exp.CTE)}

    for node in tree.walk():
        # Everything a FROM or JOIN reads must be a plain table, a subquery or VALUES.
        if isinstance(node, (exp.From, exp.Join)):
            source = node.this
            if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
                continue
            if isinstance(source, (exp.Subquery, exp.Values)):
                continue
            if isinstance(source, exp.Lateral) and isinstance(source.this, exp.Subquery):
                continue
            raise _refuse(
                f"Table functions are not allowed (got {_source_name(source)}): "
                "query the registered tables by name.",
                "table_function",
            )
        if isinstance(node, exp.Lateral) and not isinstance(node.this, exp.Subquery):
            raise _refuse(
                f"Table functions are not allowed (got {_source_name(node.this)}).",
                "table_function",
            )

    used: list[str] = []
    in_text_order = sorted(tree.find_all(exp.Table), key=lambda t: t.this.meta.get("start", 0))
    for table in in_text_order:
        if not isinstance(table.this, exp.Identifier):
            raise _refuse(
                f"Table functions are not allowed (got {_source_name(table)}).", "table_function"
            )
        if table.args.get("db") or table.args.get("catalog"):
            raise _refuse(
                f"Qualified table names are not allowed (got {table.sql(dialect=_DIALECT)}): "
                "use the dataset name alone.",
                "qualified_table",
            )
        key = table.name.casefold()
        if key in ctes:
            continue
        if key not in registered:
            available = ", ".join(sorted(registered.values(), key=str.casefold)) or "none"
            raise QueryError(
                f"Unknown table '{table.name}'. Available tables: {available}",
                "validation",
                details={
                    "reason": "unknown_table",
                    "table": table.name,
                    "available": sorted(registered.values()),
                },
            )
        if registered[key] not in used:
            used.append(registered[key])
    return used


def _check_functions(tree: exp.Expression) -> None:
    for node in tree.find_all(exp.Func):
        name = _function_name(node)
        if name.startswith(_READER_PREFIXES) or name in _READER_NAMES:
            raise _refuse(
                f"Functions that read files or URLs are not allowed (got {name}): "
                "query the registered tables instead.",
                "reader_function",
            )


def _polars_text(sql: str, tokens: list[Token]) -> str:
    """The accepted tokens at their original offsets, with the gaps blanked."""
    first, last = tokens[0].start, tokens[-1].end + 1
    keep = bytearray(last - first)  # 1 where a token's characters are
    for token in tokens:
        keep[token.start - first : token.end + 1 - first] = b"\x01" * (token.end + 1 - token.start)
    return "".join(ch if keep[i] or ch == "\n" else " " for i, ch in enumerate(sql[first:last]))


# -- naming ----------------------------------------------------------------------------


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).casefold()
    return node.sql_name().casefold()


def _source_name(node: exp.Expression | None) -> str:
    if isinstance(node, (exp.Table, exp.Lateral)):
        node = node.this
    if isinstance(node, exp.Func):
        return _function_name(node)
    if node is None:
        return "nothing"
    return node.key.upper()


def _statement_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    names = {"into": "SELECT INTO", "truncatetable": "TRUNCATE", "loaddata": "LOAD DATA"}
    return names.get(node.key, node.key.upper())


def _not_a_query(what: str) -> QueryError:
    return _refuse(f"Only SELECT queries are allowed (got {what}).", "not_select", statement=what)


def _refuse(message: str, reason: str, **details: object) -> QueryError:
    return QueryError(message, "validation", details={"reason": reason, **details})


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["GuardedQuery", "MAX_SQL_CHARS", "PolarsDialect", "guard"]

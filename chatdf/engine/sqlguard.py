"""The read-only guard every query passes before a worker sees it.

Polars' SQL can do more than read the registered datasets: ``read_csv(...)``
and friends read any file or URL, ``CREATE TABLE`` / ``DROP TABLE`` change the
context, ``SHOW TABLES`` lists it. The guard parses the text with sqlglot (a
real SQL parser, never regexes) and lets through exactly one ``SELECT`` (or
``WITH ... SELECT``, ``UNION`` and friends) whose tables are all registered
datasets or CTEs of the same query. Everything else is a
``QueryError(error_type="validation")`` that says what was refused and why.

What was checked is what runs: Polars never gets the user's text. Two parsers
can read one text differently (a dollar-quoted string to sqlglot is a
placeholder, a subtraction and a comment to Polars), so Polars gets text that
:func:`to_polars_sql` generates from the checked tree, in a plain form both
parsers read alike: single-quoted strings, double-quoted names, no comments,
placeholders or string prefixes. That text is parsed again and must give the
same tree, or the query is refused. The plan check in the worker
(:mod:`chatdf.engine.plan`) is the second, independent line.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable
from typing import Any

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ErrorLevel, ParseError
from sqlglot.tokens import Token, TokenType

from ..errors import QueryError
from ..limits import MAX_SQL_CHARS
from ..sql import dialect as _dialect
from ..sql import explore
from ..sql.dialect import Catalog

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
    """sqlglot's DuckDB dialect, narrowed to read and write text as Polars' SQL does.

    Polars' parser (sqlparser-rs, generic dialect) reads backslashes in
    strings literally, accepts backtick-quoted names, sorts nulls last going
    up and first going down, and takes ``FLOAT`` for a 64-bit float. Function
    calls stay as written (``exp.Anonymous``): DuckDB's typed functions would
    come back out under DuckDB's names or argument orders (``LOG10(x)`` as
    ``LOG(10, x)``, ``INITCAP`` as a page of regexes), which Polars reads
    differently or not at all. Only calls with their own grammar keep
    sqlglot's parsers.
    """

    NULL_ORDERING = "nulls_are_large"

    class Tokenizer(DuckDB.Tokenizer):
        IDENTIFIERS = ['"', "`"]
        KEYWORDS = {
            **{k: v for k, v in DuckDB.Tokenizer.KEYWORDS.items() if k != "DIV"},
            "FLOAT": TokenType.DOUBLE,
        }

    class Parser(DuckDB.Parser):  # type: ignore[valid-type,misc]  # sqlglot types it as a variable
        FUNCTIONS: dict[str, Any] = {}
        FUNCTION_PARSERS = {
            name: parser
            for name, parser in DuckDB.Parser.FUNCTION_PARSERS.items()
            if name in {"CAST", "TRY_CAST", "EXTRACT", "POSITION", "SUBSTRING", "TRIM"}
        }
        # DuckDB reads "@x" as ABS(x); Polars as a column "@x". Neither is wanted.
        NO_PAREN_FUNCTION_PARSERS = {
            name: parser
            for name, parser in DuckDB.Parser.NO_PAREN_FUNCTION_PARSERS.items()
            if name in {"ANY", "CASE", "IF"}
        }
        # DuckDB gives a bare DECIMAL a (18, 3) default; Polars' is (38, 9).
        TYPE_CONVERTERS = {
            k: v for k, v in DuckDB.Parser.TYPE_CONVERTERS.items() if k != exp.DType.DECIMAL
        }

        def _parse_ordered(self, *args: Any, **kwargs: Any) -> Any:
            # Mark a written NULLS FIRST/LAST: the dialect layer gives the rest DuckDB's order.
            node = super()._parse_ordered(*args, **kwargs)
            before = self._tokens[self._index - 2] if self._index >= 2 else None
            if node is not None and before is not None and before.text.upper() == "NULLS":
                node.meta["nulls_written"] = True
            return node

    class Generator(DuckDB.Generator):  # type: ignore[valid-type,misc]
        LIMIT_FETCH = "ALL"  # FETCH FIRST stays FETCH FIRST
        TRANSFORMS = {
            **DuckDB.Generator.TRANSFORMS,
            exp.If: lambda self, e: self.func(
                "IF", e.this, e.args.get("true"), e.args.get("false")
            ),
            exp.StrPosition: lambda self, e: (
                f"POSITION({self.sql(e, 'substr')} IN {self.sql(e, 'this')})"
                if not e.args.get("position") and not e.args.get("occurrence")
                else self.function_fallback_sql(e)
            ),
            exp.RegexpLike: lambda self, e: (
                self.func("REGEXP_LIKE", e.this, e.expression, e.args.get("flag"))
                if e.args.get("flag")
                else self.binary(e, "~")
            ),
            exp.RegexpILike: lambda self, e: self.binary(e, "~*"),
        }

        def extract_sql(self, expression: exp.Extract) -> str:
            # The part as written: DuckDB would spell DOW as DAYOFWEEK.
            return (
                f"EXTRACT({self.sql(expression, 'this')} FROM {self.sql(expression, 'expression')})"
            )

        def identifier_sql(self, expression: exp.Identifier) -> str:
            # Every name quoted: then no bare word is a name to one parser and a
            # keyword to the other, and Polars reads "x" exactly as it reads x.
            text = expression.name
            return '"' + text.replace('"', '""') + '"'


_DIALECT = PolarsDialect()


@dataclasses.dataclass(frozen=True)
class GuardedQuery:
    """A query the guard accepted.

    Attributes
    ----------
    sql
        The text to hand to Polars: :func:`to_polars_sql` of ``tree``.
    tables
        The registered datasets the query reads, spelled as registered, in order
        of first use (CTE names are not included).
    tree
        The checked statement (comments removed). A later step may rewrite it;
        hand the result to :func:`to_polars_sql` again.
    """

    sql: str
    tables: list[str]
    tree: exp.Expression = dataclasses.field(repr=False, compare=False)


def guard(
    sql: str,
    allowed_tables: Iterable[str],
    *,
    catalog: Catalog | None = None,
    dialect: bool = True,
) -> GuardedQuery:
    """Check that ``sql`` is one read-only query over ``allowed_tables``.

    Parameters
    ----------
    sql
        The query as the user or the model wrote it.
    allowed_tables
        Names of the registered datasets. Like Polars, table names match
        without regard to case, quoted or not.
    catalog
        Column names and Polars types of the registered datasets: exploration
        statements (``DESCRIBE t``, ``SHOW TABLES``, ``SUMMARIZE t``,
        ``information_schema``) are answered from it, and the dialect layer
        reads column types from it. Without it those statements are refused.
    dialect
        Rewrite DuckDB forms for Polars (:mod:`chatdf.sql.dialect`). False for
        text that already went through the layer (a result's ``polars_sql``).

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
    _check_tokens(tokens, sql)
    statements = _split_statements(tokens)
    if not statements:
        raise _refuse("The query is empty: write one SELECT statement.", "empty")
    if len(statements) > 1:
        raise _refuse(
            f"Only one statement is allowed (got {len(statements)}); send them one at a time.",
            "multiple_statements",
        )
    tokens = statements[0]
    allowed_tables = list(allowed_tables)
    replacement = explore.statement(tokens, sql, catalog)
    if replacement is not None:  # DESCRIBE t and friends: a SELECT over the catalog
        sql = replacement
        tokens = _tokenize(sql)
    if tokens[0].token_type not in _QUERY_STARTS:
        raise _not_a_query(tokens[0].text.upper(), tokens)

    tree = _parse(tokens, sql)
    tree = explore.catalog_tables(tree, catalog)
    _check(tree, allowed_tables)
    for node in tree.walk():
        node.comments = None
    # The dialect layer works on the checked tree; what it makes is checked again.
    if not dialect:
        return GuardedQuery(sql=to_polars_sql(tree), tables=_check(tree, allowed_tables), tree=tree)
    try:
        before = _shape(tree)
        tree = _dialect.rewrite(tree, catalog)
        if _shape(tree) != before:
            tree = _reparse(tree)  # built nodes read back as the parser reads them
    except RecursionError:
        raise _refuse("The query is nested too deeply to check.", "too_deep") from None
    tables = _check(tree, allowed_tables)
    return GuardedQuery(sql=to_polars_sql(tree), tables=tables, tree=tree)


def _reparse(tree: exp.Expression) -> exp.Expression:
    """``tree`` generated and parsed again: the tree the checks and the round trip then see."""
    try:
        text = tree.sql(dialect=_DIALECT, comments=False, normalize_functions=False)
        again = _DIALECT.parser(error_level=ErrorLevel.RAISE).parse(_DIALECT.tokenize(text), text)
    except RecursionError:
        raise _refuse("The query is nested too deeply to check.", "too_deep") from None
    except Exception:  # noqa: BLE001 - a rewrite Polars' text cannot carry is refused
        again = []
    if len(again) != 1 or not isinstance(again[0], exp.Expression):
        raise _refuse(
            "The query uses a form that cannot be passed on to Polars exactly as checked; "
            "write it more plainly.",
            "round_trip",
        )
    return again[0]


def _check(tree: exp.Expression, allowed_tables: Iterable[str]) -> list[str]:
    _check_statement(tree)
    tables = _check_tables(tree, allowed_tables)
    _check_functions(tree)
    _check_literals(tree)
    return tables


def to_polars_sql(tree: exp.Expression, *, pretty: bool = False) -> str:
    """The text Polars runs for ``tree``, proven to mean ``tree`` and nothing else.

    The text is generated from the tree in :class:`PolarsDialect`, then checked
    two ways: parsed again, it must give exactly the same tree; and it may hold
    only tokens both parsers read alike (see :func:`_check_generated`).
    ``pretty`` spreads it over indented lines (for code a person reads).

    Raises
    ------
    QueryError
        ``error_type="validation"`` (reason ``round_trip``) when either check
        fails: the query uses a form that cannot be handed on safely.
    """
    tokens: list[Token] = []
    try:
        text = tree.sql(dialect=_DIALECT, comments=False, normalize_functions=False, pretty=pretty)
        tokens = _DIALECT.tokenize(text)
        again = _DIALECT.parser(error_level=ErrorLevel.RAISE).parse(list(tokens), text)
        same = (
            len(again) == 1
            and isinstance(again[0], exp.Expression)
            and _shape(again[0]) == _shape(tree)
        )
    except RecursionError:
        raise _refuse("The query is nested too deeply to check.", "too_deep") from None
    except Exception:  # noqa: BLE001 - what cannot be generated and read back is refused
        same = False
    if not same:
        raise _refuse(
            "The query uses a form that cannot be passed on to Polars exactly as checked; "
            "write it more plainly.",
            "round_trip",
        )
    _check_generated(text, tokens)
    return text


# -- steps -----------------------------------------------------------------------------


def _tokenize(sql: str) -> list[Token]:
    try:
        return _DIALECT.tokenize(sql)
    except Exception as exc:  # noqa: BLE001 - TokenError, or the tokenizer tripping
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
        position: dict[str, object] = {}
        if exc.errors:
            err = exc.errors[0]
            where = f" near line {err.get('line')}, column {err.get('col')}"
            # The SQL editor marks the spot (line and column are 1-based, of the bad token's end).
            position = {"line": err.get("line"), "column": err.get("col")}
            # sqlglot names its own classes in some messages; keep just the name.
            reason = re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", err.get("description") or "")
            reason = reason or "invalid syntax"
        else:
            reason = _first_line(exc)
        raise _refuse(f"Could not parse the SQL{where}: {reason}.", "syntax", **position) from None
    except RecursionError:
        raise _refuse("The query is nested too deeply to check.", "too_deep") from None
    except Exception as exc:  # noqa: BLE001 - sqlglot tripping over odd text is still odd text
        raise _refuse(f"Could not parse the SQL: {_first_line(exc)}.", "syntax") from None
    found = [t for t in trees if isinstance(t, exp.Expression)]
    if len(found) != 1:  # one token run is one statement; anything else is a parser surprise
        raise _refuse("Only one statement is allowed.", "multiple_statements")
    return found[0]


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
            if isinstance(source, exp.Table) and _series(source.this):
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
        if _series(table.this) and not table.args.get("db"):
            continue
        if not isinstance(table.this, exp.Identifier):
            raise _refuse(
                f"Table functions are not allowed (got {_source_name(table)}).", "table_function"
            )
        if table.args.get("db") or table.args.get("catalog"):
            raise _refuse(
                f"Qualified table names are not allowed (got {'.'.join(p.name for p in table.parts)}): "
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


_SERIES = frozenset({"generate_series", "range"})
_SERIES_ARGUMENTS = (exp.Literal, exp.Neg, exp.Cast, exp.Interval, exp.Var, exp.DataType, exp.DataTypeParam)


def _series(node: exp.Expression | None) -> bool:
    """``generate_series(a, b[, step])`` / ``range(...)`` over written values only: a pure
    table function (Polars builds the rows from the query's own literals, reading nothing)."""
    if not isinstance(node, exp.Anonymous) or _function_name(node) not in _SERIES:
        return False
    if not 1 <= len(node.expressions) <= 3:
        return False
    if not all(
        isinstance(inner, _SERIES_ARGUMENTS) for arg in node.expressions for inner in arg.walk()
    ):
        return False
    bounds = [_integer(arg) for arg in node.expressions]
    if len(bounds) >= 2 and None not in bounds:
        low, high, *rest = bounds
        step = abs(rest[0] or 1) if rest else 1
        if abs(high - low) // step > MAX_SERIES_ROWS:  # type: ignore[operator]
            raise _refuse(
                f"A generate_series or range may make at most {MAX_SERIES_ROWS:,} rows.", "series_too_long"
            )
    return True


MAX_SERIES_ROWS = 10_000_000
"""Rows a written generate_series / range may make (more is a mistake, or an attack on memory)."""


def _integer(node: exp.Expression) -> int | None:
    sign = 1
    while isinstance(node, exp.Neg):
        node, sign = node.this, -sign
    if isinstance(node, exp.Literal) and not node.is_string and node.name.isdigit():
        return sign * int(node.name)
    return None


def _check_functions(tree: exp.Expression) -> None:
    for node in tree.find_all(exp.Func):
        name = _function_name(node)
        if name.startswith(_READER_PREFIXES) or name in _READER_NAMES:
            raise _refuse(
                f"Functions that read files or URLs are not allowed (got {name}): "
                "query the registered tables instead.",
                "reader_function",
            )


# Token kinds Polars reads differently from sqlglot, or not at all. Refused in
# the user's text with a message that names them.
_PLACEHOLDERS = {TokenType.PARAMETER, TokenType.PLACEHOLDER, TokenType.SESSION_PARAMETER}
_PREFIXED_STRINGS = {
    TokenType.BYTE_STRING,
    TokenType.NATIONAL_STRING,
    TokenType.RAW_STRING,
    TokenType.HEX_STRING,
    TokenType.BIT_STRING,
    TokenType.UNICODE_STRING,
}
_ODD_LITERALS = tuple(
    getattr(exp, name)
    for name in (
        "Placeholder",
        "Parameter",
        "SessionParameter",
        "ByteString",
        "National",
        "RawString",
        "HexString",
        "BitString",
        "UnicodeString",
        "Heredoc",
    )
    if hasattr(exp, name)
)
_STRING_PREFIXES = {"e", "n", "x", "b", "r", "u", "&", "br", "rb"}
_WORD = re.compile(r"[\w'\"&]")
# What generated text may hold outside its strings and quoted names.
_GENERATED_CHARS = re.compile(r"[A-Za-z0-9_ \n(),.*+\-/%<>=!|~:\[\]&]*")
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _check_tokens(tokens: list[Token], sql: str) -> None:
    """Refuse the token kinds whose reading differs between sqlglot and Polars."""
    previous = None
    for token in tokens:
        kind = token.token_type
        if kind in _PLACEHOLDERS or (kind == TokenType.COLON and _named_placeholder(sql, token)):
            raise _refuse(
                "Query parameters and placeholders ($1, $name, ?, :name, @name) are not "
                "supported: write the values into the query.",
                "placeholder",
            )
        if kind == TokenType.HEREDOC_STRING:
            raise _refuse(
                "Dollar-quoted strings ($$...$$, $tag$...$tag$) are not supported: use "
                "single quotes, doubling any quote inside ('it''s').",
                "dollar_quoted",
            )
        if kind in _PREFIXED_STRINGS or (
            kind == TokenType.STRING
            and previous is not None
            and previous.end + 1 == token.start
            and previous.text.casefold() in _STRING_PREFIXES
        ):
            raise _refuse(
                "Strings with a prefix (E'...', N'...', X'...', U&'...') are not supported: "
                "use plain single-quoted strings.",
                "string_prefix",
            )
        previous = token


def _named_placeholder(sql: str, colon: Token) -> bool:
    """``:name`` (a word right after the colon, none right before: not ``x[a:b]``)."""
    after, before = colon.end + 1, colon.start - 1
    return (
        after < len(sql)
        and bool(_WORD.match(sql[after]))
        and not (before >= 0 and _WORD.match(sql[before]))
    )


def _glued(sql: str, left: int, right: int) -> bool:
    """True when the characters at ``left`` and ``right`` touch and both belong to words."""
    return (
        left >= 0
        and right < len(sql)
        and bool(_WORD.match(sql[left]))
        and bool(_WORD.match(sql[right]))
    )


def _check_literals(tree: exp.Expression) -> None:
    for node in tree.walk():
        if isinstance(node, _ODD_LITERALS):
            raise _refuse(
                f"{node.key.replace('_', ' ').capitalize()} values are not supported: "
                "write plain values into the query.",
                "placeholder" if isinstance(node, (exp.Placeholder, exp.Parameter)) else "literal",
            )


def _check_generated(text: str, tokens: list[Token]) -> None:
    """Prove that Polars will split ``text`` into the ``tokens`` sqlglot did.

    Strings and quoted names must be in their one plain spelling, nothing may
    touch a string's opening quote (a prefix), numbers must be plain decimals,
    and the rest may hold only ASCII words, spaces and operators: no comment
    markers, ``$``, ``?``, ``@``, ``#``, backslashes or backticks.
    """
    problem = None
    outside: list[str] = []
    last = 0
    for i, token in enumerate(tokens):
        raw = text[token.start : token.end + 1]
        kind = token.token_type
        if token.comments:
            problem = "comment"
        elif kind == TokenType.STRING and (
            raw != "'" + token.text.replace("'", "''") + "'"
            or _glued(text, token.start - 1, token.start)
        ):
            problem = "string"
        elif kind == TokenType.IDENTIFIER and raw != '"' + token.text.replace('"', '""') + '"':
            problem = "name"
        elif kind == TokenType.NUMBER and (
            not _NUMBER.fullmatch(raw) or _glued(text, token.end, token.end + 1)
        ):
            problem = "number"
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        name = token.text.casefold()
        if (
            following is not None
            and following.token_type == TokenType.L_PAREN
            and (name.startswith(_READER_PREFIXES) or name in _READER_NAMES)
        ):
            problem = f"reader {name}"
        if problem:
            break
        if kind not in (TokenType.STRING, TokenType.IDENTIFIER):
            outside.append(text[last : token.end + 1])
        else:
            outside.append(text[last : token.start] + " ")
        last = token.end + 1
    rest = "".join(outside) + text[last:]
    if problem is None and (
        not _GENERATED_CHARS.fullmatch(rest)
        or any(marker in rest for marker in ("--", "/*", "*/"))
        or ":" in rest.replace("::", "  ")
    ):
        problem = "characters"
    if problem:
        raise _refuse(
            "The query uses a form that cannot be passed on to Polars exactly as checked "
            f"({problem}); write it more plainly.",
            "round_trip",
        )


def _shape(tree: exp.Expression) -> list[tuple[Any, ...]]:
    """Every node of ``tree`` in order, with its exact values (no comments, positions).

    sqlglot's own ``==`` ignores the case of strings; this does not. Whether a
    name was quoted is left out: Polars reads a quoted name as the same name
    unquoted (case-sensitive either way), and generated text quotes them all.
    """
    shape: list[tuple[Any, ...]] = []
    stack: list[tuple[exp.Expression, str]] = [(tree, "")]
    while stack:
        node, where = stack.pop()
        values: list[tuple[Any, ...]] = []
        children: list[tuple[exp.Expression, str]] = []
        for key in sorted(node.args):
            value = node.args[key]
            items = value if isinstance(value, list) else [value]
            for index, item in enumerate(items):
                if isinstance(item, exp.Expression):
                    children.append((item, f"{key}.{index}"))
                elif (
                    item is not None
                    and item is not False
                    and not (key == "quoted" and isinstance(node, exp.Identifier))
                ):  # every name is generated quoted; Polars reads "x" as x
                    values.append((key, index, type(item).__name__, repr(item)))
        shape.append((where, type(node).__name__, tuple(values), len(children)))
        stack.extend(reversed(children))
    return shape


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


_KEYWORDS = ("SELECT", "WITH", "DESCRIBE", "SHOW", "SUMMARIZE", "PIVOT")


def _not_a_query(what: str, tokens: list[Token] | None = None) -> QueryError:
    near = difflib.get_close_matches(what, _KEYWORDS, n=1, cutoff=0.6)
    if near and near[0] != what and " " not in what:
        return _refuse(
            f"Unknown keyword {what}: did you mean {near[0]}? Only SELECT queries (and DESCRIBE, "
            "SHOW TABLES, SUMMARIZE) are allowed.",
            "not_select",
            statement=what,
            suggestion=near[0],
        )
    return _refuse(f"Only SELECT queries are allowed (got {what}).", "not_select", statement=what)


def _refuse(message: str, reason: str, **details: object) -> QueryError:
    return QueryError(message, "validation", details={"reason": reason, **details})


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["MAX_SQL_CHARS", "GuardedQuery", "PolarsDialect", "guard", "to_polars_sql"]

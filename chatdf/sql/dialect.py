"""DuckDB-flavoured SQL on Polars: small named rewrites of the tree the guard checked.

Models write the SQL they saw most, DuckDB's and PostgreSQL's. Polars runs
much of it, but not ``DATE_DIFF``, ``PERCENTILE_CONT ... WITHIN GROUP`` or
``BOOL_OR``, and some forms run with other results (``ROUND`` ties to even,
``ORDER BY x DESC`` puts NULLs first, ``date - date`` is a duration). Each
rewrite below turns one such form into Polars SQL with DuckDB's result. They
only rearrange the checked tree into plain expressions over the same columns
(no table functions, no readers), and the guard checks the rewritten tree again.

``catalog`` maps each registered table to its columns and Polars dtype text;
rewrites that depend on a column's type (date minus date) use it and leave
the expression alone when the type is unknown.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping

from sqlglot import exp

from ..errors import QueryError

Catalog = Mapping[str, Mapping[str, str]]
"""Table name -> column name -> Polars dtype text (``str(pl.Date)`` is ``"Date"``)."""

# Function names Polars' SQL runs (polars 2.1), for "did you mean" hints.
POLARS_FUNCTIONS = frozenset(
    [
        "abs",
        "acos",
        "approx_quantile",
        "array_agg",
        "array_contains",
        "array_get",
        "array_length",
        "array_lower",
        "array_mean",
        "array_reverse",
        "array_sum",
        "array_to_string",
        "array_unique",
        "array_upper",
        "asin",
        "atan",
        "atan2",
        "avg",
        "bit_and",
        "bit_count",
        "bit_length",
        "bit_or",
        "bit_xor",
        "cbrt",
        "ceil",
        "ceiling",
        "char_length",
        "coalesce",
        "concat",
        "concat_ws",
        "corr",
        "cos",
        "cot",
        "count",
        "covar",
        "covar_pop",
        "covar_samp",
        "current_date",
        "date_part",
        "date_trunc",
        "day",
        "dayofmonth",
        "dayofweek",
        "dayofyear",
        "degrees",
        "div",
        "ends_with",
        "exp",
        "first",
        "floor",
        "greatest",
        "hour",
        "if",
        "ifnull",
        "initcap",
        "last",
        "least",
        "left",
        "length",
        "ln",
        "log",
        "log10",
        "log1p",
        "log2",
        "lower",
        "lpad",
        "ltrim",
        "max",
        "median",
        "min",
        "minute",
        "mod",
        "month",
        "now",
        "nullif",
        "octet_length",
        "pi",
        "pow",
        "power",
        "quantile_cont",
        "quantile_disc",
        "quarter",
        "radians",
        "regexp_like",
        "regexp_replace",
        "replace",
        "reverse",
        "right",
        "round",
        "rpad",
        "rtrim",
        "second",
        "sign",
        "sin",
        "sqrt",
        "starts_with",
        "stddev",
        "stddev_samp",
        "strftime",
        "string_agg",
        "string_to_array",
        "strpos",
        "strptime",
        "substr",
        "substring",
        "sum",
        "tan",
        "trim",
        "trunc",
        "unnest",
        "upper",
        "var",
        "var_samp",
        "variance",
        "week",
        "year",
    ]
)

# DuckDB / PostgreSQL names the rewrites below accept.
REWRITTEN_FUNCTIONS = frozenset(
    [
        "date_diff",
        "datediff",
        "date",
        "dayname",
        "monthname",
        "approx_count_distinct",
        "bool_or",
        "bool_and",
        "count_if",
        "countif",
        "arg_max",
        "arg_min",
        "argmax",
        "argmin",
        "max_by",
        "min_by",
        "var_pop",
        "stddev_pop",
        "regexp_matches",
        "regexp_full_match",
        "string_split",
        "str_split",
        "split",
        "len",
        "contains",
        "last_day",
        "make_date",
        "percentile_cont",
        "percentile_disc",
    ]
)

# What to write instead, for forms no rewrite covers.
ALTERNATIVES = {
    "mode": "SELECT x, COUNT(*) AS n FROM t GROUP BY x ORDER BY n DESC LIMIT 1",
    "date_sub": "DATE_DIFF('day', a, b) (counts boundaries crossed)",
    "timestampdiff": "DATE_DIFF('second', a, b)",
    "age": "DATE_DIFF('day', a, b)",
    "epoch": "EXTRACT(EPOCH FROM ts)",
    "typeof": "DESCRIBE t",
    "random": "no random functions: sample with ORDER BY a column and LIMIT",
    "regexp_extract": "REGEXP_LIKE(s, pattern) to test, REGEXP_REPLACE(s, pattern, '') to remove, "
    "or SPLIT_PART / SUBSTR to cut out a part",
}


def rewrite(tree: exp.Expression, catalog: Catalog | None = None) -> exp.Expression:
    """``tree`` with every DuckDB form below rewritten for Polars (changed in place)."""
    types = _Types(tree, catalog or {})
    for transform in TRANSFORMS:
        tree = transform(tree, types)
    return tree


# -- types, as far as the catalog tells them ----------------------------------------------


class _Types:
    """Column types of the tables a query reads (by name or alias), from the catalog."""

    def __init__(self, tree: exp.Expression, catalog: Catalog) -> None:
        lowered = {name.casefold(): cols for name, cols in catalog.items()}
        self.by_alias: dict[str, Mapping[str, str]] = {}
        self.anywhere: dict[str, set[str]] = {}
        for table in tree.find_all(exp.Table):
            cols = lowered.get(table.name.casefold())
            if cols is None:
                continue
            self.by_alias[table.alias_or_name.casefold()] = cols
            for column, dtype in cols.items():
                self.anywhere.setdefault(column, set()).add(dtype)

    def of(self, node: exp.Expression) -> str | None:
        """The Polars dtype text of ``node`` when it is plain to see, else None."""
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.Column):
            if node.table:
                return self.by_alias.get(node.table.casefold(), {}).get(node.name)
            found = self.anywhere.get(node.name, set())
            return next(iter(found)) if len(found) == 1 else None
        if isinstance(node, (exp.Cast, exp.TryCast)):
            to = node.to.this
            if to == exp.DType.DATE:
                return "Date"
            return None
        if isinstance(node, exp.Anonymous) and _name(node) in {
            "max",
            "min",
            "first",
            "last",
            "any_value",
        }:
            return self.of(node.expressions[0]) if node.expressions else None
        if isinstance(node, exp.Anonymous) and _name(node) == "current_date":
            return "Date"
        if isinstance(node, exp.CurrentDate):
            return "Date"
        return None

    def is_date(self, node: exp.Expression) -> bool:
        return self.of(node) == "Date"


# -- helpers --------------------------------------------------------------------------------


def _name(node: exp.Expression) -> str:
    return str(node.this).casefold() if isinstance(node, exp.Anonymous) else ""


def _call(name: str, *args: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _cast(node: exp.Expression, to: str) -> exp.Cast:
    return exp.Cast(this=node, to=exp.DataType.build(to))


def _num(value: float | int) -> exp.Expression:
    return exp.Literal.number(value)


def _text(node: exp.Expression | None) -> str | None:
    return node.name if isinstance(node, exp.Literal) and node.is_string else None


def _int(node: exp.Expression | None) -> int | None:
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        inner = _int(node.this)
        return -inner if inner is not None else None
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return int(node.name)
        except ValueError:
            return None
    return None


def _refuse(message: str, reason: str, **details: object) -> QueryError:
    return QueryError(message, "validation", details={"reason": reason, **details})


def _bottom_up(
    tree: exp.Expression, fix: Callable[[exp.Expression], exp.Expression]
) -> exp.Expression:
    """``tree`` with ``fix`` applied to every node, children first (nested forms nest)."""
    for node in reversed(list(tree.dfs())):
        new = fix(node)  # type: ignore[arg-type]
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


# -- the rewrites ---------------------------------------------------------------------------

_UNITS = {
    "year": "year",
    "years": "year",
    "yr": "year",
    "y": "year",
    "quarter": "quarter",
    "quarters": "quarter",
    "month": "month",
    "months": "month",
    "mon": "month",
    "week": "week",
    "weeks": "week",
    "w": "week",
    "day": "day",
    "days": "day",
    "d": "day",
    "dayofmonth": "day",
    "hour": "hour",
    "hours": "hour",
    "h": "hour",
    "minute": "minute",
    "minutes": "minute",
    "min": "minute",
    "m": "minute",
    "second": "second",
    "seconds": "second",
    "sec": "second",
    "s": "second",
    "millisecond": "millisecond",
    "milliseconds": "millisecond",
    "ms": "millisecond",
    "microsecond": "microsecond",
    "microseconds": "microsecond",
    "us": "microsecond",
    "decade": "decade",
    "century": "century",
    "millennium": "millennium",
}
_SECONDS = {"hour": 3600, "minute": 60, "second": 1, "millisecond": 0.001, "microsecond": 0.000001}


def _days(node: exp.Expression) -> exp.Expression:
    """Days since 1970-01-01 of a date or timestamp (the date part only)."""
    return _cast(_cast(node, "DATE"), "BIGINT")


def _extract(part: str, node: exp.Expression) -> exp.Expression:
    return exp.Extract(this=exp.var(part.upper()), expression=node)


def _date_diff(unit: str, start: exp.Expression, end: exp.Expression) -> exp.Expression:
    """DuckDB's ``date_diff``: how many ``unit`` boundaries lie between ``start`` and ``end``."""
    a, b = start, end
    if unit == "day":
        return exp.Sub(this=_days(b), expression=_days(a))
    if unit == "week":  # DuckDB: whole weeks of days, truncated toward zero
        return _cast(
            _call(
                "TRUNC",
                exp.Div(
                    this=exp.Paren(this=exp.Sub(this=_days(b), expression=_days(a))),
                    expression=_num(7),
                ),
            ),
            "BIGINT",
        )
    if unit in ("year", "decade", "century", "millennium", "quarter", "month"):
        per_year = {"quarter": 4, "month": 12}.get(unit, 1)

        def count(x: exp.Expression) -> exp.Expression:
            years: exp.Expression = _cast(_extract("year", x.copy()), "BIGINT")
            if unit in ("decade", "century", "millennium"):
                size = {"decade": 10, "century": 100, "millennium": 1000}[unit]
                return _call("DIV", years, _num(size))
            if per_year == 1:
                return years
            return exp.Paren(
                this=exp.Add(
                    this=exp.Mul(this=years, expression=_num(per_year)),
                    expression=_cast(_extract(unit, x.copy()), "BIGINT"),
                )
            )

        return exp.Sub(this=count(b), expression=count(a))
    seconds = _SECONDS[unit]

    def ticks(x: exp.Expression) -> exp.Expression:
        epoch = _extract("epoch", _cast(x.copy(), "TIMESTAMP"))
        return _call("FLOOR", exp.Div(this=epoch, expression=_num(seconds)))

    return _cast(exp.Sub(this=ticks(b), expression=ticks(a)), "BIGINT")


def date_functions(tree: exp.Expression, types: _Types) -> exp.Expression:
    """``DATE_DIFF``/``DATEDIFF`` in every unit, ``DATE(ts)``, ``DAYNAME``, ``MONTHNAME``,
    ``LAST_DAY``, ``MAKE_DATE``."""

    def fix(node: exp.Expression) -> exp.Expression:
        name, args = _name(node), node.expressions if isinstance(node, exp.Anonymous) else []
        if name in ("date_diff", "datediff") and len(args) == 3:
            part = _text(args[0]) or (
                args[0].name if isinstance(args[0], (exp.Column, exp.Var)) else None
            )
            unit = _UNITS.get((part or "").casefold())
            if unit is None:
                raise _refuse(
                    f"DATE_DIFF needs a unit in quotes, one of 'year', 'quarter', 'month', 'week', "
                    f"'day', 'hour', 'minute', 'second' (got {args[0].sql()}).",
                    "dialect",
                )
            return exp.Paren(this=_date_diff(unit, args[1], args[2]))
        if name == "date" and len(args) == 1:
            return _cast(args[0], "DATE")
        if name == "dayname" and len(args) == 1:
            return _call("STRFTIME", args[0], exp.Literal.string("%A"))
        if name == "monthname" and len(args) == 1:
            return _call("STRFTIME", args[0], exp.Literal.string("%B"))
        if name == "last_day" and len(args) == 1:
            month = _call("DATE_TRUNC", exp.Literal.string("month"), _cast(args[0], "DATE"))
            end = exp.Sub(
                this=exp.Add(
                    this=month, expression=exp.Interval(this=exp.Literal.string("1 month"))
                ),
                expression=exp.Interval(this=exp.Literal.string("1 day")),
            )
            return _cast(end, "DATE")
        if name == "make_date" and len(args) == 3:

            def pad(x: exp.Expression, width: int) -> exp.Expression:
                return _call("LPAD", _cast(x, "VARCHAR"), _num(width), exp.Literal.string("0"))

            text = _call(
                "CONCAT",
                pad(args[0], 4),
                exp.Literal.string("-"),
                pad(args[1], 2),
                exp.Literal.string("-"),
                pad(args[2], 2),
            )
            return _cast(text, "DATE")
        return node

    return _bottom_up(tree, fix)


def date_subtraction(tree: exp.Expression, types: _Types) -> exp.Expression:
    """``date - date`` gives whole days (an integer) as in DuckDB, not a duration."""

    def fix(node: exp.Expression) -> exp.Expression:
        if (
            isinstance(node, exp.Sub)
            and types.is_date(node.this)
            and types.is_date(node.expression)
        ):
            return exp.Paren(this=exp.Sub(this=_days(node.this), expression=_days(node.expression)))
        return node

    return _bottom_up(tree, fix)


def aggregates(tree: exp.Expression, types: _Types) -> exp.Expression:
    """Percentiles, approximate and boolean aggregates, arg_max / arg_min, population variance."""

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.WithinGroup) and _name(node.this) in (
            "percentile_cont",
            "percentile_disc",
        ):
            order = node.expression
            keys = order.expressions if isinstance(order, exp.Order) else []
            if len(node.this.expressions) != 1 or len(keys) != 1:
                raise _refuse(
                    "PERCENTILE_CONT/PERCENTILE_DISC take one fraction and one ORDER BY key; "
                    "or write QUANTILE_CONT(x, 0.9) / QUANTILE_DISC(x, 0.9).",
                    "dialect",
                )
            fraction = node.this.expressions[0]
            if keys[0].args.get("desc"):
                fraction = exp.Paren(this=exp.Sub(this=_num(1), expression=fraction))
            target = "QUANTILE_CONT" if _name(node.this) == "percentile_cont" else "QUANTILE_DISC"
            return _call(target, keys[0].this, fraction)
        name = _name(node)
        args = node.expressions if isinstance(node, exp.Anonymous) else []
        if name == "approx_count_distinct" and len(args) == 1:
            return exp.Count(this=exp.Distinct(expressions=[args[0]]))
        if name in ("bool_or", "bool_and") and len(args) == 1:
            agg = "MAX" if name == "bool_or" else "MIN"
            return exp.Paren(
                this=exp.GT(this=_call(agg, _cast(args[0], "INTEGER")), expression=_num(0))
            )
        if name in ("count_if", "countif") and len(args) == 1:
            return exp.Count(this=exp.Case(ifs=[exp.If(this=args[0], true=_num(1))]))
        if (
            name in ("arg_max", "argmax", "max_by", "arg_min", "argmin", "min_by")
            and len(args) == 2
        ):
            desc = name in ("arg_max", "argmax", "max_by")
            value, key = args
            # The value at the largest (smallest) key; rows without a key do not count.
            kept = exp.Case(
                ifs=[
                    exp.If(
                        this=exp.Not(this=exp.Is(this=key.copy(), expression=exp.Null())),
                        true=value,
                    )
                ]
            )
            ordered = exp.Ordered(this=key, desc=desc, nulls_first=False)
            listed = _call("ARRAY_AGG", exp.Order(this=kept, expressions=[ordered]))
            return _call("ARRAY_GET", listed, _num(1))
        if name in ("var_pop", "stddev_pop") and len(args) == 1:
            n = exp.Count(this=args[0].copy())
            var = exp.Div(
                this=exp.Mul(
                    this=_call("VAR_SAMP", args[0]),
                    expression=exp.Paren(this=exp.Sub(this=n.copy(), expression=_num(1))),
                ),
                expression=n,
            )
            return exp.Paren(this=var) if name == "var_pop" else _call("SQRT", var)
        return node

    return _bottom_up(tree, fix)


def _regex_literal(node: exp.Expression, function: str) -> str:
    pattern = _text(node)
    if pattern is None:
        raise _refuse(
            f"{function.upper()} needs its pattern as a string literal ('[0-9]+').", "dialect"
        )
    return pattern


def text_functions(tree: exp.Expression, types: _Types) -> exp.Expression:
    """Regex matching and extraction, string splitting, ``CONTAINS``, ``LEN``."""

    def fix(node: exp.Expression) -> exp.Expression:
        name = _name(node)
        args = node.expressions if isinstance(node, exp.Anonymous) else []
        if name == "regexp_matches" and len(args) in (2, 3):
            return _call("REGEXP_LIKE", *args)
        if name == "regexp_full_match" and len(args) == 2:
            pattern = _regex_literal(args[1], name)
            return _call("REGEXP_LIKE", args[0], exp.Literal.string(f"^(?:{pattern})$"))
        if name == "regexp_extract_unused" and len(args) in (2, 3):
            pattern = _regex_literal(args[1], name)
            group = _int(args[2]) if len(args) == 3 else 0
            if group is None or group < 0:
                raise _refuse(
                    "REGEXP_EXTRACT takes a group number (0, 1, 2...) as its third argument.",
                    "dialect",
                )
            if group == 0:
                pattern, group = f"({pattern})", 1
            whole = exp.Literal.string(f"(?s)^.*?(?:{pattern}).*$")
            value = args[0]
            # DuckDB gives '' when nothing matches, NULL for NULL.
            return exp.Case(
                ifs=[
                    exp.If(this=exp.Is(this=value.copy(), expression=exp.Null()), true=exp.Null()),
                    exp.If(
                        this=_call("REGEXP_LIKE", value.copy(), exp.Literal.string(pattern)),
                        true=_call(
                            "REGEXP_REPLACE", value, whole, exp.Literal.string(f"${{{group}}}")
                        ),
                    ),
                ],
                default=exp.Literal.string(""),
            )
        if name in ("string_split", "str_split", "split") and len(args) == 2:
            return _call("STRING_TO_ARRAY", *args)
        if name == "len" and len(args) == 1:
            inner = args[0]
            is_list = _name(inner) in (
                "string_to_array",
                "string_split",
                "str_split",
                "split",
                "array_agg",
            )
            return _call("ARRAY_LENGTH" if is_list else "LENGTH", inner)
        if name == "contains" and len(args) == 2:
            return exp.Paren(this=exp.GT(this=_call("STRPOS", *args), expression=_num(0)))
        return node

    return _bottom_up(tree, fix)


def round_half_away(tree: exp.Expression, types: _Types) -> exp.Expression:
    """``ROUND(x, n)`` rounds half away from zero (DuckDB), not to even (Polars on floats)."""

    def fix(node: exp.Expression) -> exp.Expression:
        if _name(node) != "round" or not 1 <= len(node.expressions) <= 2:
            return node
        value = node.expressions[0]
        digits = _int(node.expressions[1]) if len(node.expressions) == 2 else 0
        dtype = types.of(value) or ""
        if digits is None or dtype.startswith(("Int", "UInt", "Decimal")):
            return node
        scale = _num(10**digits) if digits >= 0 else _num(10.0**digits)

        def scaled() -> exp.Expression:
            return exp.Paren(this=exp.Mul(this=value.copy(), expression=scale.copy()))

        # C's round(): the whole part, plus one away from zero when the rest is at least
        # a half. y - TRUNC(y) is exact; FLOOR(y + 0.5) is not near large halves.
        whole = _call("TRUNC", scaled())
        rest = _call("ABS", exp.Sub(this=scaled(), expression=whole.copy()))
        step = exp.Mul(
            this=_call("SIGN", scaled()),
            expression=_cast(exp.GTE(this=rest, expression=_num(0.5)), "INTEGER"),
        )
        return exp.Paren(
            this=exp.Div(
                this=exp.Paren(this=exp.Add(this=whole, expression=step)), expression=scale
            )
        )

    return _bottom_up(tree, fix)


def numeric_casts(tree: exp.Expression, types: _Types) -> exp.Expression:
    """``::numeric`` / ``DECIMAL`` is DECIMAL(18, 3) as in DuckDB, and a float cast to a
    decimal rounds (half away from zero) where Polars would cut the digits off."""

    def fix(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, (exp.Cast, exp.TryCast)) or node.to.this != exp.DType.DECIMAL:
            return node
        params = node.to.expressions
        if not params:
            node.to.set(
                "expressions", [exp.DataTypeParam(this=_num(18)), exp.DataTypeParam(this=_num(3))]
            )
            params = node.to.expressions
        scale = _int(params[1].this) if len(params) > 1 else 0
        dtype = types.of(node.this) or ""
        if (
            scale is not None
            and not dtype.startswith(("Int", "UInt", "Decimal", "String"))
            and not (isinstance(node.this, exp.Literal) and node.this.is_string)
        ):
            node.set("this", round_half_away(_call("ROUND", node.this, _num(scale)), types))
        return node

    return _bottom_up(tree, fix)


def null_ordering(tree: exp.Expression, types: _Types) -> exp.Expression:
    """NULLs sort last both ways, as in DuckDB (Polars puts them first going down)."""
    for ordered in tree.find_all(exp.Ordered):
        if ordered.args.get("desc") and not ordered.meta.get("nulls_written"):
            ordered.set("nulls_first", False)
    return tree


def count_star_name(tree: exp.Expression, types: _Types) -> exp.Expression:
    """An unnamed ``count(*)`` result column is called ``count_star()``, as in DuckDB."""
    query = tree
    while isinstance(query, exp.Subquery):
        query = query.this
    selects = [query] if isinstance(query, exp.Select) else []
    if isinstance(query, exp.SetOperation):
        left = query
        while isinstance(left, exp.SetOperation):
            left = left.this
        selects = [left] if isinstance(left, exp.Select) else []
    for select in selects:
        for i, projection in enumerate(select.expressions):
            if (
                _name(projection) == "count"
                and [type(a) for a in projection.expressions] == [exp.Star]
            ) or (isinstance(projection, exp.Count) and isinstance(projection.this, exp.Star)):
                select.expressions[i].replace(
                    exp.alias_(projection.copy(), "count_star()", quoted=True)
                )
    return tree


def group_by_all(tree: exp.Expression, types: _Types) -> exp.Expression:
    """``GROUP BY ALL`` groups by every selected expression without an aggregate;
    ``ORDER BY ALL`` sorts by every selected column, left to right."""
    for select in list(tree.find_all(exp.Select)):
        group = select.args.get("group")
        if isinstance(group, exp.Group) and group.args.get("all"):
            keys = [
                _num(i + 1)
                for i, p in enumerate(select.expressions)
                if not _has_aggregate(p.unalias() if isinstance(p, exp.Alias) else p)  # type: ignore[arg-type]
            ]
            select.set("group", exp.Group(expressions=keys) if keys else None)
        order = select.args.get("order")
        if (
            isinstance(order, exp.Order)
            and len(order.expressions) == 1
            and isinstance(order.expressions[0].this, (exp.Var, exp.Column))
            and order.expressions[0].this.name.upper() == "ALL"
            and not isinstance(order.expressions[0].this, exp.Column)
        ):
            spec = order.expressions[0]
            order.set(
                "expressions",
                [
                    exp.Ordered(this=_num(i + 1), desc=spec.args.get("desc"), nulls_first=False)
                    for i in range(len(select.expressions))
                ],
            )
    return tree


_AGGREGATES = frozenset(
    [
        "count",
        "sum",
        "avg",
        "mean",
        "min",
        "max",
        "median",
        "first",
        "last",
        "string_agg",
        "array_agg",
        "listagg",
        "group_concat",
        "quantile_cont",
        "quantile_disc",
        "approx_quantile",
        "stddev",
        "stddev_samp",
        "stddev_pop",
        "var",
        "var_samp",
        "var_pop",
        "variance",
        "corr",
        "covar",
        "covar_pop",
        "covar_samp",
        "bit_and",
        "bit_or",
        "bit_xor",
        "bool_and",
        "bool_or",
        "count_if",
        "countif",
        "arg_max",
        "arg_min",
        "argmax",
        "argmin",
        "max_by",
        "min_by",
        "approx_count_distinct",
        "mode",
        "percentile_cont",
        "percentile_disc",
    ]
)


def _has_aggregate(node: exp.Expression) -> bool:
    for inner in node.walk():
        if isinstance(inner, exp.Window):
            continue
        aggregate = isinstance(inner, exp.AggFunc) or _name(inner) in _AGGREGATES  # type: ignore[arg-type]
        if aggregate and inner.find_ancestor(exp.Window) is None:
            return True
    return False


def interval_frames(tree: exp.Expression, types: _Types) -> exp.Expression:
    """``RANGE BETWEEN INTERVAL ... PRECEDING`` frames: refused with the form that works."""
    for spec in tree.find_all(exp.WindowSpec):
        if spec.args.get("kind") == "RANGE" and any(
            isinstance(spec.args.get(side), exp.Interval) for side in ("start", "end")
        ):
            raise _refuse(
                "Window frames over an interval (RANGE BETWEEN INTERVAL ... PRECEDING) are not "
                "supported. Aggregate to one row per day first and use ROWS BETWEEN 6 PRECEDING "
                "AND CURRENT ROW, or join the table to itself on "
                "b.day BETWEEN a.day - INTERVAL '6 days' AND a.day.",
                "dialect",
                form="range_interval_frame",
            )
    return tree


def pivot(tree: exp.Expression, types: _Types) -> exp.Expression:
    """``FROM src PIVOT (agg(v) FOR col IN ('a', 'b'))`` becomes one conditional aggregate
    per value, grouped by the source's other columns."""
    for source in list(tree.find_all(exp.Subquery, exp.Table)):
        pivots = source.args.get("pivots") or []
        if not pivots:
            continue
        spec = pivots[0]
        hint = (
            "PIVOT needs its values listed (FOR col IN ('a', 'b')) over a subquery that names "
            "its columns; or write SUM(CASE WHEN col = 'a' THEN v END) AS a ... GROUP BY ..."
        )
        fields = spec.args.get("fields") or []
        if (
            len(pivots) != 1
            or spec.args.get("unpivot")
            or len(fields) != 1
            or not isinstance(fields[0], exp.In)
        ):
            raise _refuse(hint, "dialect", form="pivot")
        column = fields[0].this
        values = fields[0].expressions
        aggs = spec.expressions
        if not isinstance(source, exp.Subquery) or not isinstance(source.this, exp.Select):
            raise _refuse(hint, "dialect", form="pivot")
        names = [p.alias_or_name for p in source.this.expressions]
        if not names or any(not n or n == "*" for n in names):
            raise _refuse(hint, "dialect", form="pivot")
        used = {c.name for agg in aggs for c in agg.find_all(exp.Column)} | {column.name}
        keys = [n for n in names if n not in used]
        projections: list[exp.Expression] = [exp.column(k, quoted=True) for k in keys]
        for value in values:
            label = value.alias_or_name if isinstance(value, exp.Alias) else value.name
            literal = value.this if isinstance(value, exp.Alias) else value
            for agg in aggs:
                call = agg.unalias() if isinstance(agg, exp.Alias) else agg
                cond = exp.EQ(this=column.copy(), expression=literal.copy())
                new = call.copy()
                arguments = new.expressions if isinstance(new, exp.Anonymous) else [new.this]
                if [type(a) for a in arguments] == [exp.Star]:
                    arguments[0].replace(exp.Case(ifs=[exp.If(this=cond, true=_num(1))]))
                else:
                    for arg in arguments:
                        arg.replace(exp.Case(ifs=[exp.If(this=cond.copy(), true=arg.copy())]))
                suffix = f"_{agg.alias}" if isinstance(agg, exp.Alias) and len(aggs) > 1 else ""
                projections.append(exp.alias_(new, label + suffix, quoted=True))  # type: ignore[arg-type]
        inner = source.copy()
        inner.set("pivots", None)
        alias = inner.args.get("alias")
        grouped = exp.select(*projections).from_(inner)
        if keys:
            grouped = grouped.group_by(*[exp.column(k, quoted=True) for k in keys])
        replacement = exp.Subquery(
            this=grouped, alias=alias or exp.TableAlias(this=exp.to_identifier("pivoted"))
        )
        source.replace(replacement)
    return tree


def distinct_on(tree: exp.Expression, types: _Types) -> exp.Expression:
    """``SELECT DISTINCT ON (k) ... ORDER BY k, x`` keeps each key's first row by the order,
    as ``QUALIFY ROW_NUMBER() OVER (PARTITION BY k ORDER BY k, x) = 1`` (Polars cannot sort
    DISTINCT ON by a column it does not select)."""
    for select in list(tree.find_all(exp.Select)):
        distinct = select.args.get("distinct")
        order = select.args.get("order")
        on = distinct.args.get("on") if isinstance(distinct, exp.Distinct) else None
        if on is None or order is None or select.args.get("qualify") is not None:
            continue
        keys = on.expressions if isinstance(on, exp.Tuple) else [on]
        window = exp.Window(
            this=_call("ROW_NUMBER"),
            partition_by=[k.copy() for k in keys],
            order=order.copy(),
        )
        select.set("distinct", None)
        select.set("qualify", exp.Qualify(this=exp.EQ(this=window, expression=_num(1))))
    return tree


def series_join_keys(tree: exp.Expression, types: _Types) -> exp.Expression:
    """A date ``generate_series`` makes timestamps (as in DuckDB); DuckDB joins them to a DATE
    column by casting, Polars refuses the mixed keys, so the series side is cast to DATE."""
    series: set[tuple[str, str]] = set()  # (alias, column) of date series
    for table in tree.find_all(exp.Table):
        call = table.this
        if _name(call) not in ("generate_series", "range") or not any(
            isinstance(arg, exp.Cast) and arg.to.this == exp.DType.DATE for arg in call.expressions
        ):
            continue
        alias = table.args.get("alias")
        name = alias.name if alias is not None else ""
        columns = (
            alias.columns
            if alias is not None and alias.columns
            else [exp.to_identifier(_name(call))]
        )
        series |= {(name.casefold(), c.name.casefold()) for c in columns}

    def of_series(node: exp.Expression) -> bool:
        if not isinstance(node, exp.Column):
            return False
        return any(
            node.name.casefold() == column and (not node.table or node.table.casefold() == alias)
            for alias, column in series
        )

    if not series:
        return tree
    for join in tree.find_all(exp.Join):
        on = join.args.get("on")
        for eq in on.find_all(exp.EQ) if on is not None else []:
            for mine, other in ((eq.this, eq.expression), (eq.expression, eq.this)):
                if of_series(mine) and types.is_date(other):
                    mine.replace(_cast(mine.copy(), "DATE"))
                    break
    return tree


TRANSFORMS: list[Callable[[exp.Expression, _Types], exp.Expression]] = [
    interval_frames,
    pivot,
    group_by_all,
    distinct_on,
    series_join_keys,
    date_subtraction,
    date_functions,
    aggregates,
    text_functions,
    numeric_casts,
    round_half_away,
    null_ordering,
    count_star_name,
]
"""In order: refusals first, then rewrites that read types before others change the tree."""


# -- errors ------------------------------------------------------------------------------


def closest_function(name: str) -> str | None:
    """The supported function name nearest to ``name``, or None."""
    known = sorted(POLARS_FUNCTIONS | REWRITTEN_FUNCTIONS)
    match = difflib.get_close_matches(name.casefold(), known, n=1, cutoff=0.6)
    return match[0] if match else None


# The forms the rewrites take, for a rewritten name written some other way.
FORMS = {
    "percentile_cont": "PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY x), or QUANTILE_CONT(x, 0.9)",
    "percentile_disc": "PERCENTILE_DISC(0.9) WITHIN GROUP (ORDER BY x), or QUANTILE_DISC(x, 0.9)",
    "date_diff": "DATE_DIFF('day', start, end) with the unit in quotes",
    "datediff": "DATEDIFF('day', start, end) with the unit in quotes",
    "arg_max": "ARG_MAX(value, key)",
    "arg_min": "ARG_MIN(value, key)",
    "max_by": "MAX_BY(value, key)",
    "min_by": "MIN_BY(value, key)",
    "regexp_matches": "REGEXP_MATCHES(s, 'pattern')",
    "string_split": "STRING_SPLIT(s, ',')",
    "date": "DATE(ts) or CAST(ts AS DATE)",
}


def unsupported_function(tree: exp.Expression) -> str | None:
    """A sentence about the first function in ``tree`` Polars does not know, or None."""
    for node in tree.find_all(exp.Anonymous):
        name = _name(node)
        if name in POLARS_FUNCTIONS:
            continue
        if name in REWRITTEN_FUNCTIONS:  # still here: written in a form no rewrite takes
            form = FORMS.get(name, f"{name.upper()} with its usual arguments")
            return f"{name.upper()} is not supported in this form; write {form}."
        if name in ALTERNATIVES:
            return f"Function {name.upper()} is not supported; write {ALTERNATIVES[name]} instead."
        near = closest_function(name)
        tail = f"; did you mean {near.upper()}?" if near else "."
        return f"Function {name.upper()} is not supported{tail}"
    return None


_INTERNAL = re.compile(r'col\("([^"]+)"\)(?:\.\w+(?:\.\w+)*\([^()]*\))*|_POLARS_TMP\w*')
_DTYPE_MISMATCH = re.compile(r"expected `(\w+)`, got `([^`]+)`")


def explain_error(message: str, tree: exp.Expression | None) -> str:
    """Polars' error ``message`` in words for the model and the person: the function to use
    instead of an unknown one, and no Polars-internal expressions or temporary names."""
    if message.startswith("unsupported function") and tree is not None:
        return unsupported_function(tree) or message
    mismatch = _DTYPE_MISMATCH.search(message)
    if mismatch and "_POLARS_TMP" in message:
        wanted, got = mismatch.groups()
        return (
            f"A function got a {got.split('[')[0]} value where it needs {wanted}; CAST the "
            f"column to the type the function takes (CAST(x AS DATE), CAST(x AS VARCHAR))."
        )
    return _INTERNAL.sub(lambda m: f'"{m.group(1)}"' if m.group(1) else "a computed value", message)


__all__ = [
    "ALTERNATIVES",
    "POLARS_FUNCTIONS",
    "REWRITTEN_FUNCTIONS",
    "TRANSFORMS",
    "Catalog",
    "closest_function",
    "explain_error",
    "rewrite",
    "unsupported_function",
]

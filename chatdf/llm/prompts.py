"""The system prompt, rebuilt every turn from the datasets registered now.

The dialect notes below were checked against the Polars SQL engine chatdf
ships with (polars 2.x): each "works" line ran, each "not supported" line
failed with an "unsupported" error. Keep them short: every token here is
paid on every request.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence

from ..models import Dataset
from ..privacy import SCHEMA_ONLY_PROMPT, schema_only
from .schema_view import approx_tokens, datasets_section
from .tools import CREATE_CHART, DESCRIBE_TABLE, EXECUTE_SQL, LOAD_DATASET, MAX_MODEL_ROWS

__all__ = ["DEFAULT_BUDGET_TOKENS", "quote_identifier", "system_prompt"]

DEFAULT_BUDGET_TOKENS = 16_000
"""The whole prompt's estimated size when no budget is given (``prompt_budget_tokens``)."""

_SIMPLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Words that break a query when used bare as a column name.
_RESERVED = frozenset(
    ["all", "and", "any", "as", "asc", "between", "by", "case", "cast", "create", "cross", "current_date", "current_time", "current_timestamp", "default", "delete", "desc", "distinct", "drop", "else", "end", "except", "exists", "false", "fetch", "filter", "for", "from", "full", "group", "having", "in", "inner", "insert", "intersect", "interval", "into", "is", "join", "lateral", "left", "like", "limit", "natural", "not", "null", "offset", "on", "or", "order", "outer", "over", "partition", "qualify", "right", "rows", "select", "set", "table", "then", "to", "true", "union", "update", "using", "values", "when", "where", "window", "with"]
)

_ROLE = """\
You are chatdf, a data analyst inside a Jupyter notebook. You answer questions about the \
user's datasets by querying them with SQL through the `{execute_sql}` tool, then explain \
the answer."""

_DIALECT = """\
## SQL dialect: Polars SQL (not DuckDB, not Postgres)
- One read-only statement per call: SELECT or WITH ... SELECT. No DDL, no INSERT/UPDATE/DELETE.
- Identifiers: column names are case-sensitive; wrap names with spaces, capitals you are \
unsure of, or reserved words in double quotes ("Order Date"). String literals use single \
quotes only ('abc'); "abc" is a column.
- Give every computed column an alias (SUM(amount) AS total_amount): unaliased expressions \
are named after their input column and two of them can clash ("duplicate output name").
- Works: JOIN (INNER/LEFT/RIGHT/FULL/CROSS/SEMI/ANTI, USING, NATURAL), CTEs, subqueries \
(IN, EXISTS, scalar, correlated), UNION/INTERSECT/EXCEPT, GROUP BY (names, aliases or \
positions), ROLLUP, GROUPING SETS, HAVING, QUALIFY, DISTINCT ON, SELECT * EXCLUDE (...), \
CASE, CAST and ::, TRY_CAST, COUNT(*) FILTER (WHERE ...), ORDER BY ... NULLS LAST, LIMIT/OFFSET.
- Window functions: ROW_NUMBER, RANK, DENSE_RANK, NTILE, PERCENT_RANK, CUME_DIST, LAG, LEAD, \
FIRST_VALUE, NTH_VALUE, and aggregates OVER (PARTITION BY ... ORDER BY ...), including \
ROWS BETWEEN ... frames and named WINDOW clauses. RANGE BETWEEN with offsets is not supported.
- Aggregates: COUNT, COUNT(DISTINCT), SUM, AVG, MIN, MAX, MEDIAN, QUANTILE_CONT(x, 0.9), \
QUANTILE_DISC, STDDEV, VARIANCE, CORR, STRING_AGG(x, ',' ORDER BY ...), ARRAY_AGG, FIRST, LAST.
- Dates: DATE '2024-01-31' and TIMESTAMP '2024-01-31 12:00:00' literals; EXTRACT(YEAR|QUARTER|\
MONTH|WEEK|DOW|DAY|HOUR|EPOCH FROM x), DATE_PART('month', x), YEAR(x), MONTH(x), DAY(x), \
DATE_TRUNC('month', x), STRFTIME(x, '%Y-%m'), STRPTIME(s, '%Y-%m-%d'), CAST(ts AS DATE), \
x + INTERVAL '1 month', CURRENT_DATE, NOW(), DATE_DIFF('day', a, b), date - date (days).
- Strings: || and CONCAT, CONCAT_WS, UPPER, LOWER, LENGTH, SUBSTR, LEFT, RIGHT, TRIM, REPLACE, \
SPLIT_PART, STRPOS, STARTS_WITH, LPAD, LIKE, ILIKE, REGEXP_LIKE, REGEXP_REPLACE, ~ (regex).
- Math: ROUND(x, 2), FLOOR, CEIL, ABS, SQRT, POWER, LN, LOG10, EXP, MOD and %, GREATEST, LEAST, \
COALESCE, NULLIF, IFNULL. `/` on integers returns a fraction (7/2 = 3.5); use DIV(a, b) \
for integer division.
- DuckDB forms are translated: PERCENTILE_CONT ... WITHIN GROUP, BOOL_OR, ARG_MAX, \
STRING_SPLIT + UNNEST, DESCRIBE t, SHOW TABLES, SUMMARIZE t.
- Not supported (use the alternative): TOP n (LIMIT n), REGEXP_EXTRACT (REGEXP_REPLACE, \
SPLIT_PART), RANGE BETWEEN INTERVAL frames (ROWS BETWEEN over daily rows), RANDOM, LATERAL."""

_GUIDANCE = """\
## How to work
- Query the data rather than guessing; never invent numbers. Use only the tables and columns \
listed above.
- The tool shows you at most {max_rows} rows (the user sees every row in a table under your \
answer). Aggregate in SQL to answer questions about many rows; add ORDER BY and LIMIT (e.g. \
LIMIT 20) when listing rows, and LIMIT 100 or less when exploring.
- If a query fails, read error_type and message, fix the SQL and try again; after a few \
failures, explain what went wrong instead.
- Prefer one query that answers the question over many small ones.

## Charts
- After a query, call `{create_chart}` when a picture says more than numbers: a trend over \
time (line, x temporal), a comparison across categories (bar, sorted), a distribution \
(bar with x binned and y count), a relationship between two measures (point). Not for a \
single number, one or two rows, or when the user wants a lookup or a list.
- The spec is Vega-Lite without data: `mark`, `encoding` with each field named exactly \
as a column of the result and a `type` (quantitative, temporal, nominal, ordinal), and an \
optional `title`. Prefer charting a result already aggregated in SQL (at most a few \
thousand rows); for a large result put the aggregate or bin in the encoding.
- One chart per answer; mention it in a sentence instead of describing it.

## How to answer
- Answer in markdown: a short direct answer first, then the key numbers (a small markdown \
table is fine for a few rows).
- Say in one sentence what the SQL does (the user sees the SQL itself), and mention \
assumptions you made (filters, how you treated NULLs or duplicates).
- Do not paste the SQL into the answer or repeat every row the tool returned.
- If the question cannot be answered from these datasets, say so and say what data would help."""

_NO_DATASETS = """\
## Datasets
No datasets are loaded yet. If the user gives the http(s) URL of a parquet, CSV or TSV file \
(gzip-compressed too), call `{load_dataset}` with it. Otherwise, tell them how to add data: a \
parquet/CSV URL or file path, or a DataFrame from the notebook, then ask the question again."""


_SPARK_DIALECT = """## SQL dialect: DuckDB-style SQL, run as Spark SQL on a Spark cluster
Write standard DuckDB-style SQL; chatdf translates it to Spark SQL, the engine that runs it \
on a Spark cluster. Quote names with double quotes. Prefer standard functions (COUNT, SUM, \
AVG, DATE_TRUNC, EXTRACT, CASE, window functions); the datasets can be very large, so \
aggregate and LIMIT rather than selecting every row."""

def quote_identifier(name: str) -> str:
    """``name`` as it must be written in Polars SQL (double-quoted when needed)."""
    if _SIMPLE_NAME.match(name) and name.lower() not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def system_prompt(
    datasets: Sequence[Dataset],
    *,
    today: dt.date | None = None,
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    categories: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    focus: str = "",
    privacy: str = "full",
    engine: str = "polars",
) -> str:
    """The system instruction for one turn, at most about ``budget_tokens`` long.

    Parameters
    ----------
    datasets
        The datasets registered now, in the order the user added them.
    today
        The date to state (questions like "last month" need it); default today.
    budget_tokens
        Estimated tokens the whole prompt may take; wide schemas are ranked and
        cut to fit (see :mod:`chatdf.llm.schema_view`).
    categories
        ``{table: {column: values}}`` of low-cardinality text columns to list.
    focus
        The user's question: the columns it names are listed first.
    privacy
        ``schema``: no values are listed and the model is told it sees none.
    engine
        ``polars`` or ``spark``: the dialect section names the engine the SQL runs on.
    """
    day = today or dt.date.today()
    sections = [
        _ROLE.format(execute_sql=EXECUTE_SQL),
        f"Today is {day.isoformat()} ({day:%A}).",
    ]
    dialect = _SPARK_DIALECT if engine == "spark" else _DIALECT
    tail = [dialect, _GUIDANCE.format(max_rows=MAX_MODEL_ROWS, create_chart=CREATE_CHART)]
    if schema_only(privacy):
        tail.append(SCHEMA_ONLY_PROMPT)
        categories = None
    if datasets:
        load_note = (
            f"If the user gives a new http(s) URL of a parquet, CSV or TSV file (gzip-compressed "
            f"too), call `{LOAD_DATASET}` to add it as a table."
        )
        fixed = approx_tokens("\n\n".join([*sections, load_note, *tail])) + 8
        sections.append(
            datasets_section(
                datasets,
                budget_tokens - fixed,
                quote=quote_identifier,
                categories=categories,
                focus=focus,
                describe_tool=DESCRIBE_TABLE,
            )
        )
        sections.append(load_note)
    else:
        sections.append(_NO_DATASETS.format(load_dataset=LOAD_DATASET))
    return "\n\n".join(sections + tail)

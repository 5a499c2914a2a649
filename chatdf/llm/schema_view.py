"""The model's view of the datasets: compact schemas that fit a token budget.

Every column costs tokens on every request, and twenty 600-column tables
would not fit any budget. So each table gets a header (rows, columns) and one
short line per column (``- name: type``), and when they do not all fit, the
columns are *ranked* and the budget is shared round-robin between the tables,
best columns first; each cut table ends with a note pointing at the
``describe_table`` tool, which shows any column in full.

Ranking, best first: columns the question names; then the first few columns
(tables lead with their keys), key-like names, dates and timestamps, and text
columns whose values are listed (categories); then the rest in table order.
Listed columns keep their table order.

Token counts are estimates (characters / 4), as the client estimates them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from ..models import ColumnInfo, Dataset

__all__ = ["CHARS_PER_TOKEN", "approx_tokens", "datasets_section", "short_type"]

CHARS_PER_TOKEN = 4
LEADING_COLUMNS = 8
"""Columns at the front of a table that rank high: tables usually lead with their keys."""
_KEY_LIKE = re.compile(r"(^|_)(id|key|code|name|type|status|category|kind)$|Id$|ID$", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9_]+")


def approx_tokens(text: str) -> int:
    """Estimated tokens of ``text`` (characters / 4)."""
    return len(text) // CHARS_PER_TOKEN


def short_type(column: ColumnInfo) -> str:
    """A short SQL-ish type name: int, float, decimal, text, date, timestamp, bool, list<…>, …"""
    return _short(column.dtype)


def _short(dtype: str) -> str:
    if dtype.startswith(("Int", "UInt")):
        return "int"
    if dtype.startswith("Float"):
        return "float"
    if dtype.startswith("Decimal"):
        return "decimal"
    if dtype.startswith(("String", "Utf8", "Categorical", "Enum")):
        return "text"
    if dtype.startswith("Datetime"):
        return "timestamp" if "time_zone=None" in dtype or "," not in dtype else "timestamptz"
    if dtype.startswith(("List", "Array")):
        inner = dtype[dtype.find("(") + 1 : dtype.rfind(")")] if "(" in dtype else ""
        return f"list<{_short(inner.split(',')[0])}>" if inner else "list"
    known = {"Date": "date", "Time": "time", "Boolean": "bool", "Null": "null", "Binary": "binary"}
    for prefix, short in (("Duration", "interval"), ("Struct", "struct")):
        if dtype.startswith(prefix):
            return short
    return known.get(dtype, dtype.lower())


def datasets_section(
    datasets: Sequence[Dataset],
    budget_tokens: int,
    *,
    quote: Callable[[str], str],
    categories: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    focus: str = "",
    describe_tool: str = "describe_table",
) -> str:
    """The ``## Datasets`` section, at most about ``budget_tokens`` long.

    Parameters
    ----------
    datasets
        The registered datasets, in the order the user added them.
    budget_tokens
        Estimated tokens this section may take.
    quote
        Writes a name as SQL must (see :func:`chatdf.llm.prompts.quote_identifier`).
    categories
        ``{table: {column: values}}``: text columns whose values are listed.
    focus
        The user's question: columns it names rank first.
    """
    categories = categories or {}
    budget = max(0, budget_tokens) * CHARS_PER_TOKEN
    intro = (
        "## Datasets\nEach dataset is a table. Names in double quotes must be written with the "
        f"quotes. Call `{describe_tool}` for a table's full column types, null and distinct "
        "counts, and for columns not listed here."
    )
    used = len(intro) + 1
    headers: list[str] = []
    notes: list[str] = []
    overflow: list[str] = []
    for dataset in datasets:
        header = (
            f"### {quote(dataset.name)} ({dataset.row_count:,} rows, {dataset.column_count} columns)"
        )
        # Each listed table keeps room for its cut note, given back if all its columns fit.
        note = _cut_note(dataset, dataset.column_count, describe_tool)
        rest = len(_overflow_note([quote(d.name) for d in datasets], describe_tool))
        if overflow or used + len(header) + len(note) + 3 + rest > budget:
            overflow.append(quote(dataset.name))
        else:
            headers.append(header)
            notes.append(note)
            used += len(header) + len(note) + 3
    shown = datasets[: len(headers)]
    lines = [
        _ranked_lines(d, categories.get(d.name, {}), quote, _focus_words(focus)) for d in shown
    ]
    free = budget - used
    if overflow:
        free -= len(_overflow_note(overflow, describe_tool)) + 2
    taken = [0] * len(shown)
    active = [i for i in range(len(shown)) if lines[i]]
    while active and free > 0:
        still = []
        for i in active:
            _, line = lines[i][taken[i]]
            cost = len(line) + 1
            if taken[i] + 1 == len(lines[i]):
                cost -= len(notes[i]) + 1  # the last column: the table needs no cut note
            if cost > free:
                continue
            free -= cost
            taken[i] += 1
            if taken[i] < len(lines[i]):
                still.append(i)
        active = still
    blocks = []
    for i, dataset in enumerate(shown):
        chosen = sorted(lines[i][: taken[i]])  # table order again
        block = [headers[i], *(line for _, line in chosen)]
        hidden = len(lines[i]) - taken[i]
        if hidden:
            block.append(_cut_note(dataset, hidden, describe_tool))
        blocks.append("\n".join(block))
    if overflow:
        blocks.append(_overflow_note(overflow, describe_tool))
    return intro + "\n" + "\n\n".join(blocks)


def _ranked_lines(
    dataset: Dataset,
    values: Mapping[str, Sequence[str]],
    quote: Callable[[str], str],
    focus: set[str],
) -> list[tuple[int, str]]:
    """``(position, line)`` of every column, best first."""
    ranked = []
    for position, column in enumerate(dataset.columns):
        line = f"- {quote(column.name)}: {short_type(column)}"
        listed = values.get(column.name)
        if listed:
            line += ", one of " + ", ".join(_literal(v) for v in listed)
        if column.name.lower() in focus:
            tier = 0
        elif (
            position < LEADING_COLUMNS
            or listed
            or _KEY_LIKE.search(column.name)
            or column.friendly in ("Date", "Timestamp")
        ):
            tier = 1
        else:
            tier = 2
        ranked.append((tier, position, line))
    ranked.sort()
    return [(position, line) for _, position, line in ranked]


def _focus_words(question: str) -> set[str]:
    """Lower-case words and word runs of the question (so "order date" finds "Order Date")."""
    words = [w.lower() for w in _WORD.findall(question)]
    found = set(words)
    for size in (2, 3):
        for i in range(len(words) - size + 1):
            found.add(" ".join(words[i : i + size]))
            found.add("_".join(words[i : i + size]))
    return found


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _cut_note(dataset: Dataset, hidden: int, tool: str) -> str:
    return (
        f"- … {hidden:,} more columns not listed: call {tool}(name={dataset.name!r}) for all of "
        "them, or with columns=[...] for the ones you need"
    )


def _overflow_note(names: Sequence[str], tool: str) -> str:
    return (
        f"### {len(names)} more tables (no room to list their columns; call {tool} for them)\n"
        + ", ".join(names)
    )

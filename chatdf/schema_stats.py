"""Column statistics for the schema dialog: null counts and a few sample values.

Both come from ordinary read-only queries that go through the engine, so they
pass the SQL guard and run in a worker like any other query; nothing is
computed on the kernel's event loop. Samples are short strings, bounded in
number and length, because they travel in a reply (never in synced state).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .llm.prompts import quote_identifier

if TYPE_CHECKING:
    from .session import Session

MAX_STATS_COLUMNS = 200
"""Columns given stats in one dialog; wider tables show the first ones."""
SAMPLE_ROWS = 50
"""Rows scanned for sample values."""
SAMPLES_PER_COLUMN = 3
MAX_SAMPLE_CHARS = 40


async def column_stats(session: Session, name: str) -> list[dict[str, Any]]:
    """``[{name, nulls, samples}]`` for the dataset ``name``'s first columns.

    Raises
    ------
    DatasetError
        No dataset of that name.
    QueryError
        The dataset could not be read (for example a URL that went away).
    """
    dataset = session.registry.get(name)
    columns = [c.name for c in dataset.columns][:MAX_STATS_COLUMNS]
    if not columns:
        return []
    table = quote_identifier(dataset.name)
    counts = ", ".join(f"count({quote_identifier(c)}) AS c{i}" for i, c in enumerate(columns))
    tables = session.registry.tables()
    counted = await session.engine.run(f"SELECT count(*) AS n, {counts} FROM {table}", tables)
    row = counted.slice(0, 1).row(0)
    picked = ", ".join(quote_identifier(c) for c in columns)
    sampled = await session.engine.run(f"SELECT {picked} FROM {table} LIMIT {SAMPLE_ROWS}", tables)
    frame = sampled.slice(0, SAMPLE_ROWS)
    out = []
    for i, column in enumerate(columns):
        values: list[str] = []
        for value in frame.get_column(frame.columns[i]).drop_nulls().to_list():
            text = str(value)
            text = text if len(text) <= MAX_SAMPLE_CHARS else text[: MAX_SAMPLE_CHARS - 1] + "…"
            if text not in values:
                values.append(text)
            if len(values) == SAMPLES_PER_COLUMN:
                break
        out.append({"name": column, "nulls": int(row[0]) - int(row[i + 1]), "samples": values})
    return out

"""Column profiles of the registered datasets, for the model: types, counts, a few values.

Two consumers: the ``describe_table`` tool (full types, null and distinct
counts, min/max and sample values of the columns asked for) and the system
prompt (the values of low-cardinality text columns, so that
``WHERE status = 'shipped'`` is right the first time).

Everything is computed in a query worker by ordinary SQL through
:meth:`Engine.run`, so the guard and the plan check see it like any other
query and the kernel never scans data itself. Results are cached per dataset
*version* (``TableSource.version`` changes whenever the data may have), so a
refreshed dataset or a reassigned notebook frame is profiled again.

In privacy mode ``schema`` only counts are computed: no min/max, samples or
category values are ever read for the model.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from .datasets import DatasetRegistry
from .engine import Engine
from .errors import ChatDFError, QueryError
from .models import Dataset

log = logging.getLogger("chatdf.profiles")

__all__ = ["CATEGORY_MAX_VALUES", "ColumnProfile", "Profiler"]

CATEGORY_MAX_VALUES = 12
"""A text column with at most this many distinct values lists them in the prompt."""
CATEGORY_MAX_COLUMNS = 40
"""Text columns per table whose values the prompt lists (more would not fit anyway)."""
CATEGORY_SAMPLE_ROWS = 20_000
"""Rows a table's text columns are first looked at in, to find category candidates."""
CATEGORY_MAX_CHARS = 40
"""Longer values are prose or identifiers, not categories: such a column lists none."""
SAMPLE_VALUES = 3
SAMPLE_ROWS = 200
"""Rows read to pick sample values from (the first non-null distinct ones)."""
SAMPLE_CHARS = 60
BATCH_COLUMNS = 80
"""Columns per statistics query (keeps each statement well under the guard's size limit)."""
PROMPT_PROFILE_TIMEOUT = 20.0
"""Seconds one category query for the prompt may take; slower data just lists no values."""
PROMPT_PROFILE_WAIT = 5.0
"""Seconds a turn waits for category values before asking without them (they keep coming)."""
PROFILE_CONCURRENCY = 2
"""Profile queries in flight at once (the pool's queue is shared with the user's queries)."""


class ColumnProfile(BaseModel):
    """What ``describe_table`` says about one column."""

    name: str
    type: str
    """The full Polars type, e.g. ``Datetime(time_unit='us', time_zone=None)``."""
    nulls: int | None = None
    distinct: int | None = None
    """Distinct non-null values (None for lists and structs)."""
    min: Any = None
    max: Any = None
    samples: list[str] = Field(default_factory=list)
    values: list[str] | None = None
    """Every value of a low-cardinality text column (most frequent first)."""

    def payload(self, *, schema_only: bool) -> dict[str, Any]:
        """The JSON the model reads; counts only in privacy mode ``schema``."""
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.nulls is not None:
            out["nulls"] = self.nulls
        if self.distinct is not None:
            out["distinct"] = self.distinct
        if schema_only:
            return out
        if self.values is not None:
            out["values"] = self.values
        else:
            if self.min is not None:
                out["min"] = self.min
            if self.max is not None:
                out["max"] = self.max
            if self.samples:
                out["samples"] = self.samples
        return out


class Profiler:
    """Computes and caches column profiles through the engine.

    Parameters
    ----------
    engine, registry
        The session's; profile queries read ``registry.tables()`` like any query.
    schema_only
        Privacy mode ``schema``: compute counts only, never values.
    timeout
        Seconds one ``describe_table`` query may run (default the engine's).
    """

    def __init__(
        self,
        engine: Engine,
        registry: DatasetRegistry,
        *,
        schema_only: bool = False,
        timeout: float | None = None,
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.schema_only = schema_only
        self.timeout = timeout
        self._columns: dict[tuple[str, int, str], ColumnProfile] = {}
        self._categories: dict[tuple[str, int], dict[str, list[str]]] = {}
        self._limit = asyncio.Semaphore(PROFILE_CONCURRENCY)
        self._tasks: dict[tuple[str, int], asyncio.Task[None]] = {}

    # -- describe_table -------------------------------------------------------------

    async def describe(
        self, name: str, columns: Sequence[str] | None = None
    ) -> tuple[Dataset, list[ColumnProfile]]:
        """Profiles of ``columns`` of dataset ``name`` (all when None), in table order.

        Raises
        ------
        QueryError
            ``validation`` for an unknown table or column (naming the known ones);
            the engine's errors for a query that failed.
        """
        dataset = self._dataset(name)
        wanted = self._columns_of(dataset, columns)
        version = self._version(dataset.name)
        missing = [c for c in wanted if (dataset.name, version, c) not in self._columns]
        for start in range(0, len(missing), BATCH_COLUMNS):
            batch = missing[start : start + BATCH_COLUMNS]
            for profile in await self._profile(dataset, batch):
                self._columns[(dataset.name, version, profile.name)] = profile
        return dataset, [self._columns[(dataset.name, version, c)] for c in wanted]

    # -- the prompt's category values -------------------------------------------------

    def cached_categories(self, dataset: Dataset) -> dict[str, list[str]]:
        """Category values already known for ``dataset`` (no query; {} if none)."""
        if self.schema_only:
            return {}
        try:
            version = self._version(dataset.name)
        except ChatDFError:
            return {}
        return self._categories.get((dataset.name, version), {})

    async def categories(
        self, datasets: Sequence[Dataset], *, wait: float | None = None
    ) -> dict[str, dict[str, list[str]]]:
        """``{table: {column: values}}`` for the low-cardinality text columns of ``datasets``.

        Computed once per dataset version; a dataset whose query fails or is too
        slow lists no values (the prompt works without them). Nothing in privacy
        mode ``schema``. With ``wait``, returns after that many seconds with what
        is known; the rest goes on in the background for the next turn.
        """
        if self.schema_only:
            return {}
        tasks = [self._category_task(d) for d in datasets]
        pending = [t for t in tasks if t is not None and not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=wait)
        return {d.name: self.cached_categories(d) for d in datasets}

    def _category_task(self, dataset: Dataset) -> asyncio.Task[None] | None:
        try:
            key = (dataset.name, self._version(dataset.name))
        except ChatDFError:
            return None
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(self._ensure_categories(dataset))
            self._tasks[key] = task
        return task

    async def _ensure_categories(self, dataset: Dataset) -> None:
        try:
            version = self._version(dataset.name)
        except ChatDFError:
            return
        key = (dataset.name, version)
        if key in self._categories:
            return
        self._categories[key] = {}  # also the answer if this fails: no retry every turn
        text = [c.name for c in dataset.columns if c.friendly == "Text"]
        if not text or dataset.row_count == 0:
            return
        try:
            # Candidates from a sample (cheap on big tables), then exact values from the
            # whole table for those only; a candidate with too many values drops out.
            candidates: list[str] = []
            for start in range(0, len(text), BATCH_COLUMNS):
                batch = text[start : start + BATCH_COLUMNS]
                columns = ", ".join(_q(c) for c in batch)
                sample = f"(SELECT {columns} FROM {_q(dataset.name)} LIMIT {CATEGORY_SAMPLE_ROWS}) AS \"sample\""
                counts = ", ".join(_distinct_count(c, i) for i, c in enumerate(batch))
                [row] = await self._rows(f"SELECT {counts} FROM {sample}", PROMPT_PROFILE_TIMEOUT)
                candidates += [c for i, c in enumerate(batch) if 0 < (row[f"u{i}"] or 0) <= CATEGORY_MAX_VALUES]
                if len(candidates) >= CATEGORY_MAX_COLUMNS:
                    break
            candidates = candidates[:CATEGORY_MAX_COLUMNS]
            if candidates:
                self._categories[key] = await self._values(dataset.name, candidates, PROMPT_PROFILE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - values are a nicety; the prompt goes without
            log.debug("No category values for %s: %s", dataset.name, exc)

    # -- queries ----------------------------------------------------------------------

    async def _profile(self, dataset: Dataset, names: list[str]) -> list[ColumnProfile]:
        schema = dataset.schema
        table = _q(dataset.name)
        parts = ['COUNT(*) AS "n"']
        for i, name in enumerate(names):
            dtype = schema[name].dtype
            column = _q(name)
            parts.append(f'COUNT({column}) AS "c{i}"')
            if _hashable(dtype):
                parts.append(_distinct_count(name, i))
            if not self.schema_only and _orderable(dtype):
                parts.append(f'MIN({column}) AS "lo{i}", MAX({column}) AS "hi{i}"')
        [row] = await self._rows(f"SELECT {', '.join(parts)} FROM {table}", self.timeout)
        profiles = []
        for i, name in enumerate(names):
            profiles.append(
                ColumnProfile(
                    name=name,
                    type=schema[name].dtype,
                    nulls=row["n"] - row[f"c{i}"],
                    distinct=row.get(f"u{i}"),
                    min=_plain(row.get(f"lo{i}")),
                    max=_plain(row.get(f"hi{i}")),
                )
            )
        if self.schema_only:
            return profiles
        small = [
            p.name
            for p in profiles
            if schema[p.name].friendly == "Text" and p.distinct is not None and 0 < p.distinct <= CATEGORY_MAX_VALUES
        ]
        values = await self._values(dataset.name, small, self.timeout) if small else {}
        samples = await self._samples(dataset.name, [p.name for p in profiles if p.name not in values])
        return [
            p.model_copy(
                update={"values": values.get(p.name), "samples": samples.get(p.name, [])}
            )
            for p in profiles
        ]

    async def _values(self, table: str, names: list[str], timeout: float | None) -> dict[str, list[str]]:
        """Every non-null value of each column that has at most CATEGORY_MAX_VALUES of them,
        most frequent first (columns with more, or with long values, are left out)."""
        keep = CATEGORY_MAX_VALUES + 1  # one more than a category may have: "too many"
        selects = [
            f'SELECT * FROM (SELECT {i} AS "k", CAST({_q(name)} AS VARCHAR) AS "v", COUNT(*) AS "n" '
            f"FROM {_q(table)} WHERE {_q(name)} IS NOT NULL GROUP BY {_q(name)} "
            f'ORDER BY "n" DESC LIMIT {keep}) AS "s{i}"'
            for i, name in enumerate(names)
        ]
        rows = await self._rows(" UNION ALL ".join(selects), timeout)
        rows.sort(key=lambda r: (r["k"], -r["n"], r["v"]))
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(names[row["k"]], []).append(row["v"])
        # Long values are prose or ids, not categories worth a place in the prompt.
        return {
            name: values
            for name, values in found.items()
            if len(values) <= CATEGORY_MAX_VALUES and all(len(v) <= CATEGORY_MAX_CHARS for v in values)
        }

    async def _samples(self, table: str, names: list[str]) -> dict[str, list[str]]:
        if not names:
            return {}
        columns = ", ".join(_q(n) for n in names)
        rows = await self._rows(f"SELECT {columns} FROM {_q(table)} LIMIT {SAMPLE_ROWS}", self.timeout)
        samples: dict[str, list[str]] = {}
        for name in names:
            seen: list[str] = []
            for row in rows:
                value = row.get(name)
                if value is None:
                    continue
                text = _sample_text(value)
                if text not in seen:
                    seen.append(text)
                if len(seen) == SAMPLE_VALUES:
                    break
            samples[name] = seen
        return samples

    async def _rows(self, sql: str, timeout: float | None) -> list[dict[str, Any]]:
        async with self._limit:
            result = await self.engine.run(sql, self.registry.tables(), timeout=timeout)
        try:
            return result.data.to_dicts()
        finally:
            result.release()

    # -- names -------------------------------------------------------------------------

    def _dataset(self, name: str) -> Dataset:
        try:
            return self.registry.get(name)
        except ChatDFError:
            known = ", ".join(d.name for d in self.registry.datasets) or "none"
            raise QueryError(f"No table named {name!r}. Tables: {known}.", "validation") from None

    def _version(self, name: str) -> int:
        try:
            return self.registry.tables()[name].version
        except KeyError:
            raise QueryError(f"No table named {name!r}.", "validation") from None

    @staticmethod
    def _columns_of(dataset: Dataset, columns: Sequence[str] | None) -> list[str]:
        if columns is None:
            return [c.name for c in dataset.columns]
        by_lower = {c.name.lower(): c.name for c in dataset.columns}
        wanted, unknown = [], []
        for column in columns:
            name = column if column in dataset.schema else by_lower.get(str(column).lower())
            if name is None:
                unknown.append(str(column))
            elif name not in wanted:
                wanted.append(name)
        if unknown:
            raise QueryError(
                f"Table {dataset.name} has no column(s) {', '.join(map(repr, unknown))}. "
                "Call describe_table without columns to list them all.",
                "validation",
            )
        return wanted


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _distinct_count(name: str, i: int) -> str:
    return f'COUNT(DISTINCT {_q(name)}) AS "u{i}"'


_UNORDERED = ("List", "Array", "Struct", "Object", "Null", "Binary")


def _hashable(dtype: str) -> bool:
    return not dtype.startswith(("List", "Array", "Struct", "Object"))


def _orderable(dtype: str) -> bool:
    return not dtype.startswith(_UNORDERED) and dtype not in ("Boolean", "Categorical")


def _plain(value: Any) -> Any:
    """A JSON-friendly min/max (dates and decimals as text)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _sample_text(value)


def _sample_text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, (dt.date, dt.time)):
        text = value.isoformat()
    else:
        text = str(value)
    return text if len(text) <= SAMPLE_CHARS else text[: SAMPLE_CHARS - 1] + "…"

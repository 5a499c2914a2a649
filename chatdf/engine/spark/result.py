"""A query result that stays on the cluster.

The kernel holds the Connect DataFrame (a plan, no rows), its row count and
its first rows (for the model, previews and the grid's first page). Other
pages run on the cluster: sort, offset and limit there, one page back as
Arrow. ``export`` pulls rows only when asked, capped by
``CHATDF_EXPORT_MAX_ROWS``, with a progress bar.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl
from pydantic import PrivateAttr

from ...errors import ChatDFError, ExportError, QueryError
from ...models import QueryResult
from .progress import ProgressBar

if TYPE_CHECKING:
    from .engine import SparkEngine

HEAD_ROWS = 200
"""Rows fetched with the result: what the model reads, previews, the grid's first page."""


class SparkResult(QueryResult):
    """A :class:`~chatdf.models.QueryResult` whose rows live on the Spark cluster."""

    _df: Any = PrivateAttr(default=None)
    _engine: Any = PrivateAttr(default=None)
    _spark_sql: str = PrivateAttr(default="")
    _counts: dict[str, int] = PrivateAttr(default_factory=dict)
    """Row counts of the grid's filtered views, by filters (each is a job on the cluster)."""

    @classmethod
    def on_cluster(
        cls, engine: SparkEngine, df: Any, head: pl.DataFrame, spark_sql: str, **values: Any
    ) -> SparkResult:
        result = cls(data=head, **values)  # type: ignore[call-arg]
        result._df, result._engine, result._spark_sql = df, engine, spark_sql
        return result

    @property
    def remote(self) -> bool:
        return True

    @property
    def frame(self) -> Any:
        """The Spark Connect DataFrame (a plan on the cluster)."""
        return self._df

    @property
    def spark_sql(self) -> str:
        """The Spark SQL that ran (generated from the guarded query)."""
        return self._spark_sql

    @property
    def data(self) -> pl.DataFrame:
        """Every row, pulled from the cluster (capped by ``CHATDF_EXPORT_MAX_ROWS``)."""
        head = self._frame
        assert head is not None
        if self.total_rows <= head.height:
            return head
        return self.export("polars")

    @property
    def nbytes(self) -> int:
        """Only the head is held in the kernel; the rest costs nothing here."""
        return int(self._frame.estimated_size()) if self._frame is not None else 0

    def slice(self, offset: int, length: int) -> pl.DataFrame:
        head = self._frame
        assert head is not None
        if offset + length <= head.height or self.total_rows <= head.height:
            return head.slice(offset, length)
        raise QueryError(
            "Rows past the first ones of a Spark result are paged on the cluster (the grid does "
            'this), or exported with chat.export(..., to="spark").',
            "validation",
            details={"reason": "remote_result"},
        )

    def head(self, rows: int) -> pl.DataFrame:
        return self.slice(0, min(rows, self._frame.height if self._frame is not None else 0))

    def take(self, rows: pl.Series) -> pl.DataFrame:
        raise QueryError("Spark results are paged on the cluster.", "validation")

    def release(self) -> None:
        self._df = None

    # -- RemoteRows -------------------------------------------------------------

    async def page_rows(
        self, offset: int, limit: int, sort: list[tuple[int, bool]], where: Any = None
    ) -> tuple[pl.DataFrame, int]:
        """A page sorted and filtered on the cluster; ``where`` is the grid's checked
        filters (:class:`chatdf.result_tools.CheckedFilter`), counted there too."""
        head = self._frame
        assert head is not None
        filters = list(where or [])
        if not sort and not filters and offset + limit <= head.height:
            return head.slice(max(0, offset), limit), self.total_rows
        df = self._alive()
        names = df.columns
        engine = self._engine
        key = repr(filters)

        def page(_session: Any) -> tuple[pl.DataFrame, int]:
            from pyspark.sql import functions as F

            view = df
            if filters:
                view = view.filter(_spark_condition(F, names, filters))
            total = self._counts.get(key)
            if total is None:
                total = self._counts[key] = view.count() if filters else self.total_rows
            if sort:
                keys = [
                    (F.col(_quoted(names[i])).desc_nulls_last() if desc else F.col(_quoted(names[i])).asc_nulls_last())
                    for i, desc in sort
                ]
                view = view.orderBy(*keys)
            start = max(0, min(offset, total))
            return _to_polars(view.offset(start).limit(limit).toArrow()), total

        return await engine.connection.call(page, timeout=engine.timeout, what="The page")

    def export(self, to: str) -> Any:
        """``polars`` / ``pandas`` rows (with a progress bar), or the Connect DataFrame for ``spark``."""
        if to == "spark":
            return self._alive()
        if to == "lazy":
            raise ChatDFError(
                'Spark results have no lazy export: use to="spark" for the Spark DataFrame '
                "(it stays live on the cluster), or to=\"polars\" for the rows.",
                details={"reason": "lazy_on_spark"},
            )
        if to not in ("polars", "pandas"):
            raise ChatDFError(
                f"Unknown export target {to!r}; use one of: polars, pandas, spark.", details={"to": to}
            )
        cap = self._engine.settings.export_max_rows
        if self.total_rows > cap:
            raise ExportError(
                f"This result has {self.total_rows:,} rows, more than CHATDF_EXPORT_MAX_ROWS={cap:,} "
                'brought into the kernel. Aggregate it in SQL, raise the cap, or use to="spark".',
                details={"reason": "too_large", "rows": self.total_rows, "cap": cap},
            )
        df = self._alive()
        bar = ProgressBar(f"Fetching {self.total_rows:,} rows from Spark")

        def pull(session: Any) -> pl.DataFrame:
            session.registerProgressHandler(bar)
            try:
                return _to_polars(df.toArrow())
            finally:
                session.removeProgressHandler(bar)

        connection = self._engine.connection
        frame = connection.guarded(lambda: pull(connection.session()))
        bar.rows(frame.height)
        return frame.to_pandas() if to == "pandas" else frame

    def code(self) -> str:
        return self._engine.code_for(self)

    def cancel(self) -> None:
        if self._engine is not None:
            self._engine.interrupt_all()

    def _alive(self) -> Any:
        if self._df is None:
            raise QueryError(
                f"Result {self.id} is no longer kept; run its SQL again.", "validation",
                details={"reason": "evicted", "sql": self.sql},
            )
        return self._df


def _spark_condition(F: Any, names: list[str], filters: list[Any]) -> Any:
    """The grid's checked filters as one Spark column (AND), with Polars' meanings: a
    comparison with null is false, ``contains`` is case-insensitive text search."""
    combined = None
    for spec in filters:
        column = F.col(_quoted(names[spec.position]))
        if spec.op == "is_null":
            condition = column.isNull()
        elif spec.op == "not_null":
            condition = column.isNotNull()
        else:
            if spec.op == "contains":
                test = F.lower(column.cast("string")).contains(spec.value)
            else:
                value = F.lit(spec.value)
                test = {
                    "eq": column == value,
                    "ne": column != value,
                    "gt": column > value,
                    "ge": column >= value,
                    "lt": column < value,
                    "le": column <= value,
                }[spec.op]
            condition = F.coalesce(test, F.lit(False))
        combined = condition if combined is None else combined & condition
    return combined


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _to_polars(table: Any) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame

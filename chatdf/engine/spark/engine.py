"""The Spark Connect engine: guarded SQL runs on the cluster, results stay there.

::

    SparkEngine.run(sql, tables)
      guard(sql)            the same read-only check as the Polars engine
      to_spark_sql(tree)    sqlglot generates Spark SQL from the checked tree
      spark.sql(text)       a plan on the cluster, under a tag (Stop interrupts it there)
      check_plan(explain)   the analyzed plan reads registered views only
      count + first rows    the handle: a SparkResult
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from ...errors import DatasetError, QueryError
from ...models import Dataset, QueryResult, SourceKind, TableSource
from ...settings import Settings
from ..sqlguard import guard
from .connection import Connection
from .dialect import to_spark_sql
from .plancheck import check_plan
from .registry import SparkRegistry, columns_of_spark
from .result import HEAD_ROWS, SparkResult

log = logging.getLogger("chatdf.engine.spark")


class SparkEngine:
    """Implements :class:`chatdf.engine.base.QueryEngine` on a Spark Connect server.

    Parameters
    ----------
    settings
        Uses ``spark_remote``, ``query_timeout``, ``spark_upload_max_mb``,
        ``spark_model_loads`` and ``export_max_rows``.
    """

    def __init__(self, settings: Settings) -> None:
        if not settings.spark_remote:
            from ...errors import ConfigError

            raise ConfigError(
                'engine="spark" needs the server: spark_remote="sc://host:15002" or CHATDF_SPARK_REMOTE.',
                details={"reason": "invalid_setting"},
            )
        self.settings = settings
        self.registry = SparkRegistry(settings, self)
        self.connection = Connection(settings.spark_remote, on_connect=self.registry.recreate_all)
        self._closed = False

    @property
    def timeout(self) -> float:
        return self.settings.query_timeout

    @property
    def closed(self) -> bool:
        return self._closed

    # -- QueryEngine ------------------------------------------------------------------

    async def run(
        self,
        sql: str,
        tables: Mapping[str, TableSource],
        *,
        timeout: float | None = None,
        catalog: Mapping[str, Mapping[str, str]] | None = None,
    ) -> QueryResult:
        """Guard, transpile, plan-check and run ``sql`` on the cluster.

        Raises
        ------
        QueryError
            ``validation`` (the guard or the plan check refused it), ``sql``
            (Spark refused or failed it), ``network`` (the server could not be
            reached; the next call reconnects), ``timeout``, ``cancelled``.
        """
        if self._closed:
            raise QueryError("This query engine is closed; start a new session.", "cancelled")
        # dialect=False: the tree stays DuckDB-flavoured (no Polars rewrites); sqlglot makes Spark SQL.
        # No catalog: DESCRIBE / SUMMARIZE are answered with Polars-only SQL, so they are refused
        # here (validation) rather than failing on the cluster.
        guarded = guard(sql, tables.keys(), dialect=False)
        text = to_spark_sql(guarded.tree)
        views = list(tables.keys())
        started = time.perf_counter()

        def work(session: Any) -> tuple[Any, Any, pl.DataFrame, int]:
            df = session.sql(text)
            check_plan(df._explain_string(mode="extended"), views)
            columns = columns_of_spark(df)
            head = pl.from_arrow(df.limit(HEAD_ROWS).toArrow())
            assert isinstance(head, pl.DataFrame)
            total = head.height if head.height < HEAD_ROWS else int(df.count())
            return df, columns, head, total

        limit = self.timeout if timeout is None else float(timeout)
        df, columns, head, total = await self.connection.call(work, timeout=limit)
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.debug("spark query %.1f ms (%d rows): %s", elapsed_ms, total, text)
        return SparkResult.on_cluster(
            self,
            df,
            head,
            text,
            sql=sql.strip(),
            columns=columns,
            total_rows=total,
            elapsed_ms=elapsed_ms,
            tables=guarded.tables,
        )

    async def close(self) -> None:
        self.close_now()

    def close_now(self) -> None:
        if not self._closed:
            self._closed = True
            self.connection.close()

    # -- datasets -------------------------------------------------------------------------

    async def register(
        self, name: str, build: Callable[[Any], Any], kind: SourceKind, label: str
    ) -> Dataset:
        """Create the temporary view ``name`` on the cluster; its schema and row count."""

        def work(session: Any) -> Dataset:
            df = build(session)
            df.createOrReplaceTempView(name)
            columns = columns_of_spark(df)
            rows = int(df.count())
            return Dataset(
                name=name,
                source=label,
                kind=kind,
                row_count=rows,
                column_count=len(columns),
                columns=columns,
            )

        try:
            return await self.connection.call(work, timeout=self.timeout, what="Reading the dataset")
        except QueryError as exc:
            if exc.error_type == "network":
                raise
            raise DatasetError(
                f"Spark could not read {label}: {exc.message.removeprefix('Spark refused or failed the query: ')}",
                details={"reason": "unreadable", "source": label},
            ) from None

    def drop_view_soon(self, name: str) -> None:
        session = self.connection._session
        if session is not None:
            try:
                session.catalog.dropTempView(name)
            except Exception as exc:  # noqa: BLE001 - unreachable: the view dies with the session
                log.debug("dropping view %s failed: %s", name, exc)

    def interrupt_all(self) -> None:
        session = self.connection._session
        if session is not None:
            try:
                session.interruptAll()
            except Exception as exc:  # noqa: BLE001
                log.debug("interruptAll failed: %s", exc)

    # -- code -------------------------------------------------------------------------------

    def code_for(self, result: SparkResult) -> str:
        """PySpark code that reproduces ``result`` on the same server, without chatdf."""
        lines = [
            "from pyspark.sql import SparkSession",
            "",
            f"spark = SparkSession.builder.remote({self.settings.spark_remote!r}).getOrCreate()",
        ]
        for name in result.tables:
            lines += self.registry.view_code(name)
        lines += ["", f"result = spark.sql({result.spark_sql!r})", "result"]
        return "\n".join(lines) + "\n"



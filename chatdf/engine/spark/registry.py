"""Datasets under the Spark engine: temporary views on the cluster's session.

``chat.add`` registers a view over the source *as the cluster reads it*
(parquet or CSV, local paths the cluster can see, ``s3a://``, ``gs://``,
``abfss://``, globs), or uploads a notebook frame through Arrow (at most
``CHATDF_SPARK_UPLOAD_MAX_MB``), or names a Spark Connect DataFrame. Row count
and schema come from the cluster. Views are recreated after a reconnect.

It offers the same methods the session, controller and widget use on
:class:`chatdf.datasets.DatasetRegistry`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from ...datasets import is_frame, name_from_source, validate_name
from ...errors import DatasetError
from ...models import ColumnInfo, Dataset, SourceKind, TableSource
from ...settings import Settings

if TYPE_CHECKING:
    from .engine import SparkEngine

_REMOTE_SCHEMES = ("s3a://", "s3://", "gs://", "abfss://", "abfs://", "wasbs://", "hdfs://", "file:", "dbfs:/")


@dataclasses.dataclass
class _View:
    dataset: Dataset
    build: Callable[[Any], Any]
    """session -> DataFrame: how to make the view again (after a reconnect)."""
    code: list[str]
    """PySpark lines that register the view (for ``chat.code``)."""
    version: int = 0
    """Changes on refresh, so cached profiles of the view are recomputed."""


@dataclasses.dataclass(frozen=True)
class _ViewSource:
    """What callers of ``tables()`` read of a view: its name and data version."""

    name: str
    version: int


class SparkRegistry:
    """Registered datasets as temporary views on the Spark Connect session."""

    def __init__(self, settings: Settings, engine: SparkEngine) -> None:
        self._settings = settings
        self._engine = engine
        self._views: dict[str, _View] = {}

    # -- what the session, controller and widget read ---------------------------------

    @property
    def datasets(self) -> list[Dataset]:
        return [v.dataset for v in self._views.values()]

    def tables(self) -> Mapping[str, TableSource]:
        # The guard needs the names, the profiler a version; the views live on the cluster.
        return {name: _ViewSource(name, v.version) for name, v in self._views.items()}  # type: ignore[misc]

    def catalog(self) -> dict[str, dict[str, str]]:
        """Column names and types of every view (DESCRIBE, SHOW TABLES and the guard read it)."""
        return {d.name: {c.name: c.dtype for c in d.columns} for d in self.datasets}

    def get(self, name: str) -> Dataset:
        return self._view(name).dataset

    def view_code(self, name: str) -> list[str]:
        return self._view(name).code

    def __len__(self) -> int:
        return len(self._views)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in {n.lower() for n in self._views}

    def attach_namespace(self, namespace: Any) -> None:
        return None  # notebook variables are uploaded only when added explicitly

    async def sync_notebook(self, *, changed_frames: bool = True) -> list[str]:
        return []

    def provenance(self, name: str) -> Any:
        raise DatasetError("Spark datasets are views on the cluster; use chat.code() for PySpark code.")

    def close(self) -> None:
        self._views.clear()

    # -- adding --------------------------------------------------------------------------

    async def add(
        self,
        source: Any,
        name: str | None = None,
        *,
        allow_private: bool = False,
        urls_only: bool = False,
    ) -> Dataset:
        """Register ``source`` as a temporary view named ``name`` on the cluster."""
        if urls_only and not self._settings.spark_model_loads:
            raise DatasetError(
                "Loading datasets from the chat is off with the Spark engine: the cluster reads "
                "outside chatdf's egress guard. Add the data with chat.add(...), or set "
                "CHATDF_SPARK_MODEL_LOADS=1.",
                details={"reason": "model_loads_off"},
            )
        if len(self._views) >= self._settings.max_datasets:
            raise DatasetError(
                f"At most {self._settings.max_datasets} datasets per session; remove one first.",
                details={"reason": "too_many"},
            )
        name = validate_name(name) if name is not None else self._default_name(source)
        if name in self:
            raise DatasetError(f"A dataset named {name!r} exists already.", details={"reason": "duplicate"})
        build, kind, label, code = self._recipe(source, name)
        dataset = await self._engine.register(name, build, kind, label)
        self._views[name] = _View(dataset, build, code)
        return dataset

    async def add_variable(self, variable: str, name: str | None = None) -> Dataset:
        raise DatasetError(
            "Following notebook variables is not available with the Spark engine; "
            "pass the frame itself: chat.add(frame, name=...).",
            details={"reason": "unsupported_on_spark"},
        )

    def remove(self, name: str) -> None:
        view = self._view(name)
        del self._views[view.dataset.name]
        self._engine.drop_view_soon(view.dataset.name)

    def rename(self, old: str, new: str) -> Dataset:
        raise DatasetError("Renaming is not available with the Spark engine; add the source again.")

    async def refresh(self, name: str) -> Dataset:
        view = self._view(name)
        d = view.dataset
        dataset = await self._engine.register(d.name, view.build, d.kind, d.source)
        view.dataset = dataset
        view.version += 1
        return dataset

    def recreate_all(self, session: Any) -> None:
        """Register every view again on a new session (after a reconnect; blocking)."""
        for name, view in self._views.items():
            try:
                view.build(session).createOrReplaceTempView(name)
            except Exception:  # noqa: BLE001 - a source gone since: its queries say so
                continue

    # -- sources ------------------------------------------------------------------------

    def _recipe(self, source: Any, name: str) -> tuple[Callable[[Any], Any], SourceKind, str, list[str]]:
        if _is_connect_frame(source):
            return (lambda _s, df=source: df), "frame", "<Spark DataFrame>", [
                f"# {name}: a Spark DataFrame of your own",
            ]
        if is_frame(source):
            table = _arrow_of(source)
            cap = self._settings.spark_upload_max_mb
            if table.nbytes > cap * 2**20:
                raise DatasetError(
                    f"This frame is {table.nbytes / 2**20:,.0f} MB in Arrow, more than "
                    f"CHATDF_SPARK_UPLOAD_MAX_MB={cap} uploaded to the cluster. Write it to storage "
                    "the cluster reads (parquet) and add that path, or raise the cap.",
                    details={"reason": "too_large", "mb": round(table.nbytes / 2**20, 1), "cap_mb": cap},
                )
            return (lambda s: s.createDataFrame(table)), "frame", "<DataFrame>", [
                f"{name}_df = spark.createDataFrame({name}_frame.to_arrow())  # your notebook frame",
                f"{name}_df.createOrReplaceTempView({name!r})",
            ]
        if isinstance(source, Path):
            source = str(source)
        if not isinstance(source, str) or not source.strip():
            raise DatasetError(
                f"Cannot add a {type(source).__name__}: give a parquet/CSV path or URL the cluster "
                "can read, a polars/pandas DataFrame, or a Spark DataFrame.",
                details={"reason": "unsupported_source"},
            )
        location = source.strip()
        if location.startswith(("http://", "https://")):
            raise DatasetError(
                "Spark reads object storage (s3a://, gs://, abfss://) and paths it can see, not "
                "http(s) URLs. Copy the file to storage the cluster reads, or use the Polars engine.",
                details={"reason": "http_on_spark"},
            )
        if not location.startswith(_REMOTE_SCHEMES):
            location = os.path.abspath(os.path.expanduser(location))
        fmt = _format_of(location)
        if fmt == "csv":
            sep = "\t" if re.search(r"\.tsv(\.gz)?$", location, re.I) else ","

            def build(s: Any, location: str = location, sep: str = sep) -> Any:
                return s.read.options(header=True, inferSchema=True, sep=sep).csv(location)

            code = [
                f"spark.read.options(header=True, inferSchema=True, sep={sep!r}).csv({location!r})"
                f".createOrReplaceTempView({name!r})"
            ]
            return build, "csv", location, code
        return (lambda s, location=location: s.read.parquet(location)), "parquet", location, [
            f"spark.read.parquet({location!r}).createOrReplaceTempView({name!r})"
        ]

    def _default_name(self, source: Any) -> str:
        base = name_from_source(source) if not _is_connect_frame(source) else None
        base = base or "df"
        name, n = base, 1
        while name in self:
            n += 1
            name = f"{base}_{n}"
        return name

    def _view(self, name: str) -> _View:
        for key, view in self._views.items():
            if key.lower() == name.lower():
                return view
        raise DatasetError(f"No dataset named {name!r}.", details={"reason": "unknown_dataset"})


def columns_of_spark(df: Any) -> list[ColumnInfo]:
    """The columns of a Connect DataFrame, typed as Polars would read its Arrow."""
    try:
        from pyspark.sql.pandas.types import to_arrow_schema

        schema = to_arrow_schema(df.schema)
        empty = schema.empty_table()
    except Exception:  # noqa: BLE001 - types Arrow cannot map: ask the cluster for zero rows
        empty = df.limit(0).toArrow()
    frame = pl.from_arrow(empty)
    assert isinstance(frame, pl.DataFrame)
    return [ColumnInfo.from_polars(n, t) for n, t in frame.schema.items()]


def _format_of(location: str) -> str:
    lowered = location.lower()
    if re.search(r"\.(csv|tsv)(\.gz)?$", lowered) or lowered.endswith("*.csv"):
        return "csv"
    return "parquet"


def _is_connect_frame(value: Any) -> bool:
    return type(value).__module__.startswith("pyspark.sql") and hasattr(value, "createOrReplaceTempView")


def _arrow_of(frame: Any) -> Any:
    import pyarrow as pa

    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    if isinstance(frame, pl.DataFrame):
        return frame.to_arrow(compat_level=pl.CompatLevel.oldest())
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except Exception as exc:  # noqa: BLE001
        raise DatasetError(f"This frame could not be converted to Arrow: {exc}") from None



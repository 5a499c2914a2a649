"""The dataset registry: URLs, local files and notebook frames, validated and named.

A source becomes a :class:`~chatdf.models.Dataset` only after every check
passed, so a failed :meth:`DatasetRegistry.add` leaves the registry as it was.

- http(s) URL: fetched only through :class:`chatdf.net.Egress`, which checks
  the scheme and the address it actually connects to on every hop and
  redirect. A HEAD, then a ranged GET of the first bytes: the ``PAR1`` magic
  only for a ``.parquet`` name, else the first MiB, which says what the file
  is (:mod:`chatdf.csvsniff`: parquet by its magic, or CSV/TSV, maybe gzip,
  with its separator). Parquet: schema and row count from the footer, read by
  Polars through the session's :class:`chatdf.net.EgressProxy`, whose
  location for the URL is what workers and lazy exports scan; they never
  contact the real host. CSV: the rows are counted in one streamed GET through
  the egress, bounded by ``settings.query_timeout``, and that GET is kept in
  ``workdir`` (up to ``download_limit``) as the local CSV the workers scan;
  a larger one is scanned through the proxy (when its server honours byte
  ranges). The column types are inferred by Polars from the whole records of
  the first MiB, with the same arguments every later scan uses.
- Local path or glob: parquet or CSV by extension, parquet files checked for
  their magic bytes; row counts from parquet metadata or a lazy CSV count.
- polars DataFrame/LazyFrame, pandas DataFrame, pyarrow Table: written once
  to an uncompressed Arrow IPC file in the session's ``workdir`` so worker
  processes memory-map it instead of receiving a pickle with every query.

Notebook frames stay live. A frame can follow a notebook *variable*
(:meth:`DatasetRegistry.add_variable`, or :meth:`~DatasetRegistry.add` of an
object that exactly one variable of the attached namespace holds). At query
time, looking its name up in :meth:`~DatasetRegistry.tables` compares the
variable's object (identity) and a fingerprint of its content (shape, schema,
row hashes) with what was last written, and writes a new IPC file with a new
version only when they differ. With ``settings.namespace_tables``,
:meth:`~DatasetRegistry.sync_notebook` also offers every DataFrame variable.

Blocking work (DNS, HTTP, file scans, IPC writes) runs in threads with
timeouts, so the caller's event loop never waits on it. The one exception is
writing a changed notebook frame again at query time: a memory-to-disk copy
done on the caller's thread, so two queries can never write the same frame
at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import hashlib
import itertools
import keyword
import logging
import os
import re
import sys
import threading
import time
import unicodedata
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import polars as pl

from .csvsniff import PREFIX_BYTES, CsvLayout, count_rows, is_parquet, sniff_csv
from .errors import DatasetError
from .models import CsvOptions, Dataset, SourceKind, TableSource, columns_of
from .net import MAX_REDIRECTS, Egress, EgressError, EgressProxy, egress_failure, is_url
from .net.egress import EgressResponse
from .net.proxy import POLARS_STORAGE_OPTIONS
from .settings import Settings

T = TypeVar("T")
Namespace = MutableMapping[str, Any]
TableKind = Literal["url", "parquet", "csv", "ipc"]

HEAD_TIMEOUT = 10.0
"""Seconds a URL has to answer each HEAD or ranged GET."""
SCHEMA_TIMEOUT = 30.0
"""Seconds Polars has to read a remote parquet schema and row count."""
DOWNLOAD_LIMIT = 1 << 30
"""Largest CSV by URL kept in the session folder (1 GiB); a larger one is scanned
through the egress proxy, or refused when its server ignores byte ranges."""
PARQUET_MAGIC = b"PAR1"
PARQUET_EXTENSIONS = (".parquet", ".pq", ".parq")
CSV_EXTENSIONS = (".csv",)
MAX_NAME_LENGTH = 63
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DEFAULT_PREFIX = "table"
"""Frames (and sources that suggest no name) are called table1, table2, ..."""
_NAME_ROOM = 4
"""Characters a default name leaves free under MAX_NAME_LENGTH for ``_2``, ``_3``, ..."""
_GLOB_PATTERN = re.compile(r"\[[^\]]*\]|\{[^}]*\}|[*?]")
_NAME_SUFFIXES = (
    *(".parquet", ".pq", ".parq", ".csv", ".tsv", ".txt", ".arrow", ".ipc", ".feather"),
    *(".gz", ".bz2", ".xz", ".zst", ".zstd", ".lz4", ".snappy"),
)
"""File extensions a default name leaves out (``trips.csv.gz`` -> ``trips``)."""
FINGERPRINT_CELLS = 2_000_000
"""Frames up to this many cells are hashed whole to notice in-place edits; larger
ones by an evenly spaced sample of rows (a single edited cell may go unnoticed:
``refresh`` then)."""

log = logging.getLogger("chatdf")

# Words that confuse SQL parsers (ours is sqlglot, the executor is Polars) or
# the model when used as a table name: the SQL standard's core reserved words
# plus every keyword sqlglot refuses in FROM position.
RESERVED_WORDS = frozenset(
    """
    all alter and any anti array as asc between both by case cast check collate column
    constraint create cross current_date current_time current_timestamp current_user
    default delete desc describe distinct drop else end except exists explain false
    fetch filter for foreign from full glob grant group having ilike in inner insert
    intersect interval into is join lateral leading left like limit natural not notnull
    null offset on only or order outer over partition pivot primary qualify references
    regexp returning revoke right rlike rollback rows select semi set show similar some
    straight_join table tablesample then to trailing true truncate uncache union unique
    unnest unpivot update using values when where window with xor
    """.split()  # noqa: SIM905 - a word list reads better than quoted strings
)


@dataclass
class _Loaded:
    """What reading a source produced, before it has a name."""

    kind: SourceKind
    source: str
    table_kind: TableKind
    location: str
    schema: pl.Schema
    rows: int
    ipc_path: Path | None = None
    fingerprint: Any = None
    """Of the in-memory frame, taken just before it was written."""
    csv: CsvOptions | None = None
    """How to read it, when it is a CSV read with other than Polars' defaults."""
    byte_ranges: bool = True
    """Its server honours HTTP Range (Polars can scan the URL itself)."""
    release: Callable[[], None] | None = None
    """Drops the egress proxy's route of a URL that ends up not registered."""

    def discard(self) -> None:
        _unlink(self.ipc_path)
        if self.release is not None:
            self.release()


@dataclass(frozen=True)
class _Probe:
    """What the first bytes of a URL said."""

    url: str
    """The URL that answered, after redirects (what is read from then on)."""
    csv: CsvLayout | None
    """How to read it as CSV; None for parquet."""
    ranged: bool
    """The server honours byte ranges (Polars needs them to scan over HTTP)."""


@dataclass(eq=False)
class _Entry:
    dataset: Dataset
    table: TableSource
    key: str
    """Identity of the source for duplicate detection (URL, absolute path, or frame id)."""
    allow_private: bool = False
    """The URL permission it was loaded with, so refresh re-checks the same way."""
    frame: weakref.ReferenceType[Any] | None = None
    """The notebook object of an in-memory dataset, while it is alive."""
    ipc_path: Path | None = None
    origin: Any = field(default=None, repr=False)
    """The URL or path as given, re-read by refresh."""
    variable: str | None = None
    """The notebook variable an in-memory dataset follows (looked up at query time)."""
    namespace: Namespace | None = field(default=None, repr=False)
    fingerprint: Any = None
    """Of the frame as last written, to notice in-place changes."""
    auto: bool = False
    """Offered from the namespace (``namespace_tables``), not added by the user."""
    byte_ranges: bool = True
    """A URL's server honours HTTP Range (for :class:`Provenance`)."""


@dataclass(frozen=True)
class Provenance:
    """Where a dataset's rows come from: enough to read them again without chatdf.

    ``kind`` is url, parquet, csv or frame; ``location`` the URL or the
    absolute path or glob (None for frames). For a frame, ``variable`` is the
    notebook variable that holds it (None if unknown) and ``current()`` returns
    its data as a polars DataFrame as it is now (the last snapshot once the
    object is gone). ``scan_kind`` and ``scan_location`` are what chatdf itself
    scans, as a worker does: for a URL the session's egress proxy (``url``,
    valid while the session is open) or the session's copy of a CSV
    (``csv``); for a file the path. ``csv`` says how to
    read a CSV (None: parquet, or Polars' defaults). ``byte_ranges`` is False
    for a URL whose server ignores HTTP Range, which Polars cannot scan.
    """

    name: str
    kind: SourceKind
    location: str | None
    variable: str | None = None
    current: Callable[[], pl.DataFrame] | None = field(default=None, repr=False)
    scan_location: str | None = None
    scan_kind: TableKind | None = None
    csv: CsvOptions | None = None
    byte_ranges: bool = True


class DatasetRegistry:
    """The datasets of one chatdf session, in the order they were added.

    Parameters
    ----------
    settings
        Session settings (``max_datasets``, ``allow_private_urls``).
    workdir
        Per-session temp folder for the IPC files of in-memory frames.
    head_timeout, schema_timeout
        Seconds for URL requests and for reading a remote schema; tests
        shorten them. Counting the rows of a CSV URL may take
        ``settings.query_timeout``.
    download_limit
        Largest CSV by URL kept in ``workdir`` (see :data:`DOWNLOAD_LIMIT`).
    egress
        The checked client every URL is fetched through (the registry owns
        and closes it); default ``Egress()`` with the real address rules.
        Tests pass one with their own address classifier or resolver.
    """

    def __init__(
        self,
        settings: Settings,
        workdir: Path,
        *,
        head_timeout: float = HEAD_TIMEOUT,
        schema_timeout: float = SCHEMA_TIMEOUT,
        download_limit: int = DOWNLOAD_LIMIT,
        egress: Egress | None = None,
    ) -> None:
        self.settings = settings
        self.workdir = Path(workdir)
        self.head_timeout = head_timeout
        self.schema_timeout = schema_timeout
        self.download_limit = download_limit
        self.egress = egress if egress is not None else Egress()
        self._proxy: EgressProxy | None = None  # started with the first URL
        self._entries: dict[str, _Entry] = {}
        # Every IPC path (and CSV copy) handed out, so close() also finds files
        # that a cancelled add's thread finished writing after nobody was waiting.
        self._ipc_paths: set[Path] = set()
        # One counter for the whole registry: a name removed and re-added gets
        # a new version, so no worker can mistake the new data for a cached old one.
        self._versions = itertools.count(1)
        self.namespace: Namespace | None = None
        """The notebook's variables (IPython's ``user_ns``), once attached."""

    # -- reading ---------------------------------------------------------------

    @property
    def datasets(self) -> list[Dataset]:
        """Registered datasets in insertion order."""
        return [entry.dataset for entry in self._entries.values()]

    def get(self, name: str) -> Dataset:
        """The dataset called ``name`` (case-insensitive)."""
        return self._entry(name).dataset

    def catalog(self) -> dict[str, dict[str, str]]:
        """Column names and Polars types of every dataset (for the SQL dialect layer)."""
        return {d.name: {c.name: c.dtype for c in d.columns} for d in self.datasets}

    def tables(self) -> Mapping[str, TableSource]:
        """What the engine needs to read each dataset, by name, as of query time.

        Looking a name up first writes its notebook frame again if the variable
        was reassigned or the frame changed (a new ``version``), so only the
        tables a query reads are checked. A DatasetError when the variable it
        follows is gone or no longer holds a frame.
        """
        return _LiveTables(self)

    def provenance(self, name: str) -> Provenance:
        """Where the rows of ``name`` come from (for exports and code that recreates results)."""
        entry = self._entry(name)
        table = entry.table
        if table.kind != "ipc":
            location = entry.dataset.source if entry.dataset.kind == "url" else table.location
            return Provenance(
                entry.dataset.name,
                entry.dataset.kind,
                location,
                scan_location=table.location,
                scan_kind=table.kind,
                csv=table.csv,
                byte_ranges=entry.byte_ranges,
            )
        variable = entry.variable
        if variable is None and self.namespace is not None and entry.frame is not None:
            frame = entry.frame()
            variable = _variable_holding(self.namespace, frame) if frame is not None else None
        return Provenance(
            entry.dataset.name,
            "frame",
            None,
            variable=variable,
            current=lambda: self._current_data(entry),
        )

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name) is not None

    # -- changing --------------------------------------------------------------

    async def add(
        self,
        source: Any,
        name: str | None = None,
        *,
        allow_private: bool | None = None,
        urls_only: bool = False,
    ) -> Dataset:
        """Validate ``source`` and register it.

        Parameters
        ----------
        source
            An http(s) URL of a parquet, CSV or TSV file (gzip too), a local
            parquet or CSV path or glob (str or Path), a polars DataFrame or
            LazyFrame, a pandas DataFrame or a pyarrow Table.
        name
            Table name for SQL; default: from the source (:func:`name_from_source`,
            ``_2``, ``_3``, ... when taken or a SQL keyword), ``table1``, ``table2``,
            ... for frames.
        allow_private
            Accept URLs on loopback or private networks; ``None`` follows
            ``settings.allow_private_urls``. The model's tool passes False.
        urls_only
            Refuse anything but an http(s) URL (the model may not read local files).

        Raises
        ------
        DatasetError
            With a specific message for each check that failed; nothing is
            registered then.
        """
        if allow_private is None:
            allow_private = self.settings.allow_private_urls
        if name is not None:
            name = self._check_new_name(name)
        self._check_capacity()
        key, frame = _identity(source, urls_only)
        variable = None
        if frame is not None and self.namespace is not None:
            # Following the variable (not only the object) keeps a reassignment live.
            variable = _variable_holding(self.namespace, frame)
            if variable is not None:
                key = f"var:{variable}"
        self._check_duplicate(key)
        return await self._register(
            source, name, key, frame, allow_private, variable=variable, namespace=self.namespace
        )

    async def add_variable(
        self,
        variable: str,
        name: str | None = None,
        *,
        namespace: Namespace | None = None,
        auto: bool = False,
    ) -> Dataset:
        """Register the frame a notebook variable holds and follow that variable.

        Every query looks ``variable`` up again: reassigning it, or changing the
        frame in place, is seen by the next query.

        Parameters
        ----------
        variable
            Name of a polars DataFrame/LazyFrame, pandas DataFrame or pyarrow
            Table variable in ``namespace``.
        name
            Table name for SQL; default: the variable's name (``_2``, ... when taken).
        namespace
            The variables to look in; default the attached one (:meth:`attach_namespace`).
        auto
            Offered by ``namespace_tables`` rather than added by the user.

        Raises
        ------
        DatasetError
            No such variable, not a frame, a bad or taken name, or the limit.
        """
        namespace = namespace if namespace is not None else self.namespace
        if namespace is None:
            raise DatasetError("No notebook namespace to look the variable up in.")
        if not isinstance(variable, str) or not variable.isidentifier():
            raise DatasetError(f"{variable!r} is not a variable name.")
        if variable not in namespace:
            raise DatasetError(
                f"No variable named '{variable}' in the notebook.", details={"variable": variable}
            )
        frame = namespace[variable]
        if not is_frame(frame):
            raise DatasetError(
                f"The variable '{variable}' holds a {type(frame).__name__}, not a DataFrame "
                "(polars, pandas, LazyFrame or pyarrow Table).",
                details={"variable": variable},
            )
        name = self._check_new_name(name) if name is not None else self._default_name(variable)
        self._check_capacity()
        key = f"var:{variable}"
        self._check_duplicate(key)
        return await self._register(
            frame, name, key, frame, False, variable=variable, namespace=namespace, auto=auto
        )

    def attach_namespace(self, namespace: Namespace | None) -> None:
        """Give the registry the notebook's variables (IPython's ``user_ns``).

        Frames added afterwards follow the variable that holds them, and
        ``namespace_tables`` offers the namespace's frames.
        """
        self.namespace = namespace

    async def sync_notebook(self, *, changed_frames: bool = True) -> list[str]:
        """Bring notebook frames up to date, e.g. before a turn builds its prompt.

        Offers the namespace's DataFrame variables when ``namespace_tables`` is
        set (and drops offered ones whose variable is gone), then, with
        ``changed_frames``, writes again every frame that was reassigned or
        changed, so the prompt shows current schemas. (A query needs no such
        call: looking its tables up in :meth:`tables` refreshes them.) Problems
        are logged, not raised: a query that reads the dataset reports them.
        Returns the names of the datasets added, changed or dropped.
        """
        changed: list[str] = []
        if self.settings.namespace_tables and self.namespace is not None:
            changed += await self._offer_namespace(self.namespace)
        if not changed_frames:
            return changed
        for entry in list(self._entries.values()):
            try:
                if self._sync(entry):
                    changed.append(entry.dataset.name)
            except DatasetError as exc:
                log.warning("chatdf: dataset %s: %s", entry.dataset.name, exc.message)
        return changed

    async def _register(
        self,
        source: Any,
        name: str | None,
        key: str,
        frame: Any,
        allow_private: bool,
        *,
        variable: str | None = None,
        namespace: Namespace | None = None,
        auto: bool = False,
    ) -> Dataset:
        loaded = await self._load(source, allow_private)
        try:
            # Re-check: another add may have finished while this one awaited.
            self._check_capacity()
            self._check_duplicate(key)
            if name is not None:
                name = self._check_new_name(name)
            else:
                name = self._default_name(None if frame is not None else name_from_source(source))
        except BaseException:
            loaded.discard()
            raise
        if variable is not None:
            loaded.source = _variable_label(variable, frame)
        entry = _Entry(
            dataset=_dataset(name, loaded),
            table=TableSource(
                name=name,
                kind=loaded.table_kind,
                location=loaded.location,
                version=next(self._versions),
                csv=loaded.csv,
            ),
            key=key,
            allow_private=allow_private,
            frame=_weak(frame),
            ipc_path=loaded.ipc_path,
            origin=None if frame is not None else source,
            variable=variable,
            namespace=namespace if variable is not None else None,
            fingerprint=loaded.fingerprint,
            auto=auto,
            byte_ranges=loaded.byte_ranges,
        )
        self._entries[name] = entry
        return entry.dataset

    def remove(self, name: str) -> None:
        """Forget ``name`` and delete its IPC file, if it had one."""
        entry = self._entry(name)
        del self._entries[entry.dataset.name]
        _unlink(entry.ipc_path)
        if entry.table.kind == "url":
            self._release_route(entry.table.location)

    def rename(self, old: str, new: str) -> Dataset:
        """Give a dataset another name, keeping its position and data."""
        entry = self._entry(old)
        new = self._check_new_name(new, ignore=entry)
        entry.dataset = entry.dataset.model_copy(update={"name": new})
        entry.table = entry.table.model_copy(update={"name": new})
        # Rebuild the dict so the renamed dataset keeps its place in the order.
        self._entries = {
            entry.dataset.name if e is entry else n: e for n, e in self._entries.items()
        }
        return entry.dataset

    async def refresh(self, name: str) -> Dataset:
        """Re-read schema and row count (and the frame, if it still exists).

        The dataset keeps its name; its ``TableSource.version`` changes so
        workers drop anything cached for it. On failure nothing changes.
        """
        entry = self._entry(name)
        frame = None
        if entry.table.kind == "ipc":
            frame = self._live_object(entry)
            source = frame if frame is not None else _IpcSnapshot(entry.ipc_path)
        else:
            source = entry.origin
        loaded = await self._load(source, entry.allow_private)
        if not any(e is entry for e in self._entries.values()):
            loaded.discard()
            raise DatasetError(f"Dataset '{name}' was removed while it was being refreshed.")
        self._replace(entry, loaded, frame)
        return entry.dataset

    def _replace(self, entry: _Entry, loaded: _Loaded, frame: Any) -> None:
        """Point ``entry`` at freshly read data under a new version; the old file goes."""
        old_ipc = entry.ipc_path
        if loaded.ipc_path is None and loaded.table_kind == "ipc":
            loaded.ipc_path = old_ipc  # a snapshot re-read keeps its file
        if frame is not None:
            entry.frame = _weak(frame)
            entry.fingerprint = loaded.fingerprint
        loaded.source = (
            _variable_label(entry.variable, frame)
            if entry.variable is not None and frame is not None
            else entry.dataset.source
        )
        current = entry.dataset.name
        entry.dataset = _dataset(current, loaded)
        old = entry.table
        # A URL may now be served differently (CSV instead of parquet, no byte ranges).
        entry.table = TableSource(
            name=current,
            kind=loaded.table_kind,
            location=loaded.location,
            version=next(self._versions),
            csv=loaded.csv,
        )
        entry.ipc_path = loaded.ipc_path
        entry.byte_ranges = loaded.byte_ranges
        if old_ipc != loaded.ipc_path:
            _unlink(old_ipc)
        if old.kind == "url" and old.location != loaded.location:
            self._release_route(old.location)

    # -- live notebook frames --------------------------------------------------

    def _live_object(self, entry: _Entry) -> Any:
        """The object an in-memory dataset reads now: its variable's value, or the
        object it was added from (None once that is gone: the snapshot stays)."""
        if entry.variable is None or entry.namespace is None:
            return entry.frame() if entry.frame is not None else None
        name, variable = entry.dataset.name, entry.variable
        if variable not in entry.namespace:
            raise DatasetError(
                f"Dataset '{name}' follows the notebook variable '{variable}', which no longer "
                f"exists. Assign it again, or remove the dataset.",
                details={"name": name, "variable": variable},
            )
        value = entry.namespace[variable]
        if not is_frame(value):
            raise DatasetError(
                f"Dataset '{name}' follows the notebook variable '{variable}', which now holds "
                f"a {type(value).__name__}, not a DataFrame.",
                details={"name": name, "variable": variable},
            )
        return value

    def _sync(self, entry: _Entry) -> bool:
        """Write an in-memory dataset again if its variable was reassigned or its frame
        changed since the last write; True when it did.

        Runs on the caller's thread (the session loop): an unchanged frame costs
        a fingerprint, a changed one an IPC write, about what the query itself
        will spend reading it.
        """
        if entry.table.kind != "ipc":
            return False
        frame = self._live_object(entry)
        if frame is None:
            return False
        fingerprint = _fingerprint(frame)
        same_object = entry.frame is not None and entry.frame() is frame
        if same_object and fingerprint == entry.fingerprint:
            return False
        path = self._new_ipc_path()
        loaded = _write_frame(frame, path)
        loaded.fingerprint = fingerprint
        self._replace(entry, loaded, frame)
        log.debug("chatdf: %s changed in the notebook; written again", entry.dataset.name)
        return True

    def _current_data(self, entry: _Entry) -> pl.DataFrame:
        """The rows of an in-memory dataset as they are now, as a polars DataFrame."""
        frame = self._live_object(entry)
        if frame is not None:
            return _to_polars(frame)
        if entry.ipc_path is None or not entry.ipc_path.exists():
            raise DatasetError(
                f"The data of '{entry.dataset.name}' is no longer available; add it again."
            )
        # A copy, not a mapping: the file is replaced when the frame changes.
        return pl.scan_ipc(entry.ipc_path).collect()

    async def _offer_namespace(self, namespace: Namespace) -> list[str]:
        """Register the namespace's frame variables; drop offered ones that are gone."""
        changed = []
        frames = namespace_frames(namespace)
        for entry in [e for e in self._entries.values() if e.auto]:
            if entry.variable not in frames:
                self.remove(entry.dataset.name)
                changed.append(entry.dataset.name)
        entries = list(self._entries.values())
        followed = {e.variable for e in entries if e.variable is not None}
        held = {id(e.frame()) for e in entries if e.frame is not None and e.frame() is not None}
        taken = {name.lower() for name in self._entries}
        for variable, frame in frames.items():
            if variable in followed or id(frame) in held or variable.lower() in taken:
                continue  # already registered, one way or another
            try:
                dataset = await self.add_variable(variable, namespace=namespace, auto=True)
            except DatasetError as exc:
                log.info("chatdf: notebook frame %s not offered: %s", variable, exc.message)
                continue
            changed.append(dataset.name)
        return changed

    def _new_ipc_path(self, prefix: str = "frame", suffix: str = ".arrow") -> Path:
        path = self.workdir / f"{prefix}-{uuid.uuid4().hex}{suffix}"
        self._ipc_paths.add(path)
        return path

    def close(self) -> None:
        """Forget every dataset and delete the IPC files this registry wrote."""
        self._entries = {}
        for path in self._ipc_paths:
            _unlink(path)
        self._ipc_paths.clear()
        if self._proxy is not None:
            self._proxy.close()
            self._proxy = None
        self.egress.close()

    # -- names -----------------------------------------------------------------

    def _find(self, name: str) -> _Entry | None:
        if name in self._entries:
            return self._entries[name]
        lowered = name.lower()
        for key, entry in self._entries.items():
            if key.lower() == lowered:
                return entry
        return None

    def _entry(self, name: str) -> _Entry:
        entry = self._find(name) if isinstance(name, str) else None
        if entry is None:
            known = ", ".join(self._entries) or "none yet"
            raise DatasetError(
                f"No dataset named '{name}'. Loaded datasets: {known}.",
                details={"name": name, "known": list(self._entries)},
            )
        return entry

    def _check_new_name(self, name: str, ignore: _Entry | None = None) -> str:
        name = validate_name(name)
        existing = self._find(name)
        if existing is not None and existing is not ignore:
            raise DatasetError(
                f"A dataset named '{existing.dataset.name}' already exists. "
                "Choose another name or remove it first.",
                details={"name": name},
            )
        return name

    def _default_name(self, suggested: str | None) -> str:
        """``suggested``, or ``suggested_2``, ``_3``, ... when taken or a SQL keyword;
        the next free ``tableN`` when there is no suggestion."""
        if suggested is None:
            return self._next_name()
        base = suggested[: MAX_NAME_LENGTH - _NAME_ROOM]
        candidates = itertools.chain([base], (f"{base}_{i}" for i in itertools.count(2)))
        return next(
            name
            for name in candidates
            if name.lower() not in RESERVED_WORDS and self._find(name) is None
        )

    def _next_name(self) -> str:
        taken = {n.lower() for n in self._entries}
        return next(
            f"{_DEFAULT_PREFIX}{i}"
            for i in itertools.count(1)
            if f"{_DEFAULT_PREFIX}{i}" not in taken
        )

    def _check_capacity(self) -> None:
        limit = self.settings.max_datasets
        if len(self._entries) >= limit:
            raise DatasetError(
                f"Dataset limit reached ({len(self._entries)}/{limit}). Remove one first.",
                details={"limit": limit},
            )

    def _check_duplicate(self, key: str) -> None:
        for entry in self._entries.values():
            alive = entry.variable is not None or entry.frame is None or entry.frame() is not None
            if entry.key == key and alive:
                raise DatasetError(
                    f"This dataset is already loaded as '{entry.dataset.name}'.",
                    details={"name": entry.dataset.name},
                )

    # -- loading ---------------------------------------------------------------

    async def _load(self, source: Any, allow_private: bool) -> _Loaded:
        if isinstance(source, _IpcSnapshot):
            return await asyncio.to_thread(_read_ipc_snapshot, source.path)
        if isinstance(source, (str, os.PathLike)):
            text = os.fspath(source).strip()
            if isinstance(source, str) and is_url(text):
                return await self._load_url(text, allow_private)
            return await asyncio.to_thread(_read_local, text)
        path = self._new_ipc_path()
        return await asyncio.to_thread(_fingerprint_and_write, source, path)

    async def _load_url(self, url: str, allow_private: bool) -> _Loaded:
        # Each request has head_timeout for connecting and each read; the outer
        # bound covers the whole probe, redirects included.
        probe_budget = self.head_timeout * 2 * (MAX_REDIRECTS + 1)
        probe = await _bounded(
            lambda: self._probe_url(url, allow_private),
            probe_budget,
            f"Could not access URL: no response within {probe_budget:g} s: {url}",
            reason="timeout",
        )
        if probe.csv is not None:
            return await self._load_csv_url(url, probe, allow_private)
        # From here on Polars reads the file, through the proxy and so through the egress.
        proxy = self._egress_proxy()
        location = proxy.add(probe.url, allow_private=allow_private)
        try:
            schema, rows = await _bounded(
                lambda: _url_schema_and_rows(location, url),
                self.schema_timeout,
                f"Could not read the parquet schema within {self.schema_timeout:g} s: {url}",
            )
        except BaseException:
            proxy.remove(location)
            raise
        loaded = _Loaded("url", url, "url", location, schema, rows)
        loaded.release = lambda: self._release_route(location)
        return loaded

    async def _load_csv_url(self, url: str, probe: _Probe, allow_private: bool) -> _Loaded:
        """Count the rows in one streamed GET through the egress, keeping the bytes.

        Counting reads every byte anyway, so the same GET is written to a copy
        in ``workdir`` (up to ``download_limit``) that the workers scan as a
        local CSV: one download instead of one per query (a CSV scan cannot
        skip to the rows it needs the way a parquet scan can), and no network
        at query time. A larger file on a server that honours byte ranges is
        scanned through the egress proxy instead; on one that does not, it is
        refused. The types are inferred, as the workers will infer them, from
        the rows of the sniffed prefix.
        """
        layout = probe.csv
        assert layout is not None
        options = CsvOptions(
            separator=layout.separator, infer_schema_length=max(layout.sample_rows, 1)
        )
        suffix = ".csv.gz" if layout.compression == "gzip" else ".csv"
        copy = self._new_ipc_path("url", suffix)
        seconds = self.settings.query_timeout
        timed_out = (
            f"Counting the rows of {url} took longer than {seconds:g} s (the query timeout): "
            "the file is too large or its server too slow. Set CHATDF_QUERY_TIMEOUT higher "
            "to allow more time."
        )
        stop = threading.Event()

        def count() -> tuple[int, bool]:
            deadline = time.monotonic() + seconds
            return self._count_csv(probe, url, allow_private, deadline, copy, stop, timed_out)

        route: str | None = None
        try:
            rows, kept = await _bounded(count, seconds, timed_out, reason="timeout")
            if not kept:
                route = self._egress_proxy().add(
                    probe.url, allow_private=allow_private, suffix=suffix
                )
            location = str(copy) if kept else route
            assert location is not None
            schema = await _bounded(
                lambda: _csv_schema(location, options, url, remote=not kept),
                self.schema_timeout,
                f"Could not read the CSV header and types within {self.schema_timeout:g} s: {url}",
                reason="timeout",
            )
        except BaseException:
            stop.set()  # a count still running in its thread stops at its next chunk
            if route is not None:
                self._release_route(route)
            _unlink(copy)
            raise
        loaded = _Loaded("url", url, "csv" if kept else "url", location, schema, rows)
        loaded.csv = options
        loaded.byte_ranges = probe.ranged
        if kept:
            loaded.ipc_path = copy
        else:
            _unlink(copy)
            loaded.release = lambda: self._release_route(location)
        return loaded

    def _count_csv(
        self,
        probe: _Probe,
        given: str,
        allow_private: bool,
        deadline: float,
        copy: Path,
        stop: threading.Event,
        timed_out: str,
    ) -> tuple[int, bool]:
        """Rows of the CSV at ``probe.url``, streamed through the egress until ``deadline``,
        and whether ``copy`` now holds the whole file.

        Runs in a thread and stops by itself at the deadline (every read waits
        at most until then) or when ``stop`` is set.
        """
        layout = probe.csv
        assert layout is not None
        try:
            with self.egress.open(
                "GET",
                probe.url,
                allow_private=allow_private,
                timeout=max(deadline - time.monotonic(), 0.1),
            ) as response:
                if response.status >= 400:
                    raise _access_error(given, response)
                chunks = _until(deadline, stop, response.iter_bytes(), given, timed_out)
                length = response.header("Content-Length")
                declared = int(length) if length and length.strip().isdigit() else None
                if declared is not None and declared > self.download_limit:
                    if not probe.ranged:
                        raise _too_large(given, self.download_limit)
                    return count_rows(chunks, compression=layout.compression), False
                with _CappedCopy(copy, self.download_limit, probe.ranged, given) as sink:
                    rows = count_rows(sink.tee(chunks), compression=layout.compression)
                    return rows, sink.kept
        except EgressError as exc:
            if exc.reason == "timeout":
                details = {"url": given, "reason": "timeout"}
                raise DatasetError(timed_out, details=details) from None
            raise DatasetError(exc.message, details={**exc.details, "url": given}) from None

    def _probe_url(self, url: str, allow_private: bool) -> _Probe:
        """HEAD, then a ranged GET of the first bytes, which say what the file is.

        A ``.parquet`` name needs only the magic bytes; anything else gets
        :data:`~chatdf.csvsniff.PREFIX_BYTES` (fewer when it is parquet after
        all), sniffed as CSV unless it starts with the parquet magic.
        """
        parquet_name = urlsplit(url).path.lower().endswith(PARQUET_EXTENSIONS)
        wanted = len(PARQUET_MAGIC) if parquet_name else PREFIX_BYTES
        try:
            with self.egress.open(
                "HEAD", url, allow_private=allow_private, timeout=self.head_timeout
            ) as head:
                # Some servers refuse HEAD but serve GET; the ranged GET decides then.
                if head.status >= 400 and head.status not in (405, 501):
                    raise _access_error(url, head)
            with self.egress.open(
                "GET",
                head.url,
                allow_private=allow_private,
                headers={"Range": f"bytes=0-{wanted - 1}"},
                timeout=self.head_timeout,
            ) as get:
                if get.status == 416 and not parquet_name:  # no byte 0: an empty file
                    raise DatasetError(
                        f"{url} is empty: there is no header line to read.",
                        details={"url": url, "reason": "empty"},
                    )
                if get.status >= 400:
                    raise _access_error(url, get)
                prefix = _read_prefix(get, wanted)  # a server ignoring Range sends more
                content_type = get.header("Content-Type") or head.header("Content-Type")
        except EgressError as exc:
            raise DatasetError(exc.message, details={**exc.details, "url": url}) from None
        ranged = get.status == 206
        if parquet_name or is_parquet(prefix):
            if not is_parquet(prefix):
                raise DatasetError(
                    f"Not a valid parquet file: {url} does not start with the parquet magic "
                    "bytes.",
                    details={"url": url, "reason": "not_parquet"},
                )
            return _Probe(get.url, None, ranged)
        complete = len(prefix) < PREFIX_BYTES
        layout = sniff_csv(prefix, complete=complete, content_type=content_type, url=url)
        return _Probe(get.url, layout, ranged)

    def _egress_proxy(self) -> EgressProxy:
        if self._proxy is None:
            self._proxy = EgressProxy(self.egress)
        return self._proxy

    def _release_route(self, location: str) -> None:
        if self._proxy is not None:
            self._proxy.remove(location)


# -- helpers ------------------------------------------------------------------


def validate_name(name: str) -> str:
    """Return ``name`` (stripped) if it can be a SQL table name, else raise DatasetError."""
    if not isinstance(name, str):
        raise DatasetError(f"A dataset name must be text, not {type(name).__name__}.")
    name = name.strip()
    if not _NAME.match(name):
        hint = re.sub(r"\W", "_", name) or "my_table"
        if hint[0].isdigit():
            hint = f"t_{hint}"
        raise DatasetError(
            f"Invalid dataset name '{name}': use letters, digits and underscores, "
            f"not starting with a digit (e.g. {hint}).",
            details={"name": name},
        )
    if len(name) > MAX_NAME_LENGTH:
        raise DatasetError(
            f"Invalid dataset name: at most {MAX_NAME_LENGTH} characters ({len(name)} given).",
            details={"name": name},
        )
    if name.lower() in RESERVED_WORDS:
        raise DatasetError(
            f"Invalid dataset name '{name}': it is a SQL keyword. Try {name.lower()}_data.",
            details={"name": name},
        )
    return name


def name_from_source(source: Any) -> str | None:
    """The table name a URL, path or glob suggests; None when it suggests none (frames too).

    The file name without its extensions and glob patterns, lowercased, accents
    dropped, other characters turned into ``_`` and repeated ``_`` collapsed;
    when that is empty or starts with a digit, the parent folder's name goes in
    front. ``https://host/trips.parquet?v=2`` -> ``trips``, ``data/2024-*.csv``
    -> ``data_2024``, ``data/*.parquet`` -> ``data``, ``Q1 Sales.csv`` -> ``q1_sales``.
    """
    if not isinstance(source, (str, os.PathLike)):
        return None
    text = os.fspath(source).strip()
    if is_url(text):
        text = urlsplit(text).path  # the query and the fragment are not part of the name
    parts = [part for part in re.split(r"[/\\]+", text) if part]
    if not parts:
        return None
    name = _identifier(_without_suffixes(parts[-1]))
    if (not name or name[0].isdigit()) and len(parts) > 1:
        name = _identifier(f"{_GLOB_PATTERN.sub('', parts[-2])}_{name}")
    if not name or name[0].isdigit():
        return None
    return name[: MAX_NAME_LENGTH - _NAME_ROOM].rstrip("_")


def _without_suffixes(filename: str) -> str:
    name = _GLOB_PATTERN.sub("", filename)
    while True:
        suffix = next((s for s in _NAME_SUFFIXES if name.lower().endswith(s)), None)
        if suffix is None:
            return name
        name = name[: -len(suffix)]


def _identifier(text: str) -> str:
    """``text`` as lowercase ASCII letters, digits and single underscores (none at the ends)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")


def _identity(source: Any, urls_only: bool) -> tuple[str, Any]:
    """A key that is equal for the same source, and the object itself for frames."""
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source).strip()
        if isinstance(source, str) and is_url(text):
            return f"url:{text}", None
        if urls_only:
            raise DatasetError(
                "Invalid URL format: give an http:// or https:// URL to a parquet or CSV file.",
                details={"source": text, "reason": "scheme"},
            )
        if not text:
            raise DatasetError("Give a URL, a file path or a DataFrame to load.")
        return f"path:{os.path.abspath(os.path.expanduser(text))}", None
    if urls_only:
        raise DatasetError(
            "Invalid URL format: give an http:// or https:// URL to a parquet or CSV file.",
            details={"reason": "scheme"},
        )
    _frame_label(source)  # refuse unsupported types before any work
    return f"frame:{id(source)}", source


def _frame_label(source: Any) -> str:
    if isinstance(source, pl.DataFrame):
        return "<polars.DataFrame>"
    if isinstance(source, pl.LazyFrame):
        return "<polars.LazyFrame>"
    # Only installed-and-imported libraries can have made the object, so
    # looking in sys.modules avoids importing pandas just to say no.
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(source, pd.DataFrame):
        return "<pandas.DataFrame>"
    pa = sys.modules.get("pyarrow")
    if pa is not None and isinstance(source, pa.Table):
        return "<pyarrow.Table>"
    raise DatasetError(
        f"Cannot load a {type(source).__module__}.{type(source).__qualname__}: give an http(s) "
        "URL of a parquet or CSV file, a local parquet or CSV path or glob, a polars or pandas "
        "DataFrame, a polars LazyFrame or a pyarrow Table.",
        details={"type": type(source).__qualname__},
    )


class _LiveTables(Mapping[str, TableSource]):
    """The registry's tables, each brought up to date when the engine looks it up."""

    def __init__(self, registry: DatasetRegistry) -> None:
        self._registry = registry
        self._names = list(registry._entries)

    def __getitem__(self, name: str) -> TableSource:
        entry = self._registry._find(name) if name in self._names else None
        if entry is None:
            raise KeyError(name)
        self._registry._sync(entry)
        return entry.table

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def namespace_frames(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The variables of ``namespace`` that hold frames and can be table names.

    Skips private and IPython history names (``_``, ``_3``, ``_chatdf``) and
    names that are not valid SQL table names.
    """
    frames = {}
    for variable, value in list(namespace.items()):
        if variable.startswith("_") or not is_frame(value):
            continue
        try:
            validate_name(variable)
        except DatasetError:
            continue
        frames[variable] = value
    return frames


def is_frame(value: Any) -> bool:
    """Whether ``value`` is a frame chatdf can register (polars, pandas, pyarrow)."""
    try:
        _frame_label(value)
    except DatasetError:
        return False
    return True


def _variable_holding(namespace: Mapping[str, Any], frame: Any) -> str | None:
    """The one public variable that holds ``frame`` (None when none or several do)."""
    holders = [
        name
        for name, value in list(namespace.items())
        if value is frame and not name.startswith("_") and not keyword.iskeyword(name)
    ]
    return holders[0] if len(holders) == 1 else None


def _variable_label(variable: str, frame: Any) -> str:
    """``<polars.DataFrame df_sales>``: the type and the variable a dataset follows."""
    label = _frame_label(frame) if frame is not None else "<DataFrame>"
    return f"{label[:-1]} {variable}>"


def _to_polars(frame: Any) -> pl.DataFrame:
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    if _frame_label(frame) == "<pandas.DataFrame>":
        return pl.from_pandas(frame)
    converted = pl.from_arrow(frame)
    return converted if isinstance(converted, pl.DataFrame) else converted.to_frame()


def _fingerprint(frame: Any) -> Any:
    """What changes when a mutable frame's content changes: shape, schema, row hashes.

    LazyFrames and Arrow tables cannot change in place, so their identity is
    enough (the caller compares that separately).
    """
    if isinstance(frame, pl.DataFrame):
        schema = tuple((n, str(t)) for n, t in frame.schema.items())
        return ("polars", frame.shape, schema, _row_hash(_sample(frame), "polars"))
    if _frame_label(frame) != "<pandas.DataFrame>":
        return None
    columns = tuple(map(str, frame.columns))
    dtypes = tuple(map(str, frame.dtypes))
    return ("pandas", frame.shape, columns, dtypes, _row_hash(_sample(frame), "pandas"))


def _sample(frame: Any) -> Any:
    rows, cols = frame.shape
    if rows * max(cols, 1) <= FINGERPRINT_CELLS:
        return frame
    step = -(-rows * cols // FINGERPRINT_CELLS)  # ceiling division
    return frame.gather_every(step) if isinstance(frame, pl.DataFrame) else frame.iloc[::step]


def _row_hash(frame: Any, kind: str) -> str | None:
    """An order-sensitive digest of the rows' hashes (None when they cannot be hashed)."""
    try:
        if kind == "pandas":
            import pandas as pd

            try:
                hashes = pd.util.hash_pandas_object(frame, index=True).to_numpy()
            except TypeError:  # unhashable cells (lists, dicts): let polars hash them
                hashes = pl.from_pandas(frame).hash_rows(seed=0).to_numpy()
        else:
            hashes = frame.hash_rows(seed=0).to_numpy()
    except Exception:  # noqa: BLE001 - a frame that cannot be hashed is not fingerprinted
        return None
    return hashlib.blake2b(hashes.tobytes(), digest_size=16).hexdigest()


def _weak(frame: Any) -> weakref.ReferenceType[Any] | None:
    if frame is None:
        return None
    return weakref.ref(frame)


def _dataset(name: str, loaded: _Loaded) -> Dataset:
    return Dataset(
        name=name,
        source=loaded.source,
        kind=loaded.kind,
        row_count=loaded.rows,
        column_count=len(loaded.schema),
        columns=columns_of(loaded.schema),
    )


def _access_error(url: str, response: EgressResponse) -> DatasetError:
    status = f"{response.status} {response.reason_phrase}".strip()
    return DatasetError(
        f"Could not access URL ({status}): {url}",
        details={"url": url, "status": response.status, "reason": "status"},
    )


async def _bounded(
    work: Callable[[], T], seconds: float, message: str, *, reason: str | None = None
) -> T:
    """Run blocking ``work`` in a thread, giving up after ``seconds``.

    A thread cannot be killed, so on timeout it finishes in the background
    and its result is dropped; the caller gets its error at once.
    """
    task: Awaitable[T] = asyncio.to_thread(work)
    try:
        return await asyncio.wait_for(task, seconds)
    except asyncio.TimeoutError:  # not yet the builtin TimeoutError on Python 3.10
        raise DatasetError(message, details={"reason": reason} if reason else None) from None


def _read_prefix(response: EgressResponse, size: int) -> bytes:
    """Up to ``size`` first bytes of the body; only the first chunk if it is parquet."""
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= size or is_parquet(bytes(data[:4])):
            break
    return bytes(data[:size])


def _until(
    deadline: float, stop: threading.Event, chunks: Iterator[bytes], url: str, message: str
) -> Iterator[bytes]:
    """``chunks`` until ``deadline`` (``time.monotonic()``) or ``stop``, then a DatasetError."""
    for chunk in chunks:
        if time.monotonic() > deadline or stop.is_set():
            raise DatasetError(message, details={"url": url, "reason": "timeout"})
        yield chunk


class _CappedCopy:
    """Writes the chunks passing through to ``path``, up to ``limit`` bytes.

    Past the limit the copy is dropped (``kept`` turns False) when
    ``droppable``, else a ``too_large`` DatasetError ends the download.
    """

    def __init__(self, path: Path, limit: int, droppable: bool, url: str) -> None:
        self.path, self.limit, self.droppable, self.url = path, limit, droppable, url
        self.kept = True
        self._written = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: Any = open(path, "wb")  # noqa: SIM115 - closed by __exit__ or when dropped

    def tee(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            if self.kept:
                self._written += len(chunk)
                if self._written > self.limit:
                    if not self.droppable:
                        raise _too_large(self.url, self.limit)
                    self._drop()
                else:
                    self._file.write(chunk)
            yield chunk

    def _drop(self) -> None:
        self.kept = False
        self._file.close()
        _unlink(self.path)

    def __enter__(self) -> _CappedCopy:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


def _too_large(url: str, limit: int) -> DatasetError:
    return DatasetError(
        f"{url} is larger than {limit / 2**20:,.0f} MiB, and its server does not support byte "
        "ranges (HTTP Range requests), so chatdf would have to keep a whole copy. Download it "
        "and add the local file instead.",
        details={"url": url, "reason": "too_large", "limit": limit},
    )


def _csv_schema(location: str, options: CsvOptions, url: str, *, remote: bool) -> pl.Schema:
    """The schema Polars infers for a CSV URL, read as the workers will read it."""
    storage = dict(POLARS_STORAGE_OPTIONS) if remote else None
    try:
        scan = pl.scan_csv(location, **options.scan_arguments(), storage_options=storage)
        return scan.collect_schema()
    except Exception as exc:  # noqa: BLE001 - Polars raises many types; all mean "unreadable"
        raise _remote_read_error(
            exc, location, url, "Not a valid CSV file: could not read its header and types "
            f"from {url}", "not_csv",
        ) from None


def _polars_message(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _parquet_schema_and_rows(location: str, what: str) -> tuple[pl.Schema, int]:
    try:
        scan = pl.scan_parquet(location)
        schema = scan.collect_schema()
        # Polars answers len() of a parquet scan from the footer metadata.
        rows = scan.select(pl.len()).collect().item()
    except Exception as exc:  # noqa: BLE001 - Polars raises many types; all mean "unreadable"
        raise DatasetError(
            f"Not a valid parquet file: could not read the schema from the {what} "
            f"({_polars_message(exc)}).",
            details={"location": location},
        ) from None
    return schema, int(rows)


def _url_schema_and_rows(location: str, url: str) -> tuple[pl.Schema, int]:
    """Schema and row count of a URL's parquet footer, read through the egress proxy."""
    try:
        scan = pl.scan_parquet(location, storage_options=POLARS_STORAGE_OPTIONS)
        schema = scan.collect_schema()
        rows = scan.select(pl.len()).collect().item()
    except Exception as exc:  # noqa: BLE001 - Polars raises many types; all mean "unreadable"
        raise _remote_read_error(
            exc, location, url, "Not a valid parquet file: could not read the schema from the URL",
            "not_parquet",
        ) from None
    return schema, int(rows)


def _remote_read_error(
    exc: Exception, location: str, url: str, what: str, reason: str
) -> DatasetError:
    """Why Polars could not read ``url`` through the egress proxy at ``location``."""
    failure = egress_failure(str(exc))
    if failure is not None:  # refused or failed in the egress path (e.g. a redirect)
        return DatasetError(failure["message"], details={"url": url, "reason": failure["reason"]})
    message = _polars_message(exc).replace(location, url)  # the proxy's secret stays here
    return DatasetError(f"{what} ({message}).", details={"url": url, "reason": reason})


def _read_local(text: str) -> _Loaded:
    """Check a local path or glob and read its schema and row count."""
    pattern = os.path.abspath(os.path.expanduser(text))
    if any(ch in pattern for ch in "*?["):
        files = sorted(f for f in glob.glob(pattern, recursive=True) if os.path.isfile(f))
        if not files:
            raise DatasetError(f"No files match {text!r}.", details={"source": text})
    elif os.path.isdir(pattern):
        example = os.path.join(text, "*.parquet")
        raise DatasetError(
            f"{text!r} is a folder: give a file or a glob such as {example!r}.",
            details={"source": text},
        )
    elif not os.path.isfile(pattern):
        raise DatasetError(f"File not found: {text}", details={"source": text})
    else:
        files = [pattern]

    kinds = {_kind_of(f) for f in files}
    if len(kinds) > 1:
        raise DatasetError(
            f"{text!r} matches both parquet and CSV files; use a pattern that matches one kind, "
            "such as *.parquet.",
            details={"source": text},
        )
    kind = kinds.pop()
    if kind == "parquet":
        for f in files:
            _check_parquet_magic(f)
        schema, rows = _parquet_schema_and_rows(pattern, what="file")
        return _Loaded("parquet", text, "parquet", pattern, schema, rows)
    try:
        scan = pl.scan_csv(pattern)
        schema = scan.collect_schema()
        rows = int(scan.select(pl.len()).collect().item())
    except Exception as exc:  # noqa: BLE001 - Polars raises many types; all mean "unreadable"
        raise DatasetError(
            f"Could not read the CSV file {text!r}: {_polars_message(exc)}",
            details={"source": text},
        ) from None
    return _Loaded("csv", text, "csv", pattern, schema, rows)


def _kind_of(path: str) -> str:
    lowered = path.lower()
    if lowered.endswith(PARQUET_EXTENSIONS):
        return "parquet"
    if lowered.endswith(CSV_EXTENSIONS):
        return "csv"
    suffix = Path(path).suffix or "no extension"
    raise DatasetError(
        f"Unsupported file type ({suffix}): {path}. Only .parquet and .csv files can be loaded.",
        details={"source": path},
    )


def _check_parquet_magic(path: str) -> None:
    # A parquet file starts and ends with PAR1; checking both catches truncated files too.
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 4))
            tail = fh.read(4)
    except OSError as exc:
        raise DatasetError(
            f"Could not read {path}: {exc.strerror}", details={"source": path}
        ) from None
    if size < 12 or head != PARQUET_MAGIC or tail != PARQUET_MAGIC:
        raise DatasetError(
            f"Not a valid parquet file: {path} does not have the parquet magic bytes.",
            details={"source": path},
        )


@dataclass(frozen=True)
class _IpcSnapshot:
    """An IPC file whose notebook object is gone; refresh re-reads the file itself."""

    path: Path | None


def _read_ipc_snapshot(path: Path | None) -> _Loaded:
    if path is None or not path.exists():
        raise DatasetError(
            "The data of this in-memory dataset is no longer available; add it again."
        )
    scan = pl.scan_ipc(path)
    schema = scan.collect_schema()
    rows = int(scan.select(pl.len()).collect().item())
    return _Loaded("frame", "", "ipc", str(path), schema, rows, ipc_path=None)


def _fingerprint_and_write(source: Any, path: Path) -> _Loaded:
    # The fingerprint first: an edit made while writing then shows as a change.
    fingerprint = _fingerprint(source)
    loaded = _write_frame(source, path)
    loaded.fingerprint = fingerprint
    return loaded


def _write_frame(source: Any, path: Path) -> _Loaded:
    """Write an in-memory frame once to an uncompressed (memory-mappable) IPC file."""
    label = _frame_label(source)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if isinstance(source, pl.LazyFrame):
            # Streaming sink: the full frame never has to sit in kernel memory.
            source.sink_ipc(path, compression="uncompressed")
            scan = pl.scan_ipc(path)
            schema, rows = scan.collect_schema(), int(scan.select(pl.len()).collect().item())
        else:
            if isinstance(source, pl.DataFrame):
                converted: pl.DataFrame | pl.Series = source
            elif label == "<pandas.DataFrame>":
                converted = pl.from_pandas(source)
            else:
                converted = pl.from_arrow(source)
            # from_arrow of a Table gives a frame; of an array, a Series.
            frame = converted if isinstance(converted, pl.DataFrame) else converted.to_frame()
            frame.write_ipc(path, compression="uncompressed")
            schema, rows = frame.schema, frame.height
    except Exception as exc:  # noqa: BLE001 - any failure to write the frame becomes a DatasetError
        _unlink(path)
        raise DatasetError(
            f"Could not load the {label[1:-1]}: {_polars_message(exc)}",
            details={"source": label},
        ) from None
    except BaseException:
        _unlink(path)
        raise
    return _Loaded("frame", label, "ipc", str(path), schema, rows, ipc_path=path)


def _unlink(path: Path | None) -> None:
    if path is None:
        return
    # Windows refuses while a worker maps the file; the temp dir goes with the session.
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


__all__ = [
    "HEAD_TIMEOUT",
    "RESERVED_WORDS",
    "SCHEMA_TIMEOUT",
    "DatasetRegistry",
    "Provenance",
    "is_frame",
    "name_from_source",
    "namespace_frames",
    "validate_name",
]

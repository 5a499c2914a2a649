"""The dataset registry of one session: add, refresh, drop and look up datasets."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import DatasetError
from ..models import CsvOptions, Dataset, SourceKind, TableSource
from ..net import Egress, EgressProxy, is_url
from ..settings import Settings
from .frames import (
    Namespace,
    _fingerprint,
    _fingerprint_and_write,
    _frame_label,
    _IpcSnapshot,
    _read_ipc_snapshot,
    _to_polars,
    _variable_holding,
    _variable_label,
    _weak,
    _write_frame,
    is_frame,
    namespace_frames,
)
from .names import (
    _DEFAULT_PREFIX,
    _NAME_ROOM,
    MAX_NAME_LENGTH,
    RESERVED_WORDS,
    name_from_source,
    validate_name,
)
from .sources import (
    DOWNLOAD_LIMIT,
    HEAD_TIMEOUT,
    SCHEMA_TIMEOUT,
    TableKind,
    UrlSources,
    _dataset,
    _Loaded,
    _read_local,
    _unlink,
)

log = logging.getLogger("chatdf")


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


class DatasetRegistry(UrlSources):
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

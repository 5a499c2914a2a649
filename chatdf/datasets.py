"""The dataset registry: URLs, local files and notebook frames, validated and named.

A source becomes a :class:`~chatdf.models.Dataset` only after every check
passed, so a failed :meth:`DatasetRegistry.add` leaves the registry as it was.

- http(s) URL: :mod:`chatdf.urlguard` checks the scheme and address, then a
  HEAD (redirects re-checked by hand), the ``PAR1`` magic from a ranged GET,
  and the schema and row count from the parquet footer via Polars.
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
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
import polars as pl

from .errors import DatasetError
from .models import Dataset, SourceKind, TableSource, columns_of
from .settings import Settings
from .urlguard import MAX_REDIRECTS, is_url, send_checked

T = TypeVar("T")
Namespace = MutableMapping[str, Any]
TableKind = Literal["url", "parquet", "csv", "ipc"]

HEAD_TIMEOUT = 10.0
"""Seconds a URL has to answer each HEAD or ranged GET."""
SCHEMA_TIMEOUT = 30.0
"""Seconds Polars has to read a remote parquet schema and row count."""
PARQUET_MAGIC = b"PAR1"
PARQUET_EXTENSIONS = (".parquet", ".pq", ".parq")
CSV_EXTENSIONS = (".csv",)
MAX_NAME_LENGTH = 63
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DEFAULT_PREFIX = "table"
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

    def discard(self) -> None:
        _unlink(self.ipc_path)


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


@dataclass(frozen=True)
class Provenance:
    """Where a dataset's rows come from: enough to read them again without chatdf.

    ``kind`` is url, parquet, csv or frame; ``location`` the URL or the
    absolute path or glob (None for frames). For a frame, ``variable`` is the
    notebook variable that holds it (None if unknown) and ``current()`` returns
    its data as a polars DataFrame as it is now (the last snapshot once the
    object is gone).
    """

    name: str
    kind: SourceKind
    location: str | None
    variable: str | None = None
    current: Callable[[], pl.DataFrame] | None = field(default=None, repr=False)


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
        shorten them.
    """

    def __init__(
        self,
        settings: Settings,
        workdir: Path,
        *,
        head_timeout: float = HEAD_TIMEOUT,
        schema_timeout: float = SCHEMA_TIMEOUT,
    ) -> None:
        self.settings = settings
        self.workdir = Path(workdir)
        self.head_timeout = head_timeout
        self.schema_timeout = schema_timeout
        self._entries: dict[str, _Entry] = {}
        # Every IPC path handed out, so close() also finds files that a
        # cancelled add's thread finished writing after nobody was waiting.
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
            location = entry.dataset.source if table.kind == "url" else table.location
            return Provenance(entry.dataset.name, entry.dataset.kind, location)
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
            An http(s) parquet URL, a local parquet or CSV path or glob (str or
            Path), a polars DataFrame or LazyFrame, a pandas DataFrame or a
            pyarrow Table.
        name
            Table name for SQL; default ``table1``, ``table2``, ... (next free).
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
            Table name for SQL; default: the variable's name.
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
        name = self._check_new_name(name if name is not None else variable)
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
            name = self._check_new_name(name) if name is not None else self._next_name()
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
        )
        self._entries[name] = entry
        return entry.dataset

    def remove(self, name: str) -> None:
        """Forget ``name`` and delete its IPC file, if it had one."""
        entry = self._entry(name)
        del self._entries[entry.dataset.name]
        _unlink(entry.ipc_path)

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
        if loaded.ipc_path is None:
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
        entry.table = TableSource(
            name=current,
            kind=entry.table.kind,
            location=loaded.location,
            version=next(self._versions),
        )
        entry.ipc_path = loaded.ipc_path
        if old_ipc != loaded.ipc_path:
            _unlink(old_ipc)

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
        return pl.read_ipc(entry.ipc_path)

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

    def _new_ipc_path(self) -> Path:
        path = self.workdir / f"frame-{uuid.uuid4().hex}.arrow"
        self._ipc_paths.add(path)
        return path

    def close(self) -> None:
        """Forget every dataset and delete the IPC files this registry wrote."""
        self._entries = {}
        for path in self._ipc_paths:
            _unlink(path)
        self._ipc_paths.clear()

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
        # Each request has head_timeout through httpx; the outer bound also
        # covers DNS, which has no timeout of its own.
        probe_budget = self.head_timeout * 2 * (MAX_REDIRECTS + 1)
        final = await _bounded(
            lambda: self._probe_url(url, allow_private),
            probe_budget,
            f"Could not access URL: no response within {probe_budget:g} s: {url}",
        )
        schema, rows = await _bounded(
            lambda: _parquet_schema_and_rows(final, what="URL"),
            self.schema_timeout,
            f"Could not read the parquet schema within {self.schema_timeout:g} s: {url}",
        )
        return _Loaded("url", url, "url", final, schema, rows)

    def _probe_url(self, url: str, allow_private: bool) -> str:
        """HEAD, then a ranged GET of the magic bytes; returns the URL that answered."""
        try:
            with httpx.Client(timeout=self.head_timeout) as client:
                head = send_checked(client, "HEAD", url, allow_private=allow_private)
                head.close()
                # Some servers refuse HEAD but serve GET; the ranged GET decides then.
                if head.status_code >= 400 and head.status_code not in (405, 501):
                    raise _access_error(url, head)
                get = send_checked(
                    client,
                    "GET",
                    str(head.url),
                    allow_private=allow_private,
                    headers={"Range": "bytes=0-3"},
                )
                try:
                    if get.status_code >= 400:
                        raise _access_error(url, get)
                    magic = b""
                    for chunk in get.iter_bytes():
                        magic += chunk
                        if len(magic) >= len(PARQUET_MAGIC):
                            break  # a server ignoring Range would send it all
                finally:
                    get.close()
        except httpx.TimeoutException:
            raise DatasetError(
                f"Could not access URL: no response within {self.head_timeout:g} s: {url}",
                details={"url": url},
            ) from None
        except httpx.HTTPError as exc:
            raise DatasetError(
                f"Could not access URL: {exc or type(exc).__name__}: {url}", details={"url": url}
            ) from None
        except httpx.InvalidURL as exc:  # not an HTTPError; a redirect's Location can cause it
            raise DatasetError(f"Invalid URL format: {exc}: {url}", details={"url": url}) from None
        if magic[: len(PARQUET_MAGIC)] != PARQUET_MAGIC:
            raise DatasetError(
                f"Not a valid parquet file: {url} does not start with the parquet magic bytes.",
                details={"url": url},
            )
        return str(get.url)


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


def _identity(source: Any, urls_only: bool) -> tuple[str, Any]:
    """A key that is equal for the same source, and the object itself for frames."""
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source).strip()
        if isinstance(source, str) and is_url(text):
            return f"url:{text}", None
        if urls_only:
            raise DatasetError(
                "Invalid URL format: give an http:// or https:// URL to a parquet file.",
                details={"source": text},
            )
        if not text:
            raise DatasetError("Give a URL, a file path or a DataFrame to load.")
        return f"path:{os.path.abspath(os.path.expanduser(text))}", None
    if urls_only:
        raise DatasetError("Invalid URL format: give an http:// or https:// URL to a parquet file.")
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
        "parquet URL, a local parquet or CSV path or glob, a polars or pandas DataFrame, "
        "a polars LazyFrame or a pyarrow Table.",
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
    except Exception:
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


def _access_error(url: str, response: httpx.Response) -> DatasetError:
    status = f"{response.status_code} {response.reason_phrase}".strip()
    return DatasetError(
        f"Could not access URL ({status}): {url}",
        details={"url": url, "status": response.status_code},
    )


async def _bounded(work: Callable[[], T], seconds: float, message: str) -> T:
    """Run blocking ``work`` in a thread, giving up after ``seconds``.

    A thread cannot be killed, so on timeout it finishes in the background
    and its result is dropped; the caller gets its error at once.
    """
    task: Awaitable[T] = asyncio.to_thread(work)
    try:
        return await asyncio.wait_for(task, seconds)
    except asyncio.TimeoutError:  # not yet the builtin TimeoutError on Python 3.10
        raise DatasetError(message) from None


def _polars_message(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _parquet_schema_and_rows(location: str, what: str) -> tuple[pl.Schema, int]:
    try:
        scan = pl.scan_parquet(location)
        schema = scan.collect_schema()
        # Polars answers len() of a parquet scan from the footer metadata.
        rows = scan.select(pl.len()).collect().item()
    except Exception as exc:  # Polars raises many types; all mean "unreadable"
        raise DatasetError(
            f"Not a valid parquet file: could not read the schema from the {what} "
            f"({_polars_message(exc)}).",
            details={"location": location},
        ) from None
    return schema, int(rows)


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
    except Exception as exc:
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
                frame = source
            elif label == "<pandas.DataFrame>":
                frame = pl.from_pandas(source)
            else:
                frame = pl.from_arrow(source)
            if not isinstance(frame, pl.DataFrame):  # pragma: no cover - from_arrow of a Table
                frame = frame.to_frame()
            frame.write_ipc(path, compression="uncompressed")
            schema, rows = frame.schema, frame.height
    except Exception as exc:
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
    "namespace_frames",
    "validate_name",
]

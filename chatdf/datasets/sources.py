"""Reading a source (URL, local file or glob) into what the registry registers.

URL reads go through the egress only; blocking reads run in threads with timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import polars as pl

from ..errors import DatasetError
from ..models import CsvOptions, Dataset, SourceKind, columns_of
from ..net import MAX_REDIRECTS, Egress, EgressError, EgressProxy, egress_failure
from ..net.egress import EgressResponse
from ..net.proxy import POLARS_STORAGE_OPTIONS
from ..settings import Settings
from .csvsniff import PREFIX_BYTES, CsvLayout, count_rows, is_parquet, sniff_csv

T = TypeVar("T")
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


def _unlink(path: Path | None) -> None:
    if path is None:
        return
    # Windows refuses while a worker maps the file; the temp dir goes with the session.
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


class UrlSources:
    """The registry's URL reading: probe the first bytes, then read the schema
    and count the rows, all through the session's egress (a mixin of
    :class:`~chatdf.datasets.registry.DatasetRegistry`, which sets these)."""

    settings: Settings
    egress: Egress
    head_timeout: float
    schema_timeout: float
    download_limit: int
    _proxy: EgressProxy | None

    def _new_ipc_path(self, prefix: str = "frame", suffix: str = ".arrow") -> Path:
        raise NotImplementedError

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
        :data:`~chatdf.datasets.csvsniff.PREFIX_BYTES` (fewer when it is parquet after
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

"""What a URL's first bytes say it is, and how many rows a CSV has, counted as Polars counts.

The dataset registry reads the first :data:`PREFIX_BYTES` of a URL through the
egress client. :func:`is_parquet` looks for the parquet magic; otherwise
:func:`sniff_csv` decides whether the bytes are a CSV Polars can read (UTF-8
text, optionally gzip-compressed, not a web page, JSON or other binary), which
separator it uses (``,``, tab, ``;`` or ``|``) and how many whole records the
prefix holds: Polars infers the column types from that many rows, so the types
come from a bounded prefix. :func:`count_rows` then counts the rows of the whole
body as it streams past, in constant memory.

No network here: callers pass bytes and iterators of chunks.
"""

from __future__ import annotations

import csv
import io
import itertools
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import polars as pl

from ..errors import DatasetError

PREFIX_BYTES = 1 << 20
"""Bytes of a URL read to tell its format and infer its column types (1 MiB)."""
PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"
SEPARATORS = (",", "\t", ";", "|")
"""Tried in this order; the first that splits every sampled record alike wins."""
TSV_EXTENSIONS = (".tsv", ".tab", ".tsv.gz", ".tab.gz")
_SNIFF_RECORDS = 50
_DECOMPRESSED_CHUNK = 1 << 20
"""At most this much decompressed output per step, so a gzip bomb costs time, not memory."""
_OTHER_COMPRESSIONS = {
    b"\x28\xb5\x2f\xfd": "zstd",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"PK\x03\x04": "zip (or an Excel .xlsx file)",
    b"\xd0\xcf\x11\xe0": "an Excel .xls file",
}
_WEB_TYPES = ("text/html", "application/xhtml+xml")
_BOM = b"\xef\xbb\xbf"
_NOT_QUOTE_OR_BREAK = bytes(b for b in range(256) if b not in b'"\n')

Compression = Literal["gzip"]


@dataclass(frozen=True)
class CsvLayout:
    """How to read a CSV, as sniffed from its first bytes."""

    separator: str
    compression: Compression | None
    sample_rows: int
    """Whole data rows in the prefix: Polars infers the column types from this many."""


def is_parquet(prefix: bytes) -> bool:
    """Whether ``prefix`` starts like a parquet file."""
    return prefix[:4] == PARQUET_MAGIC


def sniff_csv(
    prefix: bytes, *, complete: bool, content_type: str | None = None, url: str = ""
) -> CsvLayout:
    """The layout of a CSV from its first bytes, or a DatasetError saying what it is instead.

    Parameters
    ----------
    prefix
        The first bytes of the body, as sent (compressed or not).
    complete
        ``prefix`` is the whole body.
    content_type
        The ``Content-Type`` the server sent, if any: ``text/html`` is refused
        as a web page, JSON types as JSON, and ``text/tab-separated-values``
        prefers tabs.
    url
        For messages and hints: a ``.tsv`` / ``.tab`` name prefers tabs.

    Raises
    ------
    DatasetError
        ``details["reason"]``: ``not_csv`` (a web page, JSON, binary data, not
        UTF-8, no line break in the prefix, or rows Polars cannot read),
        ``unsupported_compression`` or ``empty``.
    """
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime in _WEB_TYPES:
        raise _web_page(url, f"the server says it is {mime}")
    if mime.endswith(("/json", "+json")):
        raise _not_csv(url, f"it is JSON ({mime}), not CSV")
    compression: Compression | None = None
    if prefix.startswith(GZIP_MAGIC):
        compression = "gzip"
        prefix, complete = _gunzip_prefix(prefix, complete)
    else:
        for magic, what in _OTHER_COMPRESSIONS.items():
            if prefix.startswith(magic):
                raise DatasetError(
                    f"Cannot read {url or 'this file'}: it is compressed as {what}. chatdf reads "
                    "parquet, CSV and gzip-compressed CSV from URLs.",
                    details={"reason": "unsupported_compression", "compression": what},
                )
    text = prefix.removeprefix(_BOM)
    if not text.strip():
        raise DatasetError(
            f"{url or 'The file'} is empty: there is no header line to read.",
            details={"reason": "empty"},
        )
    if b"\x00" in text:
        raise _not_csv(url, "it is binary data, not text")
    start = text.lstrip()[:1]
    if start == b"<":
        raise _web_page(url, "it starts with an HTML or XML tag")
    if start == b"{" or (start == b"[" and text.lstrip()[1:].lstrip()[:1] in (b"{", b"[", b"]")):
        raise _not_csv(url, "it is JSON, not CSV")
    whole, rows = _whole_records(text, complete)
    if not whole:
        raise _not_csv(
            url, f"there is no line break in its first {PREFIX_BYTES // 1024:,} KiB"
        )
    try:
        decoded = whole.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_csv(
            url, f"it is not UTF-8 text (byte {exc.start:,}); save it as UTF-8 CSV"
        ) from None
    separator = _separator(decoded, _prefers_tabs(url, mime))
    try:
        pl.read_csv(io.BytesIO(whole), separator=separator, infer_schema_length=None)
    except Exception as exc:  # noqa: BLE001 - Polars raises many types; all mean "not a CSV it can read"
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _not_csv(url, f"Polars could not read it as CSV ({message})") from None
    return CsvLayout(separator, compression, rows)


def count_rows(chunks: Iterable[bytes], *, compression: Compression | None = None) -> int:
    """The data rows of a CSV body (header excluded), as ``pl.scan_csv(...).select(pl.len())``.

    Polars' count: leading blank lines are skipped, the first line is the
    header, every other line break outside double quotes ends a row (blank
    lines too), and a last line without a break is a row.

    Raises
    ------
    DatasetError
        ``empty`` (no header line), or ``not_csv`` for a truncated gzip body.
    """
    counter = _RowCounter()
    for chunk in gunzip(chunks) if compression == "gzip" else chunks:
        counter.feed(chunk)
    return counter.rows()


def gunzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Decompress a gzip stream of one or more members, in bounded steps."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pending = False  # a member started and has not ended
    for chunk in chunks:
        data = chunk
        while data:
            try:
                out = decompressor.decompress(data, _DECOMPRESSED_CHUNK)
            except zlib.error as exc:
                raise DatasetError(
                    f"The gzip data is corrupt ({exc}).", details={"reason": "not_csv"}
                ) from None
            pending = True
            if out:
                yield out
            if decompressor.eof:  # the next member, if any, starts in unused_data
                data = decompressor.unused_data
                decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
                pending = False
            else:
                data = decompressor.unconsumed_tail
    if pending:
        raise DatasetError(
            "The gzip data ends in the middle: the download was cut off.",
            details={"reason": "not_csv"},
        )


# -- helpers -------------------------------------------------------------------------------


class _RowCounter:
    """Counts line breaks outside double quotes, chunk by chunk."""

    def __init__(self) -> None:
        self._started = False  # past the blank lines before the header
        self._quoted = False
        self._breaks = 0
        self._last = b""

    def feed(self, data: bytes) -> None:
        if not self._started:
            data = data.lstrip(b"\r\n")
            if not data:
                return
            self._started = True
        self._last = data[-1:]
        if b'"' not in data:
            if not self._quoted:
                self._breaks += data.count(b"\n")
            return
        # Only quotes and line breaks matter, and two quotes in a row cancel out
        # (done in C: a fully quoted CSV has two quotes per field).
        data = data.translate(None, _NOT_QUOTE_OR_BREAK).replace(b'""', b"")
        # Split on quotes: the pieces alternate outside / inside.
        parts = data.split(b'"')
        self._breaks += b"".join(parts[1 if self._quoted else 0 :: 2]).count(b"\n")
        if len(parts) % 2 == 0:
            self._quoted = not self._quoted

    def rows(self) -> int:
        if not self._started:
            raise DatasetError(
                "The file is empty: there is no header line.", details={"reason": "empty"}
            )
        lines = self._breaks + (0 if self._last == b"\n" else 1)
        return lines - 1


def _whole_records(text: bytes, complete: bool) -> tuple[bytes, int]:
    """``text`` up to its last record break outside quotes, and the data rows before it.

    The whole of ``text`` when it is the complete body.
    """
    start = len(text) - len(text.lstrip(b"\r\n"))
    cut = -1
    quoted = False
    offset = start
    for i, part in enumerate(text[start:].split(b'"')):
        if i:
            quoted = not quoted
            offset += 1  # the quote itself
        if not quoted:
            found = part.rfind(b"\n")
            if found >= 0:
                cut = offset + found
        offset += len(part)
    if complete:
        whole = text
    elif cut < 0:
        return b"", 0
    else:
        whole = text[: cut + 1]
    counter = _RowCounter()
    counter.feed(whole)
    return whole, max(counter.rows(), 0)


def _gunzip_prefix(prefix: bytes, complete: bool) -> tuple[bytes, bool]:
    """Decompress what a prefix of a gzip body holds (at most PREFIX_BYTES of text)."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        text = decompressor.decompress(prefix, PREFIX_BYTES)
    except zlib.error as exc:
        raise DatasetError(
            f"The gzip data is corrupt ({exc}).", details={"reason": "not_csv"}
        ) from None
    # The text is all there only if the (single-member) stream ended within the prefix.
    ended = complete and decompressor.eof and not decompressor.unused_data
    return text, ended


def _separator(text: str, prefers_tabs: bool) -> str:
    """The separator that splits the first records into the same number (> 1) of fields."""
    fits: dict[str, int] = {}
    for separator in SEPARATORS:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
        widths = {len(row) for row in itertools.islice(reader, _SNIFF_RECORDS) if row}
        if len(widths) == 1 and (width := widths.pop()) > 1:
            fits[separator] = width
    if prefers_tabs and "\t" in fits:
        return "\t"
    if fits:
        most = max(fits.values())
        return next(s for s in SEPARATORS if fits.get(s) == most)
    return ","  # one column, or rows Polars will refuse with its own message


def _prefers_tabs(url: str, mime: str) -> bool:
    path = urlsplit(url).path.lower() if url else ""
    return path.endswith(TSV_EXTENSIONS) or mime == "text/tab-separated-values"


def _not_csv(url: str, why: str) -> DatasetError:
    what = url or "The file"
    return DatasetError(
        f"Not a CSV or parquet file: {what} ({why}).", details={"reason": "not_csv"}
    )


def _web_page(url: str, why: str) -> DatasetError:
    hint = ""
    host = (urlsplit(url).hostname or "") if url else ""
    if host in ("github.com", "www.github.com") and "/blob/" in url:
        hint = " On GitHub, use the file's raw URL (the Raw button)."
    elif host:
        hint = " The link may need a sign-in, or point to a page about the file rather than to it."
    return DatasetError(
        f"Not a CSV or parquet file: {url or 'the URL'} returned a web page ({why}).{hint}",
        details={"reason": "not_csv"},
    )


__all__ = [
    "PREFIX_BYTES",
    "SEPARATORS",
    "CsvLayout",
    "count_rows",
    "gunzip",
    "is_parquet",
    "sniff_csv",
]

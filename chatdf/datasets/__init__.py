"""The dataset registry: URLs, local files and notebook frames, validated and named.

A source becomes a :class:`~chatdf.models.Dataset` only after every check
passed, so a failed :meth:`DatasetRegistry.add` leaves the registry as it was.

- http(s) URL: fetched only through :class:`chatdf.net.Egress`, which checks
  the scheme and the address it actually connects to on every hop and
  redirect. A HEAD, then a ranged GET of the first bytes: the ``PAR1`` magic
  only for a ``.parquet`` name, else the first MiB, which says what the file
  is (:mod:`chatdf.datasets.csvsniff`: parquet by its magic, or CSV/TSV, maybe gzip,
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

Modules: :mod:`.registry` (the registry), :mod:`.sources` (reading URLs and
files), :mod:`.frames` (notebook frames), :mod:`.names` (name rules and
defaults), :mod:`.csvsniff` (what a URL's first bytes are).
"""

from .frames import FINGERPRINT_CELLS, Namespace, is_frame, namespace_frames
from .names import MAX_NAME_LENGTH, RESERVED_WORDS, name_from_source, validate_name
from .registry import DatasetRegistry, Provenance
from .sources import (
    CSV_EXTENSIONS,
    DOWNLOAD_LIMIT,
    HEAD_TIMEOUT,
    PARQUET_EXTENSIONS,
    PARQUET_MAGIC,
    SCHEMA_TIMEOUT,
    TableKind,
)

__all__ = [
    "CSV_EXTENSIONS",
    "DOWNLOAD_LIMIT",
    "FINGERPRINT_CELLS",
    "HEAD_TIMEOUT",
    "MAX_NAME_LENGTH",
    "PARQUET_EXTENSIONS",
    "PARQUET_MAGIC",
    "RESERVED_WORDS",
    "SCHEMA_TIMEOUT",
    "DatasetRegistry",
    "Namespace",
    "Provenance",
    "TableKind",
    "is_frame",
    "name_from_source",
    "namespace_frames",
    "validate_name",
]

"""Query results on disk: Arrow IPC files a worker writes and the kernel maps.

A worker streams its result into an uncompressed Arrow IPC file (its
``sink_ipc``). The kernel keeps that file as the result's :class:`ResultFile`
for as long as the result is kept: it memory-maps the file and wraps the
mapped buffers as a Polars DataFrame without copying them, and a worker can
open the same file to sort or filter it for the grid. Pages are slices or
gathers of the mapping, so the kernel's heap never holds a whole result.

pyarrow maps every type except 128-bit integers; a result with one of those is
paged straight from the file (``scan_ipc`` reads only the batches a page
needs) and read whole only when a caller asks for the entire frame.

The file is deleted when its result is dropped (:meth:`ResultFile.remove`, or
when the handle is garbage collected); a mapping still held elsewhere stays
valid, as an unlinked file lives on until its last mapping goes.
"""

from __future__ import annotations

import contextlib
import os
import uuid
import weakref
from pathlib import Path

import polars as pl


def result_path(folder: Path) -> Path:
    """A fresh file name for one result in ``folder``."""
    return folder / f"result-{uuid.uuid4().hex}.arrow"


class ResultFile:
    """One result as the IPC file a worker wrote (uncompressed, by ``sink_ipc``).

    Parameters
    ----------
    path
        The file; it belongs to this handle from now on and is deleted with it.

    Attributes
    ----------
    path, size, schema, rows
        Where it is, its bytes on disk, its columns and its row count.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._finalizer = weakref.finalize(self, remove, self.path)
        try:
            self.size = self.path.stat().st_size
            self.schema = pl.Schema(pl.read_ipc_schema(self.path))
            self._mapped = _map(self.path, self.schema)
            if self._mapped is not None:
                self.rows = self._mapped.height
            else:
                self.rows = pl.scan_ipc(self.path).select(pl.len()).collect().item()
        except BaseException:
            self.remove()
            raise

    @property
    def mapped(self) -> pl.DataFrame | None:
        """The whole result over the mapped file, or None if pyarrow cannot map a column."""
        return self._mapped

    def read(self) -> pl.DataFrame:
        """The whole result: the mapping, or a copy in memory when there is none."""
        if self._mapped is not None:
            return self._mapped
        return pl.read_ipc(self.path)

    def slice(self, offset: int, length: int) -> pl.DataFrame:
        """Rows ``offset`` .. ``offset + length``, reading only what they need."""
        if self._mapped is not None:
            return self._mapped.slice(offset, length)
        return pl.scan_ipc(self.path).slice(offset, length).collect()

    def take(self, rows: pl.Series) -> pl.DataFrame:
        """The rows at the positions ``rows``, in that order."""
        if self._mapped is not None:
            return self._mapped[rows]
        if rows.is_empty():
            return pl.DataFrame(schema=self.schema)
        # Stream the file once, keep the wanted rows, then put them in the asked order.
        name = _fresh_name(self.schema, "__row")
        wanted = pl.DataFrame({name: rows.cast(pl.get_index_type())})
        found = (
            pl.scan_ipc(self.path, row_index_name=name)
            .filter(pl.col(name).is_in(wanted[name].implode()))
            .collect()
        )
        return wanted.join(found, on=name, how="left", maintain_order="left").drop(name)

    def remove(self) -> None:
        """Delete the file (idempotent); a mapping held elsewhere stays readable."""
        self._finalizer()

    @property
    def removed(self) -> bool:
        return not self._finalizer.alive


def read_result(path: Path | str) -> pl.DataFrame:
    """Map the IPC file at ``path`` as a DataFrame and delete the file.

    For small files that nothing needs to open again (the grid's row orders);
    every column type must be one pyarrow maps.
    """
    handle = ResultFile(path)
    try:
        frame = handle.mapped
        if frame is None:
            raise ValueError(f"{path} holds a column type pyarrow cannot map")
        return frame
    finally:
        handle.remove()


def _map(path: Path, expected: pl.Schema) -> pl.DataFrame | None:
    import pyarrow as pa
    import pyarrow.ipc

    try:
        with pa.memory_map(str(path)) as source:
            table = pa.ipc.open_file(source).read_all()
        frame = pl.from_arrow(table, rechunk=False)
    except pa.ArrowException:
        return None
    if not isinstance(frame, pl.DataFrame) or frame.schema != expected:
        return None  # a dtype pyarrow maps differently
    return frame


def _fresh_name(schema: pl.Schema, base: str) -> str:
    name = base
    while name in schema:
        name += "_"
    return name


def remove(path: Path | str) -> None:
    """Delete ``path`` if it exists; never raises."""
    with contextlib.suppress(OSError):
        os.unlink(path)

"""Query results in transit: Arrow IPC files a worker writes and the kernel maps.

A worker streams its result into an uncompressed Arrow IPC file (its
``sink_ipc``); the kernel memory-maps that file and wraps the mapped buffers
as a Polars DataFrame without copying them, then unlinks the file at once. The
mapping keeps the data alive for as long as the DataFrame lives, the name is
gone so nothing is left behind, and the kernel's memory grows by the result's
size, not twice that (``pl.read_ipc`` copies the buffers out of its mapping).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

import polars as pl


def result_path(folder: Path) -> Path:
    """A fresh file name for one result in ``folder``."""
    return folder / f"result-{uuid.uuid4().hex}.arrow"


def read_result(path: Path) -> pl.DataFrame:
    """Map the IPC file at ``path`` as a DataFrame and remove the file.

    Parameters
    ----------
    path
        A file written by ``LazyFrame.sink_ipc`` (uncompressed).

    Returns
    -------
    polars.DataFrame
        Backed by the mapped file where pyarrow can read every column type
        (it cannot read 128-bit integers); otherwise read by Polars.
    """
    try:
        return _map(path)
    finally:
        remove(path)


def _map(path: Path) -> pl.DataFrame:
    import pyarrow as pa
    import pyarrow.ipc

    expected = pl.read_ipc_schema(path)
    try:
        with pa.memory_map(str(path)) as source:
            table = pa.ipc.open_file(source).read_all()
        frame = pl.from_arrow(table, rechunk=False)
    except pa.ArrowException:
        frame = None
    if not isinstance(frame, pl.DataFrame) or frame.schema != pl.Schema(expected):
        # A dtype pyarrow does not know, or maps differently: let Polars read it (a copy).
        frame = pl.read_ipc(path)
    return frame


def remove(path: Path | str) -> None:
    """Delete ``path`` if it exists; never raises."""
    with contextlib.suppress(OSError):
        os.unlink(path)

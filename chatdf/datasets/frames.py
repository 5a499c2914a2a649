"""Notebook frames: which objects count, their fingerprints, and their IPC snapshots."""

from __future__ import annotations

import hashlib
import keyword
import sys
import weakref
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import DatasetError
from .names import validate_name
from .sources import _Loaded, _polars_message, _unlink

Namespace = MutableMapping[str, Any]
FINGERPRINT_CELLS = 2_000_000
"""Frames up to this many cells are hashed whole to notice in-place edits; larger
ones by an evenly spaced sample of rows (a single edited cell may go unnoticed:
``refresh`` then)."""


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

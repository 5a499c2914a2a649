"""Results cross from worker to kernel as memory-mapped Arrow IPC, types intact."""

from __future__ import annotations

import datetime as dt
import decimal
import gc
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from chatdf.engine.ipc import read_result, result_path


def every_type() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "i8": pl.Series([1, None], dtype=pl.Int8),
            "u64": pl.Series([1, 2**63], dtype=pl.UInt64),
            "f32": pl.Series([1.5, None], dtype=pl.Float32),
            "s": ["a", None],
            "b": [True, None],
            "bin": [b"x", None],
            "d": [dt.date(2024, 1, 1), None],
            "ts": [dt.datetime(2024, 1, 1, 1), None],
            "tstz": pl.Series([dt.datetime(2024, 1, 1, 1), None]).dt.replace_time_zone(
                "Europe/Paris"
            ),
            "tm": [dt.time(1, 2), None],
            "dur": [dt.timedelta(seconds=3), None],
            "dec": pl.Series([decimal.Decimal("1.23"), None], dtype=pl.Decimal(10, 2)),
            "cat": pl.Series(["x", "y"], dtype=pl.Categorical),
            "enum": pl.Series(["x", "y"], dtype=pl.Enum(["x", "y", "z"])),
            "lst": [[1, 2], None],
            "arr": pl.Series([[1, 2], [3, 4]], dtype=pl.Array(pl.Int64, 2)),
            "st": [{"a": 1, "b": "q"}, None],
            "nul": [None, None],
        }
    )


def write_like_a_worker(frame: pl.DataFrame, folder: Path) -> Path:
    path = result_path(folder)
    frame.lazy().sink_ipc(path, compression="uncompressed")
    return path


def test_every_column_type_survives_the_trip(tmp_path: Path) -> None:
    frame = every_type()
    back = read_result(write_like_a_worker(frame, tmp_path))
    assert back.schema == frame.schema
    assert_frame_equal(back, frame)


def test_types_pyarrow_cannot_map_are_read_by_polars(tmp_path: Path) -> None:
    frame = pl.DataFrame({"big": pl.Series([1, -(2**100)], dtype=pl.Int128)})
    assert_frame_equal(read_result(write_like_a_worker(frame, tmp_path)), frame)


def test_empty_results_keep_their_schema(tmp_path: Path) -> None:
    frame = every_type().clear()
    back = read_result(write_like_a_worker(frame, tmp_path))
    assert back.height == 0 and back.schema == frame.schema


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
def test_the_result_is_mapped_not_copied_and_its_file_is_gone(tmp_path: Path) -> None:
    frame = pl.DataFrame({"x": range(200_000), "s": [f"row {i}" for i in range(200_000)]})
    path = write_like_a_worker(frame, tmp_path)
    back = read_result(path)
    assert not path.exists()
    maps = Path("/proc/self/maps").read_text()
    assert f"{path} (deleted)" in maps  # the frame's buffers live in the unlinked file's pages
    assert_frame_equal(back, frame)
    del back
    gc.collect()  # in case a traceback or cycle elsewhere still holds the frame
    assert f"{path} (deleted)" not in Path("/proc/self/maps").read_text()

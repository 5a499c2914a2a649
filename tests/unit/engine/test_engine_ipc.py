"""Results cross from worker to kernel as memory-mapped Arrow IPC, types intact, and stay
on disk as the result's file until it is dropped; pages never copy a whole result."""

from __future__ import annotations

import datetime as dt
import decimal
import gc
import threading
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import psutil
import pytest
from polars.testing import assert_frame_equal

from chatdf.engine.ipc import ResultFile, read_result, result_path


def anon_mb() -> float:
    """This process's anonymous resident memory (its heap), in MiB."""
    info = psutil.Process().memory_info()
    return (info.rss - info.shared) / 2**20


def peak_growth_mb(work: Callable[[], object]) -> float:
    """How far the heap rose above where it was while ``work`` ran (sampled every 2 ms)."""
    start = peak = anon_mb()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, anon_mb())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        work()
    finally:
        done.set()
        sampler.join()
    return max(peak, anon_mb()) - start


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


def test_types_pyarrow_cannot_map_are_paged_from_the_file(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {"big": pl.Series([1, -(2**100), None, 7], dtype=pl.Int128), "s": ["a", "b", "c", "d"]}
    )
    handle = ResultFile(write_like_a_worker(frame, tmp_path))
    assert handle.mapped is None and handle.rows == 4 and handle.schema == frame.schema
    assert_frame_equal(handle.slice(1, 2), frame.slice(1, 2))
    assert_frame_equal(handle.take(pl.Series([3, 0, 1])), frame[[3, 0, 1]])
    assert_frame_equal(handle.take(pl.Series([], dtype=pl.UInt32)), frame.clear())
    assert_frame_equal(handle.read(), frame)  # the whole frame only when asked for


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_paging_a_large_int128_result_never_reads_it_whole(tmp_path: Path) -> None:
    rows = 5_000_000
    frame = pl.select(
        big=pl.int_range(rows, dtype=pl.Int128) * (2**70),
        s=pl.format("row {}", pl.int_range(rows)),
    )
    path = write_like_a_worker(frame, tmp_path)
    expected_page = frame.slice(4_000_000, 50)
    expected_rows = frame[[4_999_999, 3, 2_500_000]]
    del frame
    gc.collect()
    size_mb = path.stat().st_size / 2**20

    def page() -> None:
        handle = ResultFile(path)
        assert_frame_equal(handle.slice(4_000_000, 50), expected_page)
        assert_frame_equal(handle.take(pl.Series([4_999_999, 3, 2_500_000])), expected_rows)

    grown = peak_growth_mb(page)
    # A copy of the result would take at least its size on disk.
    assert size_mb > 150
    assert grown < size_mb / 2, f"paging took {grown:.0f} MB of heap for a {size_mb:.0f} MB result"


def test_the_file_stays_while_its_handle_lives_and_goes_with_it(tmp_path: Path) -> None:
    path = write_like_a_worker(every_type(), tmp_path)
    handle = ResultFile(path)
    assert path.exists() and handle.size == path.stat().st_size
    frame = handle.read()
    handle.remove()
    assert not path.exists() and handle.removed
    assert_frame_equal(frame, every_type())  # a frame handed out stays readable

    path = write_like_a_worker(every_type(), tmp_path)
    handle = ResultFile(path)
    del handle
    gc.collect()
    assert not path.exists()


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

"""The limit settings of issue #9: worker memory (auto / number / 0), priority, result sizes."""

from __future__ import annotations

import pytest

from chatdf import ChatDF
from chatdf.errors import ConfigError
from chatdf.settings import (
    AUTO_MEMORY_FLOOR_MB,
    auto_worker_memory_mb,
    load_settings,
    machine_memory_mb,
)


def test_auto_gives_each_worker_a_share_of_the_machine_with_a_floor():
    assert auto_worker_memory_mb(2, machine_mb=24 * 1024) == 6 * 1024  # the 2-core / 24 GB box
    assert auto_worker_memory_mb(1, machine_mb=16 * 1024) == 8 * 1024
    assert auto_worker_memory_mb(4, machine_mb=4 * 1024) == AUTO_MEMORY_FLOOR_MB
    assert auto_worker_memory_mb(64, machine_mb=64 * 1024) == AUTO_MEMORY_FLOOR_MB


def test_the_default_is_auto_and_the_limit_in_force_is_reported(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CHATDF_WORKER_MEMORY_MB", raising=False)
    settings = load_settings(workers=2)
    expected = auto_worker_memory_mb(settings.worker_count)
    assert settings.worker_memory_mb == expected
    assert expected >= min(machine_memory_mb() // (2 * settings.worker_count), AUTO_MEMORY_FLOOR_MB)
    chat = ChatDF(db_path=":memory:", workers=2)
    try:
        assert chat.settings.worker_memory_mb == expected  # chat.settings shows the number
    finally:
        chat.close()
    # Fewer workers, a bigger share each (unless the floor applies).
    assert load_settings(workers=1).worker_memory_mb >= expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("auto", "auto"), (" AUTO ", "auto"), ("3000", 3000), (3000, 3000), ("0", 0), (0, 0)],
)
def test_auto_a_number_or_zero_are_accepted(monkeypatch: pytest.MonkeyPatch, value, expected):
    auto = auto_worker_memory_mb(load_settings(workers=1).worker_count)
    want = auto if expected == "auto" else expected
    assert load_settings(workers=1, worker_memory_mb=value).worker_memory_mb == want
    monkeypatch.setenv("CHATDF_WORKER_MEMORY_MB", str(value))
    assert load_settings(workers=1).worker_memory_mb == want


@pytest.mark.parametrize("value", ["lots", "-5", "2GB", -1])
def test_other_memory_values_name_the_variable_and_the_choices(value):
    with pytest.raises(ConfigError, match="CHATDF_WORKER_MEMORY_MB"):
        load_settings(worker_memory_mb=value)


def test_other_limits_have_their_defaults_and_bounds():
    settings = load_settings()
    assert (settings.worker_nice, settings.result_cache_mb, settings.max_result_mb) == (0, 512, 2048)
    with pytest.raises(ConfigError, match="CHATDF_WORKER_NICE"):
        load_settings(worker_nice=20)
    with pytest.raises(ConfigError, match="CHATDF_RESULT_CACHE_MB"):
        load_settings(result_cache_mb=-1)
    with pytest.raises(ConfigError, match="CHATDF_MAX_RESULT_MB"):
        load_settings(max_result_mb="huge")

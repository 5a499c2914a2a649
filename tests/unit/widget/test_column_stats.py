"""The schema dialog's column stats: null counts and samples, from guarded worker queries."""

from __future__ import annotations

import polars as pl
from _widget_helpers import Browser  # type: ignore[import-not-found]

from chatdf import ChatDF


def test_null_counts_and_sample_values_per_column(chat: ChatDF, browser: Browser):
    chat.add(
        pl.DataFrame({"city": ["Oslo", None, "Oslo", "Lima", "Rome"], "fare": [1.5, None, None, 2.0, 3.25]}),
        name="trips",
    )
    stats = browser.result("column_stats", name="trips")["columns"]
    assert stats == [
        {"name": "city", "nulls": 1, "samples": ["Oslo", "Lima", "Rome"]},
        {"name": "fare", "nulls": 2, "samples": ["1.5", "2.0", "3.25"]},
    ]


def test_odd_column_names_are_quoted_and_an_unknown_dataset_is_a_clear_error(chat: ChatDF, browser: Browser):
    chat.add(pl.DataFrame({"select": [1, None], 'a "b"': ["x", "y"]}), name="odd")
    stats = browser.result("column_stats", name="odd")["columns"]
    assert [(s["name"], s["nulls"]) for s in stats] == [("select", 1), ('a "b"', 0)]
    error = browser.error("column_stats", name="nope")
    assert error["error_type"] == "DatasetError"

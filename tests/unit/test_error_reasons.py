"""Errors the front end acts on carry a machine-readable ``details.reason``."""

from __future__ import annotations

import pytest

from chatdf.errors import QueryError
from chatdf.export import pick_result


def test_exporting_a_result_that_is_not_kept_says_why_in_details() -> None:
    with pytest.raises(QueryError, match="no longer kept") as info:
        pick_result({}, "r-gone")
    assert info.value.details == {"reason": "unknown_result", "result_id": "r-gone"}

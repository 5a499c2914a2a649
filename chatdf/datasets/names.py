"""Dataset names: the rules a name follows and the default a source suggests."""

from __future__ import annotations

import os
import re
import unicodedata
from typing import Any
from urllib.parse import urlsplit

from ..errors import DatasetError
from ..limits import MAX_NAME_LENGTH, NAME_PATTERN
from ..net import is_url

_NAME = re.compile(NAME_PATTERN)
_DEFAULT_PREFIX = "table"
"""Frames (and sources that suggest no name) are called table1, table2, ..."""
_NAME_ROOM = 4
"""Characters a default name leaves free under MAX_NAME_LENGTH for ``_2``, ``_3``, ..."""
_GLOB_PATTERN = re.compile(r"\[[^\]]*\]|\{[^}]*\}|[*?]")
_NAME_SUFFIXES = (
    *(".parquet", ".pq", ".parq", ".csv", ".tsv", ".txt", ".arrow", ".ipc", ".feather"),
    *(".gz", ".bz2", ".xz", ".zst", ".zstd", ".lz4", ".snappy"),
)
"""File extensions a default name leaves out (``trips.csv.gz`` -> ``trips``)."""
# Words that confuse SQL parsers (ours is sqlglot, the executor is Polars) or
# the model when used as a table name: the SQL standard's core reserved words
# plus every keyword sqlglot refuses in FROM position.
RESERVED_WORDS = frozenset(
    """
    all alter and any anti array as asc between both by case cast check collate column
    constraint create cross current_date current_time current_timestamp current_user
    default delete desc describe distinct drop else end except exists explain false
    fetch filter for foreign from full glob grant group having ilike in inner insert
    intersect interval into is join lateral leading left like limit natural not notnull
    null offset on only or order outer over partition pivot primary qualify references
    regexp returning revoke right rlike rollback rows select semi set show similar some
    straight_join table tablesample then to trailing true truncate uncache union unique
    unnest unpivot update using values when where window with xor
    """.split()  # noqa: SIM905 - a word list reads better than quoted strings
)


def validate_name(name: str) -> str:
    """Return ``name`` (stripped) if it can be a SQL table name, else raise DatasetError."""
    if not isinstance(name, str):
        raise DatasetError(f"A dataset name must be text, not {type(name).__name__}.")
    name = name.strip()
    if not _NAME.match(name):
        hint = re.sub(r"\W", "_", name) or "my_table"
        if hint[0].isdigit():
            hint = f"t_{hint}"
        raise DatasetError(
            f"Invalid dataset name '{name}': use letters, digits and underscores, "
            f"not starting with a digit (e.g. {hint}).",
            details={"name": name},
        )
    if len(name) > MAX_NAME_LENGTH:
        raise DatasetError(
            f"Invalid dataset name: at most {MAX_NAME_LENGTH} characters ({len(name)} given).",
            details={"name": name},
        )
    if name.lower() in RESERVED_WORDS:
        raise DatasetError(
            f"Invalid dataset name '{name}': it is a SQL keyword. Try {name.lower()}_data.",
            details={"name": name},
        )
    return name


def name_from_source(source: Any) -> str | None:
    """The table name a URL, path or glob suggests; None when it suggests none (frames too).

    The file name without its extensions and glob patterns, lowercased, accents
    dropped, other characters turned into ``_`` and repeated ``_`` collapsed;
    when that is empty or starts with a digit, the parent folder's name goes in
    front. ``https://host/trips.parquet?v=2`` -> ``trips``, ``data/2024-*.csv``
    -> ``data_2024``, ``data/*.parquet`` -> ``data``, ``Q1 Sales.csv`` -> ``q1_sales``.
    """
    if not isinstance(source, (str, os.PathLike)):
        return None
    text = os.fspath(source).strip()
    if is_url(text):
        text = urlsplit(text).path  # the query and the fragment are not part of the name
    parts = [part for part in re.split(r"[/\\]+", text) if part]
    if not parts:
        return None
    name = _identifier(_without_suffixes(parts[-1]))
    if (not name or name[0].isdigit()) and len(parts) > 1:
        name = _identifier(f"{_GLOB_PATTERN.sub('', parts[-2])}_{name}")
    if not name or name[0].isdigit():
        return None
    return name[: MAX_NAME_LENGTH - _NAME_ROOM].rstrip("_")


def _without_suffixes(filename: str) -> str:
    name = _GLOB_PATTERN.sub("", filename)
    while True:
        suffix = next((s for s in _NAME_SUFFIXES if name.lower().endswith(s)), None)
        if suffix is None:
            return name
        name = name[: -len(suffix)]


def _identifier(text: str) -> str:
    """``text`` as lowercase ASCII letters, digits and single underscores (none at the ends)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")

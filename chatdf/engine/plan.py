"""The plan check: a query may read the registered datasets' sources and nothing else.

The SQL guard checks text; this checks what Polars will actually do. Before a
query is collected, its optimized plan is walked node by node (Polars'
``NodeTraverser``) and every node that reads data must read a source that one
of the registered frames reads too: the same file, glob match or URL in the
same format, or the same Python scan function. Rows held in memory must be
the registered frames' own or literals written in the query (``VALUES``,
``SELECT 'a'``): Polars answers ``EXPLAIN`` and ``DESCRIBE`` with in-memory
rows built from the schemas of files the query names, so rows whose text is
not in the query are refused. Anything the walk cannot see or does not know,
it refuses: a new Polars may add node kinds that read data, and a check that
passes what it does not understand is no check.

Polars 2.1's traverser cannot show IPC scans (it raises "ipc scan"). For
those only, the sources are read from ``explain()``: every IPC scan line there
must equal, character for character, a line that a registered IPC frame's own
``explain()`` prints, and there must be at least as many such lines as IPC
scans in the plan.

This module imports only the standard library: the worker loads it by file
path (it must not import the chatdf package) and the kernel imports it
normally. It works on any object with Polars' LazyFrame API.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any

# Nodes that only transform rows their inputs produced.
_OPERATORS = frozenset(
    {
        "Cache",
        "Distinct",
        "ExtContext",
        "Filter",
        "GroupBy",
        "HConcat",
        "HStack",
        "Join",
        "MergeSorted",
        "Reduce",
        "Select",
        "SimpleProjection",
        "Slice",
        "Sort",
        "Union",
    }
)
# MapFunction kinds that reshape rows and read nothing ("fast_count" reads files).
_MAP_FUNCTIONS = frozenset({"unnest", "rechunk", "explode", "unpivot", "row_index", "hint_sorted"})
# Nodes the traverser will not show but whose inputs are the only data they use.
_UNSHOWN_OPERATORS = ("nested loop join", "asof join", "apply inside GroupBy")
_IPC = "ipc scan"


class PlanRefused(Exception):
    """The plan reads something that is not a registered dataset's source.

    Attributes
    ----------
    message
        What was refused, for the user or the model.
    details
        ``reason`` (machine-readable) and, when known, ``source``.
    """

    def __init__(self, message: str, reason: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = {"reason": reason, **details}


@dataclasses.dataclass
class Sources:
    """What a plan reads."""

    files: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    """(format, path or URL) of every file scan."""
    functions: list[Any] = dataclasses.field(default_factory=list)
    """Scan functions of Python scans (compared by identity)."""
    ipc_scans: int = 0
    """IPC scans, which the traverser cannot show (see :func:`_ipc_lines`)."""
    ipc_lines: set[str] = dataclasses.field(default_factory=set)
    """The ``explain()`` lines of those IPC scans (registered frames only)."""
    frames: list[Any] = dataclasses.field(default_factory=list)
    """In-memory rows (polars DataFrames) of the plan's DataFrameScan nodes."""

    def merge(self, other: Sources) -> None:
        self.files |= other.files
        self.functions += [f for f in other.functions if not _holds(self.functions, f)]
        self.ipc_scans += other.ipc_scans
        self.ipc_lines |= other.ipc_lines
        self.frames += other.frames


def allowed_sources(frames: Iterable[Any]) -> Sources:
    """The sources the registered ``frames`` (LazyFrames) read.

    Raises
    ------
    PlanRefused
        A registered frame itself cannot be inspected.
    """
    allowed = Sources()
    for frame in frames:
        found = read_sources(frame)
        if found.ipc_scans:
            found.ipc_lines = _ipc_lines(frame)
        allowed.merge(found)
    return allowed


def check_plan(query: Any, allowed: Sources, sql: str) -> None:
    """Refuse ``query`` (a LazyFrame) unless everything it reads is in ``allowed``.

    ``sql`` is the text the query was built from: in-memory rows in the plan
    must be a registered frame's or literals written in it.

    Raises
    ------
    PlanRefused
        With ``details["reason"]`` one of ``unregistered_source``,
        ``in_memory_source``, ``python_source``, ``unknown_node`` or
        ``plan_unavailable``.
    """
    found = read_sources(query)
    for frame in found.frames:
        if not _written_in(frame, sql) and not any(_same(frame, f) for f in allowed.frames):
            raise PlanRefused(
                "The query makes rows that are neither a registered table's nor written in "
                "the query (EXPLAIN or DESCRIBE output, for instance); only SELECT queries "
                "over the registered tables are run.",
                "in_memory_source",
            )
    for kind, path in sorted(found.files - allowed.files):
        known_paths = {p for _, p in allowed.files}
        what = (
            f"a {kind} file outside the registered datasets"
            if path not in known_paths
            else f"a registered file as {kind}"
        )
        # A glob's matches are not named: that would list a folder for the model.
        named = _short(path) if path in sql else "matched by a pattern in the query"
        raise PlanRefused(
            f"The query reads {what} ({named}); query the registered tables by name.",
            "unregistered_source",
            source=named,
        )
    for function in found.functions:
        if not _holds(allowed.functions, function):
            raise PlanRefused(
                "The query reads data through a Python function that is not a registered "
                "dataset's.",
                "python_source",
            )
    if found.ipc_scans:
        _check_ipc(query, found.ipc_scans, allowed.ipc_lines, sql)


def read_sources(frame: Any) -> Sources:
    """Walk ``frame``'s optimized plan and collect what it reads.

    Raises
    ------
    PlanRefused
        A node that reads data in a way that can never be allowed (a buffer,
        a Python function in the middle of a plan), one the walk does not
        know, or no way to walk the plan at all.
    """
    # Resolve schemas first, with the GIL released (visit() keeps it while it
    # reads a remote footer); visit() then finds them cached.
    frame.collect_schema()
    traverser: Any = getattr(getattr(frame, "_ldf", None), "visit", lambda: None)()
    if not all(hasattr(traverser, m) for m in ("get_node", "get_inputs", "view_current_node")):
        raise PlanRefused(
            "This version of Polars does not let chatdf inspect query plans, so queries "
            "cannot be checked and are refused.",
            "plan_unavailable",
        )
    found = Sources()
    seen: set[int] = set()
    stack = [traverser.get_node()]
    while stack:
        index = stack.pop()
        if index in seen:  # a cached subplan shared by two branches
            continue
        seen.add(index)
        traverser.set_node(index)
        try:
            node = traverser.view_current_node()
        except NotImplementedError as exc:
            _unshown(str(exc), found)
        else:
            _note(node, found, traverser)
        stack.extend(traverser.get_inputs())
    return found


# -- one node ------------------------------------------------------------------


def _note(node: Any, found: Sources, traverser: Any) -> None:
    kind = type(node).__name__
    if kind in _OPERATORS:
        return  # rows from its inputs
    if kind == "DataFrameScan":
        import polars as pl

        found.frames.append(pl.DataFrame._from_pydf(node.df))
        return
    if kind == "Scan":
        found.files |= {(str(node.scan_type[0]), str(path)) for path in node.paths}
        return
    if kind == "PythonScan":
        found.functions.append(node.options[0])
        return
    if kind == "MapFunction":
        function = node.function
        name = function[0] if isinstance(function, tuple) and function else None
        if name == "fast_count":  # COUNT(*) answered from the files themselves
            _, paths, scan_type, *_ = function
            found.files |= {(str(scan_type[0]), str(path)) for path in paths}
            return
        if name in _MAP_FUNCTIONS:
            return
        raise _unknown(f"map function {name or function!r}", traverser)
    raise _unknown(f"plan node {kind}", traverser)


def _unshown(message: str, found: Sources) -> None:
    """A node the traverser would not show; ``message`` says which kind it is."""
    if message == _IPC:
        found.ipc_scans += 1
    elif message.startswith(_UNSHOWN_OPERATORS):
        return
    elif "BytesIO" in message:
        raise PlanRefused(
            "The query reads in-memory file data that is not a registered dataset.",
            "in_memory_source",
        )
    elif "python" in message.lower() or "opaque" in message:
        raise PlanRefused(
            f"The query runs a function chatdf cannot inspect ({message}).", "python_source"
        )
    else:
        raise PlanRefused(
            f"The query plan has a step chatdf cannot inspect ({message}); it is refused "
            "rather than run unchecked.",
            "unknown_node",
            node=message,
        )


def _unknown(what: str, traverser: Any) -> PlanRefused:
    return PlanRefused(
        f"The query plan has a step chatdf does not know ({what}, Polars IR version "
        f"{_version(traverser)}); it is refused rather than run unchecked.",
        "unknown_node",
        node=what,
    )


# -- IPC scans, through explain() ------------------------------------------------------

_SCAN_LINE = re.compile(r"^\s*(\w+ SCAN \[)")


def _ipc_lines(frame: Any) -> set[str]:
    """The IPC scan lines of a registered frame's ``explain()``, stripped."""
    lines = set()
    for line in frame.explain().splitlines():
        match = _SCAN_LINE.match(line)
        if match and match.group(1).lower().startswith("ipc"):
            lines.add(line.strip())
    return lines


def _check_ipc(query: Any, scans: int, allowed: set[str], sql: str) -> None:
    """Every IPC scan line in the plan's ``explain()`` must be a registered one.

    A line is accepted only if it equals a registered frame's line exactly,
    and the lines must cover every IPC scan the traverser counted.
    """
    prefixes = {line.split("[", 1)[0] + "[" for line in allowed} or {"Ipc SCAN ["}
    matched = 0
    for line in query.explain().splitlines():
        text = line.strip()
        if not any(prefix.lower() in text.lower() for prefix in prefixes | {"ipc scan ["}):
            continue
        if text not in allowed:
            paths = text.split("[", 1)[-1].rstrip("]")
            named = _short(paths) if paths in sql else "matched by a pattern in the query"
            raise PlanRefused(
                f"The query reads an Arrow IPC file outside the registered datasets ({named}); "
                "query the registered tables by name.",
                "unregistered_source",
            )
        matched += 1
    if matched < scans:
        raise PlanRefused(
            "The query reads Arrow IPC data chatdf could not match to a registered dataset; "
            "it is refused rather than run unchecked.",
            "unknown_node",
        )


# -- in-memory rows -------------------------------------------------------------------------

_MAX_LITERALS = 10_000


def _written_in(frame: Any, sql: str) -> bool:
    """True when every text value of ``frame`` is written in ``sql`` (a literal)."""
    import polars as pl

    columns = list(frame.iter_columns())
    values = 0
    while columns:
        column = columns.pop()
        dtype = column.dtype
        if isinstance(dtype, (pl.List, pl.Array)):
            columns.append(column.explode())
        elif isinstance(dtype, pl.Struct):
            columns.extend(column.struct.unnest().iter_columns())
        elif dtype.is_numeric() or dtype.is_temporal() or dtype in (pl.Boolean, pl.Null):
            continue
        else:
            try:
                texts = column.drop_nulls().unique().cast(pl.String).to_list()
            except Exception:  # noqa: BLE001 - a type with no text form: not a literal
                return False
            values += len(texts)
            if values > _MAX_LITERALS:
                return False
            unquoted = sql.replace("''", "'")
            if any(text not in sql and text not in unquoted for text in texts):
                return False
    return True


def _same(frame: Any, other: Any) -> bool:
    return frame.schema == other.schema and frame.equals(other)


# -- errors raised while the plan is built -----------------------------------------------

_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'')


def redact(message: str, known: Iterable[str], sql: str = "") -> str:
    """``message`` with every quoted name that is not ``known`` (or in ``sql``) blanked.

    Building a plan reads the schema of every source the query names, the
    unchecked ones included: a CSV's header line becomes its column names,
    and Polars quotes those in errors ("valid columns: [...]"). An error from
    before :func:`check_plan` passed goes through this, so a header of a file
    the query may not read never reaches the model.
    """
    names = set(known)

    def keep(match: re.Match[str]) -> str:
        inner = match.group(1) if match.group(1) is not None else match.group(2)
        if inner in names or (inner and inner in sql):
            return match.group(0)
        quote = match.group(0)[0]
        return f"{quote}…{quote}"

    return _QUOTED.sub(keep, message)


# -- helpers -----------------------------------------------------------------------------


def _holds(functions: list[Any], function: Any) -> bool:
    return any(f is function for f in functions)


def _version(traverser: Any) -> str:
    try:
        return ".".join(str(part) for part in traverser.version())
    except Exception:  # noqa: BLE001 - only for a message
        return "unknown"


def _short(text: str, limit: int = 200) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit] + "…"


__all__ = ["PlanRefused", "Sources", "allowed_sources", "check_plan", "read_sources", "redact"]

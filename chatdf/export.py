"""Results into the notebook: frames bound to variables, and code that recreates them.

A kept :class:`~chatdf.models.QueryResult` is handed to the user's namespace
without running anything again, as a polars or pandas DataFrame, or as a
LazyFrame that re-runs the query over the original sources each time it is
collected (so it follows the data as it changes). :func:`code_for` writes the
same recipe as standalone Polars code: scan the sources, run the SQL through
``pl.SQLContext``.

Both re-run SQL in the kernel, not in a worker, so they get the same two
checks as a query in a worker: the SQL is text generated from the guard's
checked tree (never the raw query), and the query's plan must read the
result's sources and nothing else before it is handed over.
"""

from __future__ import annotations

import builtins
import contextlib
import keyword
import sys
import types
import unicodedata
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, Literal, get_args

import polars as pl

from .datasets import Provenance, is_frame
from .engine import guard
from .engine.base import RemoteRows
from .engine.plan import PlanRefused, allowed_sources, check_plan, redact
from .engine.sqlguard import GuardedQuery, to_polars_sql
from .errors import ChatDFError, ExportError, QueryError
from .models import CsvOptions, QueryResult
from .net.proxy import POLARS_STORAGE_OPTIONS

ExportTarget = Literal["polars", "pandas", "lazy"]
EXPORT_TARGETS: tuple[str, ...] = get_args(ExportTarget)

Sources = Callable[[str], Provenance]
"""Looks a dataset name up: :meth:`chatdf.datasets.DatasetRegistry.provenance`."""


def user_namespace() -> MutableMapping[str, Any]:
    """The notebook's variables: IPython's ``user_ns``, else ``__main__``'s globals."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        return shell.user_ns
    return vars(sys.modules["__main__"])


def pick_result(
    results: Mapping[str, QueryResult], result: str | QueryResult | None = None
) -> QueryResult:
    """The result meant by ``result``: a kept result's id, a QueryResult, or None for the latest.

    Raises
    ------
    QueryError
        No result yet, or the id is not (or no longer) kept.
    """
    if isinstance(result, QueryResult):
        return result
    if result is None:
        if not results:
            raise QueryError(
                "There is no result yet: ask a question or run chat.sql(...) first.", "validation"
            )
        return next(reversed(list(results.values())))
    if not isinstance(result, str):
        raise QueryError(
            f"Give a result id, a QueryResult or None, not a {type(result).__name__}.", "validation"
        )
    if result not in results:
        raise QueryError(
            f"Result {result!r} is no longer kept; run its SQL again.",
            "validation",
            details={"reason": "unknown_result", "result_id": result},
        )
    return results[result]


DEFAULT_OUTPUT = "_chatdf"
"""Where the ``%%chatdf`` magics put a result: the one ``_`` name chatdf binds."""


def check_variable_name(name: Any) -> str:
    """``name`` if chatdf may bind a notebook variable called that; an ExportError saying why not.

    Refused: anything that is not a Python identifier, keywords, names of
    builtins (``print``, ``list``...; binding one breaks later cells), names
    starting with ``_`` (IPython's and Python's own: ``__builtins__``, ``_``,
    ``_i1``...; :data:`DEFAULT_OUTPUT` excepted) and names that Python code
    would read as another name (``\uff50rint`` is ``print`` in a cell).
    ``details["reason"]`` says which.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ExportError(
            f"{_shown(name)} is not a valid Python variable name: use letters, digits and "
            f"underscores, not starting with a digit (e.g. {_hint(name)}).",
            details={"reason": "invalid_name", "name": _shown(name)},
        )
    normal = unicodedata.normalize("NFKC", name)
    if normal != name:
        # Python normalises identifiers in source code: a cell could never reach this key.
        raise ExportError(
            f"'{name}' reads as '{normal}' in Python code; type the name with plain "
            f"characters (e.g. {_hint(normal)}).",
            details={"reason": "not_normalized", "name": name},
        )
    if keyword.iskeyword(name):
        raise ExportError(
            f"'{name}' is a Python keyword; choose another name (e.g. {name}_df).",
            details={"reason": "keyword", "name": name},
        )
    if name.startswith("_") and name != DEFAULT_OUTPUT:
        raise ExportError(
            f"'{name}' starts with '_': such names belong to Python and IPython; choose "
            f"another name (e.g. {_hint(name)}).",
            details={"reason": "private", "name": name},
        )
    if hasattr(builtins, name):
        raise ExportError(
            f"'{name}' is a Python builtin; binding it would break later cells that use it. "
            f"Choose another name (e.g. {name}_df).",
            details={"reason": "builtin", "name": name},
        )
    return name


def check_replace(
    namespace: Mapping[str, Any], name: str, *, overwrite: bool = False, ask: bool = False
) -> None:
    """Refuse to bind ``name`` over a variable the user may still need.

    A frame may replace a frame (exporting again is the common case); any
    other value stays unless ``overwrite``. With ``ask`` (the widget, whose
    user cannot see the namespace) every existing variable is refused, so the
    browser can confirm first and send again with ``overwrite``.

    Raises
    ------
    ExportError
        ``details["reason"] == "exists"``, with ``holds``: the kind of value.
    """
    if overwrite or name not in namespace:
        return
    held = namespace[name]
    if is_frame(held) and not ask:
        return
    holds = _kind(held)
    message = f"'{name}' holds a {holds}; "
    message += (
        "replace it?"
        if ask
        else "exporting would replace it. Choose another name, or pass overwrite=True."
    )
    raise ExportError(message, details={"reason": "exists", "name": name, "holds": holds})


def result_frame(result: QueryResult, to: str, sources: Sources) -> Any:
    """The result as a polars DataFrame, a pandas DataFrame or a live LazyFrame.

    Parameters
    ----------
    result
        A kept result.
    to
        ``"polars"`` (the rows as they are, nothing re-run), ``"pandas"`` (a
        converted copy) or ``"lazy"`` (re-runs the SQL over the sources on
        every ``collect()``).
    sources
        Where each dataset's rows come from, by name (needed for ``"lazy"``).
    """
    if isinstance(result, RemoteRows):  # rows on a cluster: pulled, capped, or left there
        return result.export(to)
    if to == "polars":
        return result.data.clone()  # the user's in-place edits must not reach the kept result
    if to == "pandas":
        try:
            import pandas  # noqa: F401
        except ImportError:
            raise ChatDFError(
                "Exporting to pandas needs pandas: pip install pandas (or use to='polars')."
            ) from None
        return result.data.to_pandas()
    if to == "lazy":
        return lazy_result(result, sources)
    raise ChatDFError(
        f"Unknown export target {to!r}; use one of: {', '.join(EXPORT_TARGETS)}.",
        details={"to": to},
    )


def export_result(
    namespace: MutableMapping[str, Any],
    name: str,
    result: QueryResult,
    *,
    to: str = "polars",
    sources: Sources,
    overwrite: bool = False,
) -> Any:
    """Bind ``result`` to ``namespace[name]`` (see :func:`result_frame`) and return the value.

    The name is checked (:func:`check_variable_name`, :func:`check_replace`)
    and nothing is bound unless the conversion succeeded.
    """
    name = check_variable_name(name)
    check_replace(namespace, name, overwrite=overwrite)
    value = result_frame(result, to, sources)
    namespace[name] = value
    return value


def lazy_result(result: QueryResult, sources: Sources) -> pl.LazyFrame:
    """A LazyFrame that runs the result's SQL over its sources when collected.

    Files and URLs are scanned again (a URL through the session's egress proxy,
    so only while the session is open); a notebook frame is read as it is at
    collect time (its variable looked up again), so the frame stays live.
    """
    return _checked_query(result, sources, _ran(result).sql)


def code_for(result: QueryResult, sources: Sources) -> str:
    """Standalone Polars code that recreates ``result`` without chatdf.

    Files and URLs are scanned where they are; a notebook frame is used
    through the variable that holds it. The last line evaluates to the
    frame, so the code also works as a notebook cell.
    """
    if isinstance(result, RemoteRows):  # PySpark code for a cluster's result
        return result.code()
    provenance = _provenance(result, sources)
    sql = to_polars_sql(_ran(result).tree, pretty=True)
    _checked_query(result, sources, sql)  # what the code will run passes the plan check
    rows, cols = result.total_rows, len(result.columns)
    lines = [
        f"# Recreates a chatdf result ({rows:,} rows × {cols} columns) with Polars alone.",
        "import polars as pl",
        "",
        "ctx = pl.SQLContext()",
    ]
    for name, source in provenance.items():
        lines += _register_code(name, source)
    lines += [
        f"query = {_string_literal(sql)}",
        "result = ctx.execute(query).collect()",
        "result",
    ]
    return "\n".join(lines) + "\n"


# -- helpers ------------------------------------------------------------------


def _ran(result: QueryResult) -> GuardedQuery:
    """The Polars SQL the result ran (after the dialect layer), checked again."""
    if result.polars_sql:
        return guard(result.polars_sql, result.tables, dialect=False)
    return guard(result.sql, result.tables)


def _provenance(result: QueryResult, sources: Sources) -> dict[str, Provenance]:
    found = {}
    for name in result.tables:
        try:
            found[name] = sources(name)
        except ChatDFError:
            raise ChatDFError(
                f"This result read '{name}', which is no longer loaded; add it again, or export "
                "the rows themselves (to='polars').",
                details={"name": name},
            ) from None
    return found


def _shown(name: Any) -> str:
    """A name as an error message quotes it: short, and never a huge repr."""
    text = repr(name) if isinstance(name, str) else str(name)
    return text if len(text) <= 60 else text[:57] + "..."


def _hint(name: Any) -> str:
    """A usable variable name close to ``name``, for error messages."""
    if not isinstance(name, (str, int)) or isinstance(name, bool):
        return "result"
    text = str(name)
    hint = "".join(c if c.isalnum() and c.isascii() else "_" for c in text[:40]).strip("_")
    if hint[:1].isdigit():
        hint = f"df_{hint}"
    if not hint.isidentifier() or keyword.iskeyword(hint) or hasattr(builtins, hint):
        return "result" if not hint.isidentifier() else f"{hint}_df"
    return hint


def _kind(value: Any) -> str:
    """What a variable holds, as a user would say it: ``module``, ``function``, ``int``..."""
    if isinstance(value, types.ModuleType):
        return "module"
    if isinstance(value, types.FunctionType):
        return "function"
    if is_frame(value):  # "polars DataFrame", "pandas DataFrame", "pyarrow Table"
        return f"{type(value).__module__.split('.')[0]} {type(value).__name__}"
    return type(value).__name__


def _checked_query(result: QueryResult, sources: Sources, sql: str) -> pl.LazyFrame:
    """``sql`` over the result's sources, refused unless its plan reads only them."""
    frames = {name: _scan(source) for name, source in _provenance(result, sources).items()}
    query = pl.SQLContext(frames).execute(sql, eager=False)
    try:
        check_plan(query, allowed_sources(frames.values()), sql)
    except PlanRefused as exc:
        raise QueryError(exc.message, "validation", details=exc.details) from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        # Building the plan read the schema of every source it names, checked or not.
        message = str(exc).split("\n\nResolved plan until failure")[0].strip()
        message = redact(message, _names(frames), sql)
        raise QueryError(f"The query could not be planned again: {message}", "sql") from None
    return query


def _names(frames: Mapping[str, pl.LazyFrame]) -> set[str]:
    names = set(frames)
    for frame in frames.values():
        with contextlib.suppress(Exception):
            names.update(frame.collect_schema().names())
    return names


def _scan(source: Provenance) -> pl.LazyFrame:
    """The source scanned as a worker scans it (the same kind, location and CSV options)."""
    if source.kind == "frame":
        current = source.current
        assert current is not None  # every frame provenance has one
        return pl.defer(current, schema=lambda: current().schema)
    kind = source.scan_kind or source.kind
    location = source.scan_location or source.location
    assert location is not None  # every file and URL provenance has one
    csv = source.csv.scan_arguments() if source.csv is not None else {}
    if kind == "url":
        # Through the session's egress proxy, never the remote host itself.
        if source.csv is not None:
            return pl.scan_csv(location, **csv, storage_options=dict(POLARS_STORAGE_OPTIONS))
        return pl.scan_parquet(location, storage_options=POLARS_STORAGE_OPTIONS)
    if kind == "parquet":
        return pl.scan_parquet(location)
    return pl.scan_csv(location, **csv)


def _register_code(name: str, source: Provenance) -> list[str]:
    if source.kind == "url" and source.csv is not None:
        return _csv_url_code(name, source)
    if source.kind in ("url", "parquet"):
        return [f"ctx.register({name!r}, pl.scan_parquet({source.location!r}))"]
    if source.kind == "csv":
        return [f"ctx.register({name!r}, pl.scan_csv({source.location!r}))"]
    if source.variable is not None:
        return [f"ctx.register({name!r}, {source.variable})"]
    # No single variable holds the frame, so the reader has to name it.
    return [
        f"# {name}: the in-memory DataFrame added to chatdf as {name!r}",
        f"ctx.register({name!r}, {name})",
    ]


def _csv_url_code(name: str, source: Provenance) -> list[str]:
    """A CSV URL read with the separator and type inference chatdf used."""
    assert source.csv is not None
    defaults = CsvOptions()
    arguments = "".join(
        f", {key}={value!r}"
        for key, value in source.csv.scan_arguments().items()
        if value != getattr(defaults, key)
    )
    if source.byte_ranges:
        return [f"ctx.register({name!r}, pl.scan_csv({source.location!r}{arguments}))"]
    # Polars reads URLs with HTTP byte ranges, which this server does not serve.
    return [
        f"# {name}: its server sends no byte ranges, so Polars cannot scan it; read it whole",
        "import urllib.request",
        "",
        f"with urllib.request.urlopen({source.location!r}) as response:",
        f"    ctx.register({name!r}, pl.read_csv(response.read(){arguments}).lazy())",
    ]


def _string_literal(text: str) -> str:
    """A triple-quoted literal when that reads back exactly, else ``repr``."""
    if '"""' not in text and "\\" not in text:
        return f'"""\n{text}\n"""'
    return repr(text)


__all__ = [
    "DEFAULT_OUTPUT",
    "EXPORT_TARGETS",
    "ExportTarget",
    "check_replace",
    "check_variable_name",
    "code_for",
    "export_result",
    "lazy_result",
    "pick_result",
    "result_frame",
    "user_namespace",
]

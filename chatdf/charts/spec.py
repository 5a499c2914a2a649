"""Checking a Vega-Lite spec before anything renders it or evaluates it.

A spec comes from the model (the ``create_chart`` tool) or from the user
(``chat.chart``). It is data, never code, and it names no data source: chatdf
binds the result's rows itself. :func:`check_spec` runs three passes, the
cheapest first, and returns a cleaned copy:

1. **Safety.** Nothing in the spec may make the kernel or the browser load
   anything: no ``url`` anywhere (data, images, lookups), no ``href`` links, no
   ``image`` mark, no CSS ``url(...)``, no ``usermeta`` (vega-embed reads its
   options from there), no input bound to an element of the page, no expression
   reaching for browser globals or object internals. ``$schema`` is dropped
   unread; a ``data`` that only names a dataset is dropped; inline ``values``
   are refused (a chart shows the result, not numbers the model made up).
2. **Schema.** The Vega-Lite JSON schema that Altair ships. The validator's
   errors are reworded: the path, what is there and what may be there (the
   valid marks, channels, types or properties, with a close match).
3. **Fields.** Every field an encoding, a facet, a repeat or a transform
   reads is a column of the result or made by an earlier transform; the error
   names the field and lists the columns. Column names holding ``.`` or
   ``[]`` are escaped (Vega-Lite would read them as nested access), and an
   encoding without a ``type`` gets one from the column's type.

Every refusal is a :class:`~chatdf.errors.ChartError` whose ``details["reason"]``
is ``invalid_spec``, ``unknown_field``, ``unsafe`` or ``data_in_spec``.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import ChartError

__all__ = [
    "COMPOSITE_KEYS",
    "check_safety",
    "check_spec",
    "escape_field",
    "field_defs",
    "unescape_field",
    "view_kind",
]

MAX_SPEC_CHARS = 100_000
"""Characters of JSON one spec may have (a chart spec is a few hundred)."""
MAX_DEPTH = 40
MAX_LISTED = 40
"""Columns or allowed values an error message lists before "and N more"."""

COMPOSITE_KEYS = ("layer", "hconcat", "vconcat", "concat")
_TOP_LEVEL = {
    "layer": "TopLevelLayerSpec",
    "hconcat": "TopLevelHConcatSpec",
    "vconcat": "TopLevelVConcatSpec",
    "concat": "TopLevelConcatSpec",
    "repeat": "TopLevelRepeatSpec",
    "facet": "TopLevelFacetSpec",
}
_PLACEHOLDER_DATA = {"name": "chatdf_result"}

# Keys that load or link something whatever their value.
_LOADING_KEYS = {
    "url": "loads data or images from a URL",
    "href": "turns marks into links",
    "usermeta": "passes options to the renderer",
    "loader": "configures how the renderer loads files",
    "baseURL": "points the renderer at a server",
}
_CSS_URL = re.compile(r"url\s*\(", re.IGNORECASE)
# Expressions run in Vega's own sandbox; these would be attempts to leave it.
_OBJECT_INTERNALS = re.compile(r"\b(constructor|__proto__|prototype|__defineGetter__)\b")
_BROWSER_GLOBALS = re.compile(
    r"(?<![\w.$'\"])(window|document|globalThis|eval|Function|import|fetch|XMLHttpRequest|"
    r"WebSocket|Worker|setTimeout|setInterval|requestAnimationFrame)\b"
)
_EXPRESSION_KEYS = {"expr", "calculate", "filter", "test", "signal", "update"}

_AS_DEFAULTS = {  # output fields of transforms whose "as" is optional
    "fold": ["key", "value"],
    "density": ["value", "density"],
    "quantile": ["prob", "value"],
}


def check_spec(spec: Any, columns: Mapping[str, str]) -> dict[str, Any]:
    """A safe, valid copy of ``spec`` whose fields are the result's columns.

    Parameters
    ----------
    spec
        A Vega-Lite spec: a dict, its JSON text, or an Altair chart (whose own
        top-level data is ignored).
    columns
        The result's column names and friendly types (``"Integer"``, ``"Text"``...).

    Raises
    ------
    ChartError
        With words the model can act on; ``details["reason"]`` says which pass refused it.
    """
    spec = _as_dict(spec)
    spec = _safe_copy(spec)
    _check_schema(spec)
    _check_fields(spec, dict(columns))
    return spec


def check_safety(spec: Mapping[str, Any]) -> None:
    """Refuse a kept spec (read back from the history file) that would load anything.

    Its bound data (top-level ``data`` and ``datasets``) is not looked at: it is
    the result's rows. A history file can be edited by hand, so a restored chart
    passes the same safety pass as a new one before the browser draws it.
    """
    bare = {key: value for key, value in spec.items() if key not in ("data", "datasets")}
    _walk_safety(json.loads(json.dumps(bare, default=str)), "", 0)


# -- reading the spec ------------------------------------------------------------------


def _as_dict(spec: Any) -> dict[str, Any]:
    if hasattr(spec, "to_dict") and not isinstance(spec, dict):  # an Altair chart
        try:
            spec = spec.to_dict(validate=False)
        except Exception as exc:  # noqa: BLE001 - Altair raises many kinds; all mean "not a spec"
            raise _invalid(f"The Altair chart could not be turned into a spec: {exc}") from None
        # Its own top-level data (Altair adds an empty one) gives way to the result.
        spec.pop("data", None)
        spec.pop("datasets", None)
    if isinstance(spec, (str, bytes)):
        try:
            spec = json.loads(spec)
        except ValueError as exc:
            raise _invalid(f"The spec is not valid JSON: {exc}.") from None
    if not isinstance(spec, dict):
        raise _invalid(
            f"The spec must be a Vega-Lite JSON object like "
            f'{{"mark": "bar", "encoding": {{...}}}}, not {type(spec).__name__}.'
        )
    try:
        text = json.dumps(spec, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _invalid(f"The spec must hold only JSON values: {exc}.") from None
    if len(text) > MAX_SPEC_CHARS:
        raise _invalid(
            f"The spec has {len(text):,} characters of JSON; at most {MAX_SPEC_CHARS:,}. "
            "A chart needs a mark and a few encodings; aggregate in SQL instead of listing values."
        )
    return json.loads(text)  # a deep copy made of plain JSON types


# -- pass 1: safety ----------------------------------------------------------------------


def _safe_copy(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` without ``$schema`` and harmless ``data``; refuses anything that loads."""
    spec.pop("$schema", None)
    datasets = spec.pop("datasets", None)
    if datasets:
        raise _data_refused("datasets", datasets)
    _walk_safety(spec, "", 0)
    return spec


def _walk_safety(node: Any, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _invalid(f"The spec is nested more than {MAX_DEPTH} levels deep at {path}.")
    if isinstance(node, list):
        for index, item in enumerate(node):
            _walk_safety(item, f"{path}[{index}]", depth + 1)
        return
    if isinstance(node, str):
        if _CSS_URL.search(node):
            raise _unsafe(f"{path or 'the spec'} holds url(...), which would load a resource")
        return
    if not isinstance(node, dict):
        return
    node.pop("$schema", None)
    for key in list(node):
        value = node[key]
        where = f"{path}.{key}" if path else key
        if key in _LOADING_KEYS:
            raise _unsafe(f"`{where}` {_LOADING_KEYS[key]}")
        if key == "data" and isinstance(value, dict):
            if set(value) <= {"name"} or value == {"values": []}:
                del node[key]  # a name only, or nothing: the result is bound in its place
                continue
            raise _data_refused(where, value)
        if key == "mark" and _mark_type(value) == "image":
            raise _unsafe(f"`{where}` is an image mark, which loads pictures from URLs")
        if key == "bind" and isinstance(value, dict) and "element" in value:
            raise _unsafe(f"`{where}.element` places an input in the page outside the chart")
        if isinstance(value, str) and (key in _EXPRESSION_KEYS or key.endswith("Expr")):
            _check_expression(value, where)
        _walk_safety(value, where, depth + 1)
    if "lookup" in node and isinstance(node.get("from"), dict):  # after its URLs were refused
        raise _invalid(
            f"`{path or 'the spec'}`: a lookup joins a second dataset, and a chart has only "
            "the result. Join in SQL instead.",
            reason="data_in_spec",
        )


def _check_expression(text: str, where: str) -> None:
    found = _OBJECT_INTERNALS.search(text) or _BROWSER_GLOBALS.search(text)
    if found:
        raise _unsafe(
            f"the expression in `{where}` uses {found.group(1)!r}; expressions may use datum "
            "fields, operators and Vega's functions only"
        )


def _mark_type(mark: Any) -> Any:
    return mark.get("type") if isinstance(mark, dict) else mark


def _unsafe(what: str) -> ChartError:
    return ChartError(
        f"Refused: {what}. Chart specs may not load, link or run anything; remove it and call "
        "create_chart again.",
        details={"reason": "unsafe"},
    )


def _data_refused(where: str, value: Any) -> ChartError:
    if isinstance(value, dict) and ("url" in value or "format" in value):
        return _unsafe(f"`{where}.url` would fetch data; nothing was fetched")
    return ChartError(
        f"The spec must not carry its own data (`{where}`): chatdf binds the query result's "
        "rows to the chart. Remove `data` (and any inline values) and refer to the result's "
        "columns by name.",
        details={"reason": "data_in_spec"},
    )


# -- pass 2: the Vega-Lite schema --------------------------------------------------------------


def view_kind(spec: Mapping[str, Any]) -> str:
    """``unit``, ``layer``, ``hconcat``, ``vconcat``, ``concat``, ``repeat`` or ``facet``."""
    for key in ("layer", "hconcat", "vconcat", "concat", "repeat"):
        if key in spec:
            return key
    return "facet" if "facet" in spec and "spec" in spec else "unit"


@functools.cache
def _schema() -> dict[str, Any]:
    import altair as alt

    return alt.load_schema()


@functools.cache
def _validator(definition: str) -> Any:
    import jsonschema

    schema = {"$ref": f"#/definitions/{definition}", "definitions": _schema()["definitions"]}
    return jsonschema.Draft7Validator(schema)


@functools.cache
def valid_marks() -> tuple[str, ...]:
    """Every Vega-Lite mark, the composite ones (boxplot, errorbar, errorband) included."""
    definitions = _schema()["definitions"]
    composite = [definitions[ref["$ref"].rsplit("/", 1)[-1]]["const"] for ref in definitions["CompositeMark"]["anyOf"]]
    return tuple(m for m in definitions["Mark"]["enum"] if m != "image") + tuple(composite)


def _check_schema(spec: dict[str, Any]) -> None:
    definition = _TOP_LEVEL.get(view_kind(spec), "TopLevelUnitSpec")
    candidate = {**spec, "data": _PLACEHOLDER_DATA}
    errors = list(_validator(definition).iter_errors(candidate))
    if not errors:
        return
    import jsonschema.exceptions

    problem = _explain(jsonschema.exceptions.best_match(errors))
    raise _invalid(f"The spec is not valid Vega-Lite: {problem}")


def _explain(error: Any) -> str:
    """One sentence for the most relevant leaf under ``error``."""
    while error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[Any, list[Any]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        leaves = {index: [leaf for e in errs for leaf in _leaves(e)] for index, errs in branches.items()}
        if all(_wrong_kind(error, leaf) for found in leaves.values() for leaf in found):
            return _not_any_of(error, [leaf for found in leaves.values() for leaf in found])
        best = min(leaves, key=lambda index: _branch_cost(error, leaves[index]))
        error = min(branches[best], key=lambda e: _branch_cost(error, list(_leaves(e))))
        if error.validator not in ("anyOf", "oneOf"):
            deeper = [leaf for leaf in _leaves(error)]
            error = max(deeper, key=lambda leaf: len(leaf.absolute_path))
    return _sentence(error)


def _leaves(error: Any) -> Iterator[Any]:
    if error.context:
        for sub in error.context:
            yield from _leaves(sub)
    else:
        yield error


def _wrong_kind(parent: Any, leaf: Any) -> bool:
    """A leaf that only says the instance is of another kind than this branch wants."""
    at_parent = len(leaf.absolute_path) == len(parent.absolute_path)
    return leaf.validator == "const" or (at_parent and leaf.validator in ("type", "enum"))


def _branch_cost(parent: Any, leaves: list[Any]) -> tuple[int, int, int]:
    wrong = sum(_wrong_kind(parent, leaf) for leaf in leaves)
    at_parent = [leaf for leaf in leaves if len(leaf.absolute_path) == len(parent.absolute_path)]
    misfit = sum(_unexpected_count(leaf) or 1 for leaf in at_parent)
    return wrong, misfit, len(leaves)


def _unexpected_count(leaf: Any) -> int:
    if leaf.validator != "additionalProperties" or not isinstance(leaf.instance, dict):
        return 0
    return len(_unexpected(leaf))


def _unexpected(leaf: Any) -> list[str]:
    allowed = set(leaf.schema.get("properties", {}))
    patterns = leaf.schema.get("patternProperties", {})
    return [
        key
        for key in leaf.instance
        if key not in allowed and not any(re.search(p, key) for p in patterns)
    ]


def _where(error: Any) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return f"`{path}`" if path else "the spec"


def _is_mark(error: Any) -> bool:
    path = list(error.absolute_path)
    return bool(path) and (path[-1] == "mark" or path[-2:] == ["mark", "type"])


def _not_any_of(error: Any, leaves: list[Any]) -> str:
    where, value = _where(error), _short(error.instance)
    if _is_mark(error):
        return f"{where} is {value}, which is not a mark. Valid marks: {', '.join(valid_marks())}."
    allowed: list[str] = []
    kinds: list[str] = []
    for leaf in leaves:
        if leaf.validator == "enum":
            allowed += [json.dumps(v) for v in leaf.validator_value]
        elif leaf.validator == "const":
            allowed.append(json.dumps(leaf.validator_value))
        elif leaf.validator == "type":
            kinds += leaf.validator_value if isinstance(leaf.validator_value, list) else [leaf.validator_value]
    parts = []
    if allowed:
        parts.append(f"one of {_listing(list(dict.fromkeys(allowed)))}")
    if kinds:
        parts.append("a " + " or ".join(dict.fromkeys(k for k in kinds if k != "null")))
    return f"{where} is {value}; it must be " + (", or ".join(parts) or "something else") + "."


def _sentence(error: Any) -> str:
    where, kind = _where(error), error.validator
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        unexpected = _unexpected(error)
        allowed = sorted(error.schema.get("properties", {}))
        hints = []
        for key in unexpected:
            close = difflib.get_close_matches(key, allowed, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        if error.absolute_path and list(error.absolute_path)[-1] == "encoding":
            allowed = [c for c in allowed if c not in _LOADING_KEYS]
            return f"{where} has no channel {', '.join(hints)}. Channels: {', '.join(allowed)}."
        return f"{where} has no property {', '.join(hints)}. Properties there: {_listing(allowed)}."
    if kind == "enum":
        if _is_mark(error):
            return f"{where} is {_short(error.instance)}, which is not a mark. Valid marks: {', '.join(valid_marks())}."
        values = [json.dumps(v) for v in error.validator_value]
        return f"{where} is {_short(error.instance)}; use one of {_listing(values)}."
    if kind == "type":
        want = error.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        return f"{where} must be a {want}, not {_short(error.instance)}."
    if kind == "required":
        return f"{where} is missing a required property: {error.message.split(' is a required')[0]}."
    if kind == "const":
        return f"{where} must be {json.dumps(error.validator_value)}, not {_short(error.instance)}."
    return f"{where}: {error.message}"


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _listing(values: list[str]) -> str:
    shown = ", ".join(values[:MAX_LISTED])
    return shown + (f" and {len(values) - MAX_LISTED} more" if len(values) > MAX_LISTED else "")


def _invalid(message: str, reason: str = "invalid_spec") -> ChartError:
    return ChartError(message, details={"reason": reason})


# -- pass 3: fields -----------------------------------------------------------------------------

_SPECIAL = re.compile(r"([.\[\]\\])")


def escape_field(name: str) -> str:
    """``name`` as a Vega-Lite field reference (dots and brackets are nested access otherwise)."""
    return _SPECIAL.sub(r"\\\1", name)


def unescape_field(field: str) -> str:
    return re.sub(r"\\(.)", r"\1", field)


def field_defs(encoding: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(channel, definition)`` for every field definition of an encoding, conditions included."""
    for channel, value in encoding.items():
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, dict):
                continue
            yield channel, item
            conditions = item.get("condition")
            for condition in conditions if isinstance(conditions, list) else [conditions]:
                if isinstance(condition, dict):
                    yield channel, condition


_TYPES = {"Integer": "quantitative", "Decimal": "quantitative", "Date": "temporal", "Timestamp": "temporal"}


class _Fields:
    """The field checks of one spec: columns, and fields made by transforms so far."""

    def __init__(self, columns: dict[str, str]) -> None:
        self.columns = columns

    def resolve(self, field: Any, available: set[str] | None, where: str) -> Any:
        """The field as Vega-Lite must read it, or a ChartError naming the columns.

        ``available`` None means any name may exist (after a pivot)."""
        if not isinstance(field, str):
            return field  # {"repeat": "row"} and the like: checked with the repeat lists
        if available is None:
            return field
        if field in available:
            return escape_field(field) if field in self.columns and _SPECIAL.search(field) else field
        plain = unescape_field(field)
        if plain in available:
            return field
        head = re.split(r"(?<!\\)[.\[]", field, maxsplit=1)[0]
        if head != field and unescape_field(head) in available:
            return field  # nested access into a struct column
        raise self.unknown(field, available, where)

    def unknown(self, field: str, available: set[str], where: str) -> ChartError:
        """The error for a field that is neither a column nor made by a transform."""
        if unescape_field(field) in self.columns:
            return ChartError(
                f"`{where}` uses the field {field!r}, which an aggregate transform earlier in "
                f"the spec dropped; after it only these fields exist: {_listing(sorted(available))}. "
                "Add the field to the aggregate's groupby, or use one of these.",
                details={"reason": "unknown_field", "field": field},
            )
        listed = [f"{name} ({kind})" for name, kind in self.columns.items()]
        made = sorted(available - set(self.columns))
        close = difflib.get_close_matches(unescape_field(field), list(available), n=1, cutoff=0.6)
        message = (
            f"`{where}` uses the field {field!r}, which is not a column of the result. "
            + (f"Did you mean {close[0]!r}? " if close else "")
            + f"The result's columns are: {_listing(listed)}."
            + (f" Transforms in the spec make: {_listing(made)}." if made else "")
            + " Use these names exactly (run another query first if you need other columns)."
        )
        return ChartError(message, details={"reason": "unknown_field", "field": field})


def _check_fields(spec: dict[str, Any], columns: dict[str, str]) -> None:
    _check_view(spec, _Fields(columns), set(columns), "")


def _check_view(view: dict[str, Any], fields: _Fields, available: set[str] | None, path: str) -> None:
    available = _after_transforms(view.get("transform"), fields, available, f"{path}transform")
    if "repeat" in view:
        repeat = view["repeat"]
        names = repeat if isinstance(repeat, list) else [n for v in repeat.values() if isinstance(v, list) for n in v]
        for index, name in enumerate(names):
            if isinstance(name, str):
                fields.resolve(name, available, f"{path}repeat[{index}]")
    facet = view.get("facet")
    if isinstance(facet, dict) and "spec" in view:
        defs = [facet] if "field" in facet else [d for d in facet.values() if isinstance(d, dict)]
        for definition in defs:
            if "field" in definition:
                definition["field"] = fields.resolve(definition["field"], available, f"{path}facet")
    encoding = view.get("encoding")
    if isinstance(encoding, dict):
        for channel, definition in field_defs(encoding):
            _check_definition(definition, fields, available, f"{path}encoding.{channel}")
    for key in COMPOSITE_KEYS:
        for index, child in enumerate(view.get(key) or []):
            if isinstance(child, dict):
                _check_view(child, fields, available, f"{path}{key}[{index}].")
    if isinstance(view.get("spec"), dict):
        _check_view(view["spec"], fields, available, f"{path}spec.")


def _check_definition(
    definition: dict[str, Any], fields: _Fields, available: set[str] | None, where: str
) -> None:
    if "field" in definition:
        definition["field"] = fields.resolve(definition["field"], available, f"{where}.field")
        field = definition["field"]
        if (
            "type" not in definition
            and isinstance(field, str)
            and unescape_field(field) in fields.columns
            and not any(k in definition for k in ("aggregate", "bin", "timeUnit"))
        ):
            definition["type"] = _TYPES.get(fields.columns[unescape_field(field)], "nominal")
    sort = definition.get("sort")
    if isinstance(sort, dict) and isinstance(sort.get("field"), str):
        sort["field"] = fields.resolve(sort["field"], available, f"{where}.sort.field")


_FIELD_KEYS = ("field", "density", "loess", "regression", "on", "quantile", "impute", "key", "stack", "extent")
_FIELD_LIST_KEYS = ("groupby", "fold", "flatten")
_OP_KEYS = ("aggregate", "joinaggregate", "window")


def _after_transforms(
    transforms: Any, fields: _Fields, available: set[str] | None, path: str
) -> set[str] | None:
    """The fields available after ``transforms`` (None: unknowable, after a pivot);
    each field a transform reads is checked."""
    for index, transform in enumerate(transforms or []):
        if not isinstance(transform, dict) or available is None:
            continue
        where = f"{path}[{index}]"

        def read(name: Any, key: str, known: set[str] = available, where: str = where) -> Any:
            return fields.resolve(name, known, f"{where}.{key}")

        for key in (*_FIELD_KEYS, *(("value",) if "pivot" in transform else ()), "pivot"):
            if isinstance(transform.get(key), str):
                transform[key] = read(transform[key], key)
        for key in _FIELD_LIST_KEYS:
            if isinstance(transform.get(key), list):
                transform[key] = [read(v, key) if isinstance(v, str) else v for v in transform[key]]
        for key in (*_OP_KEYS, "sort"):
            items = transform.get(key)
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and isinstance(item.get("field"), str):
                    item["field"] = read(item["field"], key)
        if isinstance(transform.get("filter"), dict):
            _check_predicate(transform["filter"], read)
        made = _outputs(transform)
        if "pivot" in transform:
            available = None  # its new columns are values of the data
        elif "aggregate" in transform:
            available = {unescape_field(g) for g in transform.get("groupby") or []} | made
        else:
            available = available | made
    return available


def _check_predicate(predicate: dict[str, Any], read: Any) -> None:
    if isinstance(predicate.get("field"), str):
        predicate["field"] = read(predicate["field"], "filter.field")
    for key in ("and", "or"):
        items = predicate.get(key)
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                _check_predicate(item, read)
    if isinstance(predicate.get("not"), dict):
        _check_predicate(predicate["not"], read)


def _outputs(transform: dict[str, Any]) -> set[str]:
    """Names of the fields a transform makes."""
    made: set[str] = set()
    alias = transform.get("as")
    if isinstance(alias, str):
        made |= {alias, f"{alias}_end"}  # bin and timeUnit also make the interval's end
    elif isinstance(alias, list):
        made |= {a for a in alias if isinstance(a, str)}
    else:
        made |= set(next((v for k, v in _AS_DEFAULTS.items() if k in transform), []))
    for key in _OP_KEYS:
        for op in transform.get(key) or []:
            if isinstance(op, dict):
                made.add(op.get("as") or f"{op.get('op')}_{op.get('field', '')}".rstrip("_"))
    for key in ("loess", "regression"):
        if key in transform:
            made |= {v for v in (transform.get("on"), transform.get(key)) if isinstance(v, str)}
    return {unescape_field(m) for m in made}



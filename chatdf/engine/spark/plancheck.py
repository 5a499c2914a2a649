"""The second, independent line: the analyzed plan reads registered views only.

Spark resolves names itself, so a text the guard passed could still reach a
catalog table, a path-qualified table (``parquet.`/path```) or a function
that reads files. The analyzed logical plan (``explain(mode="extended")``)
shows every leaf relation; each must sit under the ``View`` of a registered
view, and the plan must not call into the JVM.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ...errors import QueryError

_LEAVES = re.compile(
    r"^(Relation\b|LogicalRelation\b|LocalRelation\b|HiveTableRelation\b|DataSourceV2Relation\b|"
    r"RelationV2\b|LogicalRDD\b|Range\b|UnresolvedRelation\b|'UnresolvedRelation\b|"
    r"StreamingRelation|ExternalRDD|InMemoryRelation\b|LocalTableScan|UnresolvedCatalogRelation)"
)
_VIEW = re.compile(r"^View \(`?([^`,)]+)`?")
_FORBIDDEN = re.compile(r"\b(reflect|java_method|try_reflect|read_files|input_file_name)\(", re.I)
_NODE = re.compile(r"^(?P<indent>[ :|+-]*?)(?:\+- |:- )?(?P<node>\S.*)$")


def analyzed_section(explain: str) -> str:
    """The ``== Analyzed Logical Plan ==`` part of ``explain(mode="extended")`` text."""
    match = re.search(r"== Analyzed Logical Plan ==\n(.*?)(?:\n== |\Z)", explain, re.S)
    if match is None:
        raise QueryError(
            "Spark did not return an analyzed plan to check; the query was not run.", "crashed"
        )
    lines = match.group(1).splitlines()
    return "\n".join(lines[1:])  # the first line is the output schema


def check_plan(explain: str, views: Iterable[str]) -> None:
    """Refuse a plan with a relation outside the registered ``views``.

    Raises
    ------
    QueryError
        ``validation`` with ``details["reason"] == "plan"``.
    """
    allowed = {v.lower() for v in views}
    plan = analyzed_section(explain)
    bad = _FORBIDDEN.search(plan)
    if bad:
        raise _refused(f"it calls {bad.group(1)}()")
    stack: list[tuple[int, bool]] = []  # (depth, inside a registered view)
    for line in plan.splitlines():
        node = line.lstrip(" :|+-")
        if not node:
            continue
        depth = len(line) - len(node)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        inside = bool(stack and stack[-1][1])
        view = _VIEW.match(node)
        if view:
            name = view.group(1).split(".")[-1].lower()
            if not inside and name not in allowed:
                raise _refused(f"it reads the view {name!r}, which is not a registered dataset")
            stack.append((depth, True))
            continue
        if not inside and _LEAVES.match(node):
            raise _refused(f"it reads {node.split('[')[0].strip()!r} outside the registered datasets")
        stack.append((depth, inside))


def _refused(why: str) -> QueryError:
    return QueryError(
        f"The query was refused: {why}. Only the registered datasets can be read.",
        "validation",
        details={"reason": "plan"},
    )

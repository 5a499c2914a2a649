"""Limits are defined once (chatdf.limits), enforced by the kernel and synced to the browser."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import chatdf
from chatdf import ChatDF, limits
from chatdf.datasets import validate_name
from chatdf.engine import sqlguard
from chatdf.errors import ChatDFError, DatasetError, QueryError
from chatdf.messages import BadMessage, parse_request

PACKAGE = Path(chatdf.__file__).parent


def test_the_widget_syncs_the_limits_the_kernel_enforces(chat: ChatDF) -> None:
    assert chat._limits == limits.for_browser()
    assert chat.get_state("_limits")["_limits"] == {
        "question_chars": 2000,
        "sql_chars": 100_000,
        "name_chars": 63,
        "name_pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
        "page_rows": 50,
        "max_page_rows": 500,
    }


def test_each_limit_is_the_one_the_kernel_checks() -> None:
    sent = limits.for_browser()
    limits.check_question("x" * sent["question_chars"])
    with pytest.raises(ChatDFError, match="limited to 2,000 characters"):
        limits.check_question("x" * (sent["question_chars"] + 1))
    with pytest.raises(BadMessage):
        parse_request({"id": "1", "type": "ask", "question": "x" * (sent["question_chars"] + 1)})
    with pytest.raises(QueryError, match="too long"):
        sqlguard.guard("SELECT 1" + " " * sent["sql_chars"], {})
    assert validate_name("a" * sent["name_chars"])
    with pytest.raises(DatasetError, match="at most 63 characters"):
        validate_name("a" * (sent["name_chars"] + 1))
    with pytest.raises(BadMessage):
        parse_request(
            {"id": "1", "type": "page", "result_id": "r", "offset": 0,
             "limit": sent["max_page_rows"] + 1}
        )
    page = parse_request({"id": "1", "type": "page", "result_id": "r", "offset": 0})
    assert page.limit == sent["page_rows"]  # type: ignore[union-attr]


@pytest.mark.parametrize("module", ["widget.py", "messages.py"])
def test_the_ui_layer_does_not_import_the_controller(module: str) -> None:
    tree = ast.parse((PACKAGE / module).read_text())
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module is not None
    }
    assert "controller" not in imported

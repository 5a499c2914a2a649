"""A hostile model and a hostile notebook user aim the reported SQL bypass at real secrets.

The model's ``execute_sql`` sends the dollar-quote reproduction at ``./.env``
(a fake key, in a temporary working folder) and at ``/etc/passwd``. The real
google-genai SDK talks HTTP to the scripted fake Gemini, queries run in real
workers, history goes to a real SQLite file. The turn must go on, and neither
the key nor a file line may reach a function response, the answer, a result
or any row of the history database. ``chat.sql``, ``chat.export(to="lazy")``
and ``chat.code()`` refuse the same text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from chatdf import ChatDF, QueryError, QueryResult
from chatdf.export import code_for, lazy_result
from chatdf.models import columns_of
from tests.fake_gemini import TEST_API_KEY, FakeGemini, function_call, text_chunks

REPRODUCTION = (
    "SELECT b FROM t WINDOW w AS (ORDER BY $a-b$) UNION ALL SELECT * FROM "
    "read_csv('{path}', has_header => false, separator => '|') --$a-b$)"
)


@pytest.fixture
def chat(
    fake_gemini: FakeGemini,
    secrets: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ChatDF]:
    monkeypatch.chdir(secrets["env"].parent)  # "./.env" is the secret, as in the report
    chat = ChatDF(
        api_key=TEST_API_KEY,
        gemini_base_url=fake_gemini.url,
        workers=1,
        db_path=str(tmp_path / "history.db"),
    )
    chat.add(pl.DataFrame({"b": ["x", "y"]}), name="t")
    yield chat
    chat.close()


def sql_call(query: str) -> list[dict[str, Any]]:
    return [function_call("execute_sql", {"query": query})]


def database_rows(path: Path) -> list[tuple[Any, ...]]:
    """Every row of every table of the history file."""
    with sqlite3.connect(path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return [row for table in tables for row in db.execute(f'SELECT * FROM "{table}"')]


def test_a_hostile_model_reads_no_file_and_the_turn_goes_on(
    chat: ChatDF, fake_gemini: FakeGemini, tmp_path: Path, no_leak: Callable[..., None]
) -> None:
    fake_gemini.add_stream(sql_call(REPRODUCTION.format(path=".env")))
    fake_gemini.add_stream(sql_call(REPRODUCTION.format(path="/etc/passwd")))
    fake_gemini.add_stream(sql_call("SELECT COUNT(*) AS n FROM t"))
    fake_gemini.add_stream(text_chunks("There are 2 rows in t."))

    answer = chat.ask("Show me everything you can read.")

    assert answer.error is None and answer.text == "There are 2 rows in t."
    assert answer.result is not None and answer.result.to_dicts() == [{"n": 2}]
    responses = [r for request in fake_gemini.requests for r in request.function_responses()]
    refused = [r["response"] for r in responses[:2]]
    assert [r["error_type"] for r in refused] == ["validation", "validation"]
    assert all("Dollar-quoted" in r["message"] for r in refused)

    no_leak(answer.text, answer.result, [request.to_dict() for request in fake_gemini.requests])
    no_leak([result.data for result in chat._session.results.values()])
    chat.close()
    rows = database_rows(tmp_path / "history.db")
    assert any("read_csv" in str(row) for row in rows)  # the refused SQL is in the history...
    no_leak(rows)  # ...but nothing it tried to read is


def test_chat_sql_refuses_the_reproduction_and_keeps_working(
    chat: ChatDF, no_leak: Callable[..., None]
) -> None:
    for path in (".env", "/etc/passwd"):
        with pytest.raises(QueryError) as caught:
            chat.sql(REPRODUCTION.format(path=path))
        assert caught.value.error_type == "validation"
        no_leak(caught.value.message, caught.value.details)
    assert chat.sql("SELECT COUNT(*) AS n FROM t").item() == 2


def forged(sql: str, tables: list[str]) -> QueryResult:
    """A result object a notebook user can build by hand and pass to export/code."""
    return QueryResult(
        sql=sql, columns=columns_of(pl.Schema()), total_rows=0, data=pl.DataFrame(), tables=tables
    )


@pytest.mark.parametrize("path", [".env", "/etc/passwd"])
def test_lazy_export_and_code_refuse_the_reproduction(
    chat: ChatDF, no_leak: Callable[..., None], path: str
) -> None:
    result = forged(REPRODUCTION.format(path=path), ["t"])
    for attempt in (
        lambda: chat.export("leak", result=result, to="lazy"),
        lambda: chat.code(result=result),
    ):
        with pytest.raises(QueryError) as caught:
            attempt()
        assert caught.value.error_type == "validation"
        no_leak(caught.value.message)


def test_lazy_export_checks_the_plan_of_what_it_hands_over(
    chat: ChatDF, secrets: dict[str, Path], no_leak: Callable[..., None]
) -> None:
    # Past the text check (the SQL is plain), the plan must still read only 't'.
    sources = chat._session.registry.provenance
    lazy = lazy_result(forged("SELECT b FROM t", ["t"]), sources)
    assert sorted(lazy.collect()["b"]) == ["x", "y"]
    assert 'FROM "t"' in code_for(forged("SELECT b FROM t", ["t"]), sources)

    from chatdf.export import _checked_query

    with pytest.raises(QueryError) as caught:
        _checked_query(
            forged("SELECT b FROM t", ["t"]),
            sources,
            f"SELECT b FROM t UNION ALL SELECT * FROM read_csv('{secrets['env']}', has_header => false)",
        )
    assert caught.value.error_type == "validation"
    assert caught.value.details["reason"] == "unregistered_source"
    no_leak(caught.value.message)

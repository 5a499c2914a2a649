"""Privacy mode "schema": no cell value ever reaches Gemini, yet the user gets every row.

A scripted model asks for everything it can (describe_table, SELECT *, a cast that
fails on a value, a chart); every request the fake Gemini received is searched for
the data's distinctive values. The real SDK speaks HTTP; queries run in real workers.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from chatdf import ChatDF
from chatdf.llm.client import RetryPolicy
from chatdf.privacy import HIDDEN_ANSWER, SCHEMA_ONLY_PROMPT
from tests.fake_gemini import TEST_API_KEY, FakeGemini, function_call, text_chunks

FAST_RETRY = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.05)

# Values that cannot appear in a request by accident.
SECRETS = ["Zanzibar-7781", "Qx7-Marmalade", "987654.321", "2031-07-19", "tier-omega"]


def secret_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer": ["Zanzibar-7781", "Qx7-Marmalade", "Zanzibar-7781"],
            "balance": [987654.321, 12.5, 3.0],
            "opened": [date(2031, 7, 19), date(2031, 7, 19), date(2031, 7, 19)],
            "tier": ["tier-omega", "tier-omega", "tier-omega"],  # low cardinality
        }
    )


def sent(fake_gemini: FakeGemini) -> str:
    return json.dumps([request.to_dict() for request in fake_gemini.requests], default=str)


def leaked(text: str) -> list[str]:
    return [value for value in SECRETS if value in text]


def call(tool: str, **args: object) -> list[dict]:
    return [function_call(tool, dict(args))]


@pytest.fixture
def chat(fake_gemini: FakeGemini, tmp_path: Path):
    chat = ChatDF(
        api_key=TEST_API_KEY,
        gemini_base_url=fake_gemini.url,
        workers=1,
        privacy="schema",
        db_path=str(tmp_path / "history.db"),
    )
    chat._session.llm.retry = FAST_RETRY
    chat.add(secret_frame(), name="accounts")
    yield chat
    chat.close()


def test_no_cell_value_reaches_the_model_but_the_user_sees_every_row(
    chat: ChatDF, fake_gemini: FakeGemini
) -> None:
    fake_gemini.add_stream(call("describe_table", name="accounts"))
    fake_gemini.add_stream(call("execute_sql", query="SELECT * FROM accounts ORDER BY balance DESC"))
    fake_gemini.add_stream(call("execute_sql", query="SELECT CAST(customer AS INTEGER) AS n FROM accounts"))
    fake_gemini.add_stream(call("create_chart", spec={"mark": "bar", "encoding": {
        "x": {"field": "customer", "type": "nominal"}, "y": {"field": "balance", "type": "quantitative"}}}))
    fake_gemini.add_stream(text_chunks("The balances are in the balance column of the table below."))

    answer = chat.ask("Who has the largest balance?")

    assert answer.error is None
    assert leaked(sent(fake_gemini)) == []
    # The user still gets the rows, in the result table.
    assert answer.result is not None and answer.result.row(0)[0] == "Zanzibar-7781"

    first = fake_gemini.requests[0]
    assert SCHEMA_ONLY_PROMPT in first.system_text()
    assert "- tier: text\n" in first.system_text()  # no category values
    responses = [r["response"] for r in fake_gemini.requests[-1].function_responses()]
    described, rows, failed, chart = responses
    assert described["columns"][1] == {"name": "balance", "type": "Float64", "nulls": 0, "distinct": 3}
    assert described["privacy"].startswith("schema")
    assert set(rows) == {"result_id", "columns", "total_rows", "note"} and rows["total_rows"] == 3
    assert rows["columns"][0] == {"name": "customer", "type": "Text"}
    assert "Privacy mode" in rows["note"]
    assert failed["error_type"] == "sql" and "customer" in failed["message"]
    assert "chart_id" in chart


def test_rows_of_an_earlier_full_mode_conversation_are_not_replayed(
    fake_gemini: FakeGemini, tmp_path: Path
) -> None:
    db = str(tmp_path / "history.db")
    full = ChatDF(api_key=TEST_API_KEY, gemini_base_url=fake_gemini.url, workers=1, db_path=db)
    try:
        full.add(secret_frame(), name="accounts")
        fake_gemini.add_stream(call("execute_sql", query="SELECT customer, balance FROM accounts"))
        fake_gemini.add_stream(text_chunks("Zanzibar-7781 has the largest balance."))
        full.ask("List the accounts")
        assert leaked(sent(fake_gemini))  # full mode: the model saw the rows
        conversation_id = full.conversation_id
    finally:
        full.close()

    private = ChatDF(
        api_key=TEST_API_KEY, gemini_base_url=fake_gemini.url, workers=1, db_path=db, privacy="schema"
    )
    try:
        private.add(secret_frame(), name="accounts")
        private.open_conversation(conversation_id)
        fake_gemini.reset()
        fake_gemini.add_stream(text_chunks("See the table."))
        private.ask("And again?")
        replayed = sent(fake_gemini)
        assert "List the accounts" in replayed and "SELECT customer, balance" in replayed
        assert HIDDEN_ANSWER in replayed  # the answer was written from rows: it goes too
        assert leaked(replayed) == []
    finally:
        private.close()

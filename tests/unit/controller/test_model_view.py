"""The model's view of the data in whole turns: category values, describe_table, budgets.

The real SDK talks HTTP to the fake Gemini; profiles are computed by real workers.
"""

from __future__ import annotations

import polars as pl
import pytest

from chatdf import ChatDF
from chatdf.llm.client import RetryPolicy
from chatdf.llm.schema_view import approx_tokens
from tests.fake_gemini import TEST_API_KEY, FakeGemini, function_call, text_chunks

FAST_RETRY = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.05)


def orders_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": list(range(1, 9)),
            "status": ["shipped", "pending", "shipped", "cancelled", "shipped", None, "pending", "shipped"],
            "note": [f"free text number {i} that is long enough to be prose" for i in range(8)],
            "amount": [10.5, 3.0, 7.25, None, 1.0, 2.0, 99.0, 4.5],
        }
    )


@pytest.fixture
def chat(fake_gemini: FakeGemini):
    chat = ChatDF(api_key=TEST_API_KEY, gemini_base_url=fake_gemini.url, workers=1)
    chat._session.llm.retry = FAST_RETRY
    chat.add(orders_frame(), name="orders")
    yield chat
    chat.close()


def describe_call(name: str, columns: list[str] | None = None) -> list[dict]:
    args: dict = {"name": name}
    if columns is not None:
        args["columns"] = columns
    return [function_call("describe_table", args)]


def test_low_cardinality_text_columns_list_their_values_in_the_prompt(
    chat: ChatDF, fake_gemini: FakeGemini
) -> None:
    query = "SELECT COUNT(*) AS n FROM orders WHERE status = 'shipped'"
    fake_gemini.add_stream([function_call("execute_sql", {"query": query})])
    fake_gemini.add_stream(text_chunks("Four orders shipped."))

    answer = chat.ask("How many orders shipped?")

    assert answer.result is not None and answer.result.to_dicts() == [{"n": 4}]
    system = fake_gemini.requests[0].system_text()
    # Most frequent first; NULL is not a value; long prose is not a category.
    assert "- status: text, one of 'shipped', 'pending', 'cancelled'" in system
    assert "- note: text\n" in system
    assert "describe_table" in fake_gemini.requests[0].declared_functions()


def test_describe_table_returns_types_counts_and_samples(chat: ChatDF, fake_gemini: FakeGemini) -> None:
    fake_gemini.add_stream(describe_call("orders"))
    fake_gemini.add_stream(describe_call("ORDERS", ["Amount", "status"]))  # names are forgiving
    fake_gemini.add_stream(text_chunks("Described."))

    answer = chat.ask("What is in orders?")

    assert answer.error is None and answer.text == "Described."
    first = fake_gemini.requests[1].function_responses()[0]
    assert first["name"] == "describe_table"
    table = first["response"]
    assert (table["name"], table["row_count"], table["column_count"]) == ("orders", 8, 4)
    columns = {c["name"]: c for c in table["columns"]}
    assert list(columns) == ["order_id", "status", "note", "amount"]
    assert columns["order_id"] == {
        "name": "order_id", "type": "Int64", "nulls": 0, "distinct": 8, "min": 1, "max": 8,
        "samples": ["1", "2", "3"],
    }
    assert columns["status"]["values"] == ["shipped", "pending", "cancelled"]
    assert columns["status"]["nulls"] == 1 and columns["status"]["distinct"] == 3
    assert columns["amount"]["nulls"] == 1 and columns["amount"]["max"] == 99.0
    assert columns["note"]["samples"][0].startswith("free text number 0")
    second = fake_gemini.requests[2].function_responses()[1]["response"]
    assert [c["name"] for c in second["columns"]] == ["amount", "status"]


def test_describe_table_errors_name_what_exists(chat: ChatDF, fake_gemini: FakeGemini) -> None:
    fake_gemini.add_stream(describe_call("nope"))
    fake_gemini.add_stream(describe_call("orders", ["statuz"]))
    fake_gemini.add_stream(text_chunks("Sorry."))

    chat.ask("Describe")

    refused = [r["response"] for r in fake_gemini.requests[2].function_responses()]
    assert refused[0]["error_type"] == "validation" and "Tables: orders" in refused[0]["message"]
    assert refused[1]["error_type"] == "validation" and "'statuz'" in refused[1]["message"]


def test_describe_table_counts_against_the_tool_call_limit(chat: ChatDF, fake_gemini: FakeGemini) -> None:
    for _ in range(6):
        fake_gemini.add_stream(describe_call("orders"))

    answer = chat.ask("Loop")

    assert "stopped after 5 tool calls" in answer.text
    assert len(fake_gemini.requests) == 5


def test_profiles_are_cached_per_dataset_version(chat: ChatDF, fake_gemini: FakeGemini) -> None:
    fake_gemini.add_stream(describe_call("orders", ["status"]))
    fake_gemini.add_stream(text_chunks("Ok."))
    chat.ask("Statuses?")
    profiler = chat._session.controller.profiler
    cached = dict(profiler._columns)
    assert [key[2] for key in cached] == ["status"]

    # Same data, same version: the cached profile answers (no new entry).
    fake_gemini.reset()
    fake_gemini.add_stream(describe_call("orders", ["status"]))
    fake_gemini.add_stream(text_chunks("Ok."))
    chat.ask("Statuses again?")
    assert profiler._columns == cached

    # New data under the same name: a new version, profiled again, and the prompt follows.
    chat.remove("orders")
    chat.add(pl.DataFrame({"status": ["lost", "found"]}), name="orders")
    fake_gemini.reset()
    fake_gemini.add_stream(describe_call("orders", ["status"]))
    fake_gemini.add_stream(text_chunks("Ok."))
    chat.ask("And now?")
    assert "- status: text, one of 'found', 'lost'" in fake_gemini.requests[0].system_text()
    response = fake_gemini.requests[1].function_responses()[-1]["response"]
    assert response["columns"][0]["values"] == ["found", "lost"]


def test_a_wide_table_fits_the_budget_and_describe_reaches_hidden_columns(
    fake_gemini: FakeGemini,
) -> None:
    frame = pl.DataFrame({f"measure_{i:03d}": [i, i + 1] for i in range(600)})
    chat = ChatDF(
        api_key=TEST_API_KEY, gemini_base_url=fake_gemini.url, workers=1, prompt_budget_tokens=4000
    )
    try:
        chat.add(frame, name="wide")
        fake_gemini.add_stream(describe_call("wide", ["measure_599"]))
        fake_gemini.add_stream(text_chunks("Found it."))
        chat.ask("What about measure_599?")
        system = fake_gemini.requests[0].system_text()
        assert approx_tokens(system) <= 4000
        assert "- measure_599: int" in system  # named in the question: ranked first
        assert "more columns not listed: call describe_table(name='wide')" in system
        response = fake_gemini.requests[1].function_responses()[0]["response"]
        assert response["columns"] == [
            {"name": "measure_599", "type": "Int64", "nulls": 0, "distinct": 2, "min": 599,
             "max": 600, "samples": ["599", "600"]}
        ]
    finally:
        chat.close()


def test_only_columns_with_few_short_values_are_listed(fake_gemini: FakeGemini) -> None:
    rows = 30_000  # past the sample the candidates are found in
    frame = pl.DataFrame(
        {
            "region": ["north", "south"] * (rows // 2),
            # Two values in the sample, then a thirteenth value: not a category after all.
            "code": ["a"] * 20_000 + [f"code_{i % 13}" for i in range(rows - 20_000)],
        }
    )
    chat = ChatDF(api_key=TEST_API_KEY, gemini_base_url=fake_gemini.url, workers=1)
    try:
        chat.add(frame, name="sales")
        fake_gemini.add_stream(text_chunks("Ok."))
        chat.ask("Regions?")
        system = fake_gemini.requests[0].system_text()
        assert "- region: text, one of 'north', 'south'" in system
        assert "- code: text\n" in system
    finally:
        chat.close()

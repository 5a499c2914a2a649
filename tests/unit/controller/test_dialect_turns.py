"""The model writes the DuckDB forms that used to fail; each turn answers without a retry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chatdf import ChatDF
from chatdf.llm.client import RetryPolicy
from tests.dialect.corpus import tables
from tests.fake_gemini import TEST_API_KEY, FakeGemini, function_call, text_chunks

# One query per form that failed or differed before the dialect layer (issue #11).
PREVIOUSLY_FAILING = {
    "date_diff": "SELECT AVG(DATE_DIFF('day', order_date, shipped_at)) AS days FROM orders",
    "datediff_month": "SELECT DATEDIFF('month', MIN(order_date), MAX(order_date)) AS m FROM orders",
    "date_minus_date": "SELECT MAX(order_date) - MIN(order_date) AS span FROM orders",
    "date_fn": "SELECT DATE(shipped_at) AS d, COUNT(*) AS n FROM orders GROUP BY DATE(shipped_at) ORDER BY d LIMIT 3",
    "percentile_cont": "SELECT PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY amount) AS p90 FROM orders",
    "approx_count_distinct": "SELECT APPROX_COUNT_DISTINCT(customer_id) AS n FROM orders",
    "bool_or": "SELECT customer_id, BOOL_OR(status = 'returned') AS r FROM orders GROUP BY customer_id ORDER BY customer_id LIMIT 3",
    "arg_max": "SELECT customer_id, ARG_MAX(order_id, amount) AS o FROM orders GROUP BY customer_id ORDER BY customer_id LIMIT 3",
    "regexp_matches": "SELECT COUNT(*) AS n FROM orders WHERE REGEXP_MATCHES(coupon, '[0-9]+')",
    "string_split_unnest": "SELECT UNNEST(STRING_SPLIT(tags, ',')) AS tag, COUNT(*) AS n FROM products GROUP BY tag ORDER BY tag",
    "dayname": "SELECT DAYNAME(order_date) AS d, COUNT(*) AS n FROM orders GROUP BY d ORDER BY d",
    "pivot": "SELECT * FROM (SELECT status, EXTRACT(YEAR FROM order_date) AS yr, amount FROM orders) PIVOT (SUM(amount) FOR status IN ('shipped', 'pending')) ORDER BY yr",
    "describe": "DESCRIBE orders",
    "show_tables": "SHOW TABLES",
    "summarize": "SUMMARIZE products",
    "information_schema": "SELECT table_name, column_name FROM information_schema.columns WHERE data_type = 'DATE'",
    "generate_series": "SELECT * FROM generate_series(1, 7) AS t(n)",
    "numeric": "SELECT SUM(amount)::numeric AS total FROM orders",
    "qualify_desc": "SELECT customer_id, discount FROM orders QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY discount DESC) = 1 ORDER BY customer_id LIMIT 3",
}


@pytest.fixture(scope="module")
def chat() -> Iterator[tuple[ChatDF, FakeGemini]]:
    with FakeGemini() as fake, pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHATDF_DB_PATH", ":memory:")
        chat = ChatDF(api_key=TEST_API_KEY, gemini_base_url=fake.url, workers=1)
        chat._session.llm.retry = RetryPolicy(attempts=1, initial_delay=0.01, max_delay=0.05)
        for name, frame in tables().items():
            chat.add(frame, name)
        yield chat, fake
        chat.close()


@pytest.mark.parametrize("form", list(PREVIOUSLY_FAILING))
def test_a_turn_with_the_form_succeeds_first_time(
    chat: tuple[ChatDF, FakeGemini], form: str
) -> None:
    session, fake = chat
    query = PREVIOUSLY_FAILING[form]
    before = len(fake.requests)
    fake.add_stream([function_call("execute_sql", {"query": query})])
    fake.add_stream(text_chunks("Done."))

    answer = session.ask(f"Use {form}")

    assert answer.error is None and answer.text == "Done."
    assert answer.sql == [query]  # one query, no retry
    assert answer.result is not None and answer.result.height > 0
    responses = [r for req in fake.requests[before:] for r in req.function_responses()]
    assert responses and all("error_type" not in r["response"] for r in responses), responses

"""Tool declarations and the shape of tool results the model reads."""

from __future__ import annotations

import csv
import datetime as dt
import io

import polars as pl
import pytest
from google.genai import types

from chatdf.errors import DatasetError, QueryError
from chatdf.llm.client import FunctionCall, GeminiClient, ReplyBuilder
from chatdf.llm.tools import (
    CREATE_CHART,
    DESCRIBE_TABLE,
    EXECUTE_SQL,
    LOAD_DATASET,
    MAX_MODEL_ROWS,
    TOOLS,
    dataset_payload,
    error_payload,
    function_response_part,
    function_responses_content,
    query_result_payload,
    required_argument,
    tool_declarations,
)
from chatdf.models import Dataset, QueryResult, columns_of
from tests.fake_gemini import FakeGemini, function_call, text_chunks


def result_of(frame: pl.DataFrame, sql: str = "SELECT * FROM t") -> QueryResult:
    return QueryResult(
        sql=sql, columns=columns_of(frame.schema), total_rows=frame.height, data=frame
    )


def rows_of(payload: dict) -> list[list[str]]:
    return list(csv.reader(io.StringIO(payload["rows"])))


def test_tools_with_their_required_arguments() -> None:
    (tool,) = TOOLS
    by_name = {d.name: d for d in tool.function_declarations}
    assert set(by_name) == {EXECUTE_SQL, LOAD_DATASET, CREATE_CHART, DESCRIBE_TABLE}
    chart = by_name[CREATE_CHART].parameters_json_schema
    assert chart["required"] == ["spec"] and chart["properties"]["spec"]["type"] == "object"
    for name, arg in ((EXECUTE_SQL, "query"), (LOAD_DATASET, "url"), (DESCRIBE_TABLE, "name")):
        params = by_name[name].parameters
        assert params.required == [arg]
        assert params.properties[arg].type == types.Type.STRING
    copy = tool_declarations()
    copy[0].function_declarations.clear()
    assert len(TOOLS[0].function_declarations) == 4


def test_small_result_is_complete_with_types_and_no_note() -> None:
    frame = pl.DataFrame(
        {
            "city": ["Paris", "Lyon, FR", None],
            "orders": [10, 3, 0],
            "revenue": [1234567.89, 0.1 + 0.2, float("nan")],
            "day": [dt.date(2024, 1, 31)] * 3,
            "active": [True, False, None],
        }
    )
    payload = query_result_payload(result_of(frame))
    assert payload["columns"] == [
        {"name": "city", "type": "Text"},
        {"name": "orders", "type": "Integer"},
        {"name": "revenue", "type": "Decimal"},
        {"name": "day", "type": "Date"},
        {"name": "active", "type": "Boolean"},
    ]
    assert payload["total_rows"] == 3 and payload["rows_shown"] == 3
    assert "note" not in payload
    assert rows_of(payload) == [
        ["city", "orders", "revenue", "day", "active"],
        ["Paris", "10", "1234567.89", "2024-01-31", "true"],
        ["Lyon, FR", "3", "0.3", "2024-01-31", "false"],
        ["NULL", "0", "NaN", "2024-01-31", "NULL"],
    ]


def test_big_result_is_cut_at_1000_rows_with_a_note() -> None:
    frame = pl.DataFrame({"n": range(5000)})
    payload = query_result_payload(result_of(frame))
    assert payload["total_rows"] == 5000
    assert payload["rows_shown"] == MAX_MODEL_ROWS
    assert len(rows_of(payload)) == MAX_MODEL_ROWS + 1
    assert "first 1,000 of 5,000 rows" in payload["note"]


def test_wide_text_is_cut_by_size_and_cells_are_shortened() -> None:
    frame = pl.DataFrame({"text": ["x" * 5000] * 900})
    payload = query_result_payload(result_of(frame), max_chars=20_000)
    assert len(payload["rows"]) < 21_000
    assert payload["rows_shown"] < 900
    assert "to keep the reply small" in payload["note"]
    cell = rows_of(payload)[1][0]
    assert len(cell) == 200 and cell.endswith("…")


def test_nested_and_temporal_values_render_compactly() -> None:
    frame = pl.DataFrame(
        {
            "tags": [["a", "b"]],
            "at": [dt.datetime(2024, 5, 1, 13, 30)],
            "meta": [{"k": 1}],
        }
    )
    (_, row) = rows_of(query_result_payload(result_of(frame)))
    assert row == ['["a", "b"]', "2024-05-01 13:30:00", '{"k": 1}']


def test_errors_reach_the_model_as_type_and_message() -> None:
    sql_error = error_payload(QueryError('unable to find column "totl"', "sql"))
    assert sql_error["error_type"] == "sql"
    assert sql_error["message"] == 'unable to find column "totl"'
    assert "execute_sql again" in sql_error["hint"]
    timeout = error_payload(QueryError("Query ran longer than 60 s", "timeout"))
    assert timeout == {"error_type": "timeout", "message": "Query ran longer than 60 s"}
    assert (
        error_payload(DatasetError("Private addresses are not allowed"))["error_type"] == "dataset"
    )


def test_dataset_payload_names_the_table() -> None:
    dataset = Dataset(
        name="trips",
        source="https://example.com/trips.parquet",
        kind="url",
        row_count=10,
        column_count=1,
        columns=columns_of({"fare": pl.Float64}),
    )
    payload = dataset_payload(dataset)
    assert payload["name"] == "trips" and payload["row_count"] == 10
    assert payload["columns"] == [{"name": "fare", "type": "Decimal"}]
    assert "table trips" in payload["note"]


def test_required_argument_validates_for_the_model() -> None:
    assert (
        required_argument(FunctionCall("execute_sql", {"query": " SELECT 1 "}), "query")
        == "SELECT 1"
    )
    for args in ({}, {"query": ""}, {"query": 3}, {"sql": "SELECT 1"}):
        with pytest.raises(QueryError) as info:
            required_argument(FunctionCall("execute_sql", args), "query")
        assert info.value.error_type == "validation"
        assert "'query'" in info.value.message


async def test_function_response_round_trip_carries_the_rows(
    client: GeminiClient, fake_gemini: FakeGemini
) -> None:
    """The shape a controller sends back: model turn, then functionResponse with rows."""
    fake_gemini.add_stream(
        [function_call("execute_sql", {"query": "SELECT * FROM t"}, id="call-7")]
    )
    fake_gemini.add_stream(text_chunks("There are 2 rows."))
    history = [types.Content(role="user", parts=[types.Part(text="Show t")])]

    builder = ReplyBuilder()
    async for chunk in client.stream(history, system="s", tools=TOOLS):
        builder.add(chunk)
    reply = builder.reply()
    (call,) = reply.function_calls
    payload = query_result_payload(result_of(pl.DataFrame({"a": [1, 2]})))
    history += [reply.content, function_responses_content([function_response_part(call, payload)])]
    text = "".join([c.text async for c in client.stream(history, system="s", tools=TOOLS)])

    assert text == "There are 2 rows."
    second = fake_gemini.requests[1]
    assert [c["role"] for c in second.contents()] == ["user", "model", "user"]
    assert second.contents()[1]["parts"][0]["functionCall"]["name"] == "execute_sql"
    (response,) = second.function_responses()
    assert response["name"] == "execute_sql" and response["id"] == "call-7"
    assert response["response"]["rows"] == "a\n1\n2\n"
    assert response["response"]["total_rows"] == 2

"""Privacy helpers: error messages lose the values they quote; replayed tool results lose rows."""

from __future__ import annotations

from google.genai import types

from chatdf.privacy import redact_contents, scrub_message

CAST_ERROR = (
    "conversion from `str` to `i32` failed in column 'customer' for 1 out of 2 values: "
    '["Zanzibar-7781", "Qx7"]'
)


def test_values_in_error_messages_are_hidden_but_names_and_types_stay() -> None:
    known = "SELECT CAST(customer AS INTEGER) FROM t\nt\ncustomer"
    scrubbed = scrub_message(CAST_ERROR, known)
    assert "Zanzibar" not in scrubbed and "Qx7" not in scrubbed
    assert "`str` to `i32`" in scrubbed and "'customer'" in scrubbed
    # A value the model wrote itself may be quoted back; one it did not write may not.
    assert scrub_message("no match for 'shipped'", "WHERE s = 'shipped'") == "no match for 'shipped'"
    assert scrub_message("bad value 'Zanzibar-7781'", "") == "bad value '…'"


def test_replayed_tool_results_lose_rows_samples_and_values() -> None:
    response = {
        "result_id": "r1",
        "columns": [{"name": "customer", "type": "Text", "samples": ["Zanzibar-7781"],
                     "values": ["a"], "min": "a", "max": "z"}],
        "rows": "customer\nZanzibar-7781\n",
        "total_rows": 1,
    }
    contents = [
        types.Content(role="user", parts=[types.Part(text="List them")]),
        types.Content(role="user", parts=[types.Part.from_function_response(name="execute_sql", response=response)]),
        types.Content(role="user", parts=[types.Part.from_function_response(
            name="execute_sql", response={"error_type": "sql", "message": CAST_ERROR})]),
    ]
    redacted = redact_contents(contents)
    text = str([c.model_dump() for c in redacted])
    assert "Zanzibar" not in text
    kept = redacted[1].parts[0].function_response.response
    assert kept == {"result_id": "r1", "columns": [{"name": "customer", "type": "Text"}], "total_rows": 1}
    assert redacted[0].parts[0].text == "List them"
    assert "Zanzibar" in str(contents[1].model_dump())  # the originals are untouched

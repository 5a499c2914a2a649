"""What the browser may send, and the transcript the kernel syncs back."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from chatdf.messages import BadMessage, fit_transcript, parse_request, transcript_from
from chatdf.store import MessageRecord, ResultPreview


def test_known_requests_are_typed():
    page = parse_request(
        {"id": "a-1", "type": "page", "result_id": "r1", "offset": 50, "sort": {"column": "x", "descending": True}}
    )
    assert (page.type, page.offset, page.limit, page.sort.column, page.sort.descending) == ("page", 50, 50, "x", True)
    assert parse_request({"id": "a-2", "type": "ask", "question": "How many?"}).question == "How many?"


@pytest.mark.parametrize(
    ("content", "reason", "request_id"),
    [
        ("not a dict", "expected an object", None),
        ({"type": "page", "result_id": "r"}, "id", None),
        ({"id": "x", "type": "drop_tables"}, "unknown request type 'drop_tables'", "x"),
        ({"id": "x", "type": "page", "result_id": "r", "limit": 10_000}, "limit", "x"),
        ({"id": "x", "type": "page", "result_id": "r", "offset": -1}, "offset", "x"),
        ({"id": "x", "type": "ask", "question": "q" * 2001}, "question", "x"),
        ({"id": "x", "type": "ask", "question": "hi", "eval": "1"}, "eval", "x"),
        ({"id": "x" * 65, "type": "stop"}, "id", None),
    ],
)
def test_bad_messages_are_refused_with_the_reason(content, reason, request_id):
    with pytest.raises(BadMessage) as bad:
        parse_request(content)
    assert reason in bad.value.reason
    assert bad.value.request_id == request_id


def test_an_unknown_type_is_named_without_listing_every_request_type():
    with pytest.raises(BadMessage) as bad:
        parse_request({"id": "x", "type": "drop_tables" * 20})
    # Short enough for the widget's 400-character error line, however many types there are.
    assert bad.value.reason.startswith("type: unknown request type 'drop_tables")
    assert "page" not in bad.value.reason and len(bad.value.reason) < 100


def test_transcript_keeps_the_newest_messages_within_the_budget():
    messages = [{"id": str(i), "role": "user", "text": "x" * 1000} for i in range(200)]
    kept = fit_transcript(messages, budget=20_000)
    assert len(json.dumps(kept)) <= 20_000
    assert kept[-1]["id"] == "199" and 10 < len(kept) < 20
    # A single huge answer is shortened in synced state, never dropped.
    [huge] = fit_transcript([{"id": "h", "role": "assistant", "text": "y" * 100_000}])
    assert len(huge["text"]) < 21_000 and huge["text"].endswith("…")


def record(role, content="", **kw) -> MessageRecord:
    return MessageRecord(
        id=kw.pop("id", f"{role}-{content[:5]}"),
        conversation_id="c1",
        created_at=datetime.now(timezone.utc),
        role=role,
        content=content,
        **kw,
    )


def test_a_stored_conversation_becomes_questions_and_answers_with_their_sql():
    preview = ResultPreview(columns=["n"], rows=[[5]], total_rows=1)
    transcript = transcript_from(
        [
            record("user", "How many?", id="u1"),
            record("tool", "Failed", sql_query="SELECT nope", status="error", tool_payload={"name": "execute_sql"}),
            record("tool", "1 rows", sql_query="SELECT count(*) AS n FROM t", tool_payload={"name": "execute_sql", "result_id": "r9"}),
            record("assistant", "There are **5**.", id="a1", sql_query="SELECT count(*) AS n FROM t", result_preview=preview),
            record("user", "And now?", id="u2"),
            record("assistant", "", id="a2", status="error", tool_payload={"error": {"error_type": "rate_limit", "message": "Slow down"}}),
        ]
    )
    assert [(m["id"], m["role"]) for m in transcript] == [("u1", "user"), ("a1", "assistant"), ("u2", "user"), ("a2", "assistant")]
    answer = transcript[1]
    assert answer["sql"] == ["SELECT nope", "SELECT count(*) AS n FROM t"]
    assert answer["result"] == {"id": "r9", "sql": "SELECT count(*) AS n FROM t", "total_rows": 1, "column_count": 1}
    assert answer["question"] == "How many?" and answer["status"] == "complete"
    failed = transcript[3]
    assert failed["status"] == "error" and failed["error"]["message"] == "Slow down"
    assert failed["question"] == "And now?" and failed["result"] is None

"""Conversations, messages, datasets and settings as a user's history sees them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest

from chatdf.errors import StoreError
from chatdf.models import Dataset, columns_of
from chatdf.store import (
    MAX_PREVIEW_BYTES,
    NewMessage,
    ResultPreview,
    Store,
    make_title,
)

if TYPE_CHECKING:
    from conftest import FakeClock  # type: ignore[import-not-found]


def tool_round(sql: str) -> list[NewMessage]:
    """A model function call and the function response, as the controller stores them."""
    call = {"function_call": {"name": "run_sql", "args": {"sql": sql}}}
    response = {
        "function_response": {
            "name": "run_sql",
            "response": {"columns": ["city", "n"], "rows": [["Oslo", 3]], "total_rows": 1},
        }
    }
    return [
        NewMessage(role="assistant", tool_payload=call, sql_query=sql),
        NewMessage(
            role="tool",
            tool_payload=response,
            sql_query=sql,
            result_preview=ResultPreview(columns=["city", "n"], rows=[["Oslo", 3]], total_rows=1),
        ),
    ]


async def test_a_full_conversation_comes_back_from_a_new_store_on_the_same_file(
    db_path: Path, clock: FakeClock, sample_frame: pl.DataFrame
) -> None:
    first = await Store.open(db_path, clock=clock)
    conversation = await first.create_conversation(notebook_path="/home/me/sales.ipynb")
    sql = "SELECT city, count(*) AS n FROM sales GROUP BY city"
    turn = [
        NewMessage(role="user", content="Which city sells most?"),
        *tool_round(sql),
        NewMessage(role="assistant", content="Oslo, with 3 sales.", token_count=812),
    ]
    stored = await first.add_messages(conversation.id, turn)
    clock.advance(30)
    stopped = await first.add_messages(
        conversation.id,
        [
            NewMessage(role="user", content="And by month?"),
            NewMessage(role="assistant", content="Grouping by mo", status="stopped"),
        ],
    )
    sales = Dataset(
        name="sales",
        source="/data/sales.parquet",
        kind="parquet",
        row_count=5,
        column_count=6,
        columns=columns_of(sample_frame.schema),
    )
    await first.save_datasets(conversation.id, [sales])
    await first.close()

    second = await Store.open(db_path, clock=clock)
    restored = await second.get_conversation(conversation.id)
    await second.close()

    assert restored.title == "Which city sells most?"
    assert restored.notebook_path == "/home/me/sales.ipynb"
    assert restored.message_count == 6
    assert [m.model_dump() for m in restored.messages] == [
        m.model_dump() for m in [*stored, *stopped]
    ]
    call, response = restored.messages[1], restored.messages[2]
    assert call.tool_payload == {"function_call": {"name": "run_sql", "args": {"sql": sql}}}
    assert response.tool_payload["function_response"]["response"]["rows"] == [["Oslo", 3]]  # type: ignore[index]
    assert response.result_preview == ResultPreview(
        columns=["city", "n"], rows=[["Oslo", 3]], total_rows=1
    )
    assert restored.messages[-1].status == "stopped"
    assert restored.messages[-1].content == "Grouping by mo"
    assert restored.updated_at.timestamp() == clock.now
    (dataset,) = restored.datasets
    assert dataset.status == "ready"
    assert (dataset.name, dataset.source, dataset.kind, dataset.row_count) == (
        sales.name, sales.source, sales.kind, sales.row_count
    )


async def test_the_first_question_titles_an_untitled_conversation(store: Store) -> None:
    long = "Show me the   total revenue per region for every quarter of 2023 and 2024, please"
    untitled = await store.create_conversation()
    titled = await store.create_conversation("Budget")

    await store.add_message(untitled.id, NewMessage(role="user", content=long))
    await store.add_message(untitled.id, NewMessage(role="user", content="second question"))
    await store.add_message(titled.id, NewMessage(role="user", content=long))

    titles = {c.id: c.title for c in await store.list_conversations()}
    assert titles[titled.id] == "Budget"
    assert titles[untitled.id] == make_title(long)
    assert titles[untitled.id] == "Show me the total revenue per region for every quarter of…"
    assert len(titles[untitled.id]) <= 60


def test_titles_are_one_trimmed_line() -> None:
    assert make_title("  short\n question ") == "short question"
    assert make_title("   \n ") is None
    assert make_title("x" * 100) == "x" * 59 + "…"


async def test_history_lists_most_recently_updated_first(store: Store, clock: FakeClock) -> None:
    a = await store.create_conversation("a")
    clock.advance(1)
    b = await store.create_conversation("b")
    clock.advance(1)
    c = await store.create_conversation("c")
    clock.advance(1)
    await store.add_messages(a.id, [{"role": "user", "content": "q"}, {"role": "assistant"}])

    listed = await store.list_conversations()

    assert [x.title for x in listed] == ["a", "c", "b"]
    assert [x.message_count for x in listed] == [2, 0, 0]
    assert [x.id for x in await store.list_conversations(limit=1, offset=1)] == [c.id]
    assert b.id in {x.id for x in listed}


async def test_rename_changes_only_the_title(store: Store, clock: FakeClock) -> None:
    conversation = await store.create_conversation()
    clock.advance(5)

    renamed = await store.rename_conversation(conversation.id, "  Q3   revenue ")

    assert renamed.title == "Q3 revenue"
    assert renamed.updated_at == conversation.updated_at
    assert (await store.get_conversation(conversation.id)).title == "Q3 revenue"
    with pytest.raises(StoreError, match="blank"):
        await store.rename_conversation(conversation.id, "   ")


async def test_delete_removes_messages_and_datasets_but_keeps_usage(store: Store, raw) -> None:
    doomed = await store.create_conversation()
    kept = await store.create_conversation()
    for conversation in (doomed, kept):
        await store.add_messages(conversation.id, [{"role": "user", "content": "q"}])
        await store.save_datasets(
            conversation.id,
            [{"name": "t", "source": "/t.csv", "kind": "csv"}],  # type: ignore[list-item]
        )
    await store.record_usage("local", doomed.id, "gemini-2.5-flash", 100, 20)

    await store.delete_conversation(doomed.id)

    assert [c.id for c in await store.list_conversations()] == [kept.id]
    assert raw("SELECT count(*) FROM messages WHERE conversation_id = ?", (doomed.id,)) == [(0,)]
    assert raw("SELECT count(*) FROM datasets WHERE conversation_id = ?", (doomed.id,)) == [(0,)]
    assert raw("SELECT conversation_id, input_tokens FROM token_usage") == [(None, 100)]
    assert (await store.usage_summary("local", 1000)).used == 120
    with pytest.raises(StoreError) as info:
        await store.get_conversation(doomed.id)
    assert info.value.details["reason"] == "not_found"


async def test_clear_history_empties_history_but_not_the_usage_window(store: Store, raw) -> None:
    for i in range(3):
        conversation = await store.create_conversation()
        await store.add_message(conversation.id, {"role": "user", "content": f"q{i}"})
        await store.record_usage("local", conversation.id, "gemini-2.5-flash", 10, 5)

    assert await store.clear_history() == 3

    assert await store.list_conversations() == []
    assert raw("SELECT count(*) FROM messages") == [(0,)]
    assert (await store.usage_summary("local", 100)).used == 45


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get_conversation("nope"),
        lambda s: s.rename_conversation("nope", "t"),
        lambda s: s.delete_conversation("nope"),
        lambda s: s.add_message("nope", {"role": "user", "content": "q"}),
        lambda s: s.save_datasets("nope", []),
    ],
    ids=["get", "rename", "delete", "add_message", "save_datasets"],
)
async def test_an_unknown_conversation_id_is_a_clear_error(store: Store, call) -> None:
    with pytest.raises(StoreError, match="No conversation with id 'nope'") as info:
        await call(store)
    assert info.value.details == {"reason": "not_found", "conversation_id": "nope"}


async def test_a_turn_is_stored_whole_or_not_at_all(store: Store, clock: FakeClock) -> None:
    conversation = await store.create_conversation()
    clock.advance(10)

    with pytest.raises(StoreError):
        await store.add_messages(
            conversation.id,
            [
                NewMessage(id="same", role="user", content="q"),
                NewMessage(id="same", role="assistant"),
            ],
        )

    after = await store.get_conversation(conversation.id)
    assert after.messages == []
    assert after.title is None
    assert after.updated_at == conversation.updated_at
    # The store is still usable after the failed write.
    await store.add_message(conversation.id, NewMessage(role="user", content="again"))
    assert (await store.get_conversation(conversation.id)).message_count == 1


async def test_invalid_messages_are_refused_with_the_field_named(store: Store) -> None:
    conversation = await store.create_conversation()

    with pytest.raises(StoreError, match="role") as info:
        await store.add_message(conversation.id, {"role": "system", "content": "x"})

    assert info.value.details["reason"] == "invalid"
    assert (await store.get_conversation(conversation.id)).messages == []


async def test_result_previews_are_capped(store: Store) -> None:
    columns = [f"c{i}" for i in range(80)]
    rows = [["v" * 500] * 80 for _ in range(1000)]
    conversation = await store.create_conversation()

    await store.add_message(
        conversation.id,
        NewMessage(role="tool", result_preview=ResultPreview(columns=columns, rows=rows)),
    )

    (message,) = (await store.get_conversation(conversation.id)).messages
    preview = message.result_preview
    assert preview is not None and preview.truncated
    assert len(preview.model_dump_json()) <= MAX_PREVIEW_BYTES + 200
    assert 0 < len(preview.rows) <= 10
    assert preview.columns == columns[: len(preview.columns)]


def test_a_preview_from_a_frame_is_json_and_knows_the_total(sample_frame: pl.DataFrame) -> None:
    preview = ResultPreview.from_frame(sample_frame.head(3), total_rows=250)

    assert preview.columns == list(sample_frame.columns)
    assert preview.rows[0] == [1, "Oslo", 10.5, "2024-01-01", "2024-01-01 12:30:00", True]
    assert preview.total_rows == 250 and preview.truncated
    json.dumps(preview.model_dump())


async def test_save_datasets_replaces_the_set_in_order(store: Store) -> None:
    conversation = await store.create_conversation()
    first = {"name": "a", "source": "https://x/a.parquet", "kind": "url"}
    second = {"name": "b", "source": "<DataFrame>", "kind": "frame", "status": "unavailable"}

    await store.save_datasets(conversation.id, [first])  # type: ignore[list-item]
    await store.save_datasets(conversation.id, [second, first])  # type: ignore[list-item]

    restored = (await store.get_conversation(conversation.id)).datasets
    assert [(d.name, d.status) for d in restored] == [("b", "unavailable"), ("a", "ready")]
    with pytest.raises(StoreError, match="unique"):
        await store.save_datasets(conversation.id, [first, first])  # type: ignore[list-item]


async def test_settings_round_trip_json_values(store: Store, db_path: Path) -> None:
    assert await store.get_setting("theme", "system") == "system"
    await store.set_setting("theme", "dark")
    await store.set_setting("theme", "light")
    await store.set_setting("panel", {"width": 420, "open": True})
    await store.close()

    reopened = await Store.open(db_path)
    assert await reopened.get_setting("theme") == "light"
    assert await reopened.get_setting("panel") == {"width": 420, "open": True}
    await reopened.close()


async def test_concurrent_calls_on_one_store_are_serialised(store: Store) -> None:
    conversation = await store.create_conversation()

    await asyncio.gather(
        *(
            store.add_message(conversation.id, {"role": "user", "content": str(i)})
            for i in range(50)
        ),
        *(store.list_conversations() for _ in range(10)),
    )

    assert (await store.get_conversation(conversation.id)).message_count == 50


async def test_a_closed_store_says_so(db_path: Path) -> None:
    store = await Store.open(db_path)
    await store.close()
    await store.close()

    with pytest.raises(StoreError, match="closed") as info:
        await store.list_conversations()
    assert info.value.details["reason"] == "closed"

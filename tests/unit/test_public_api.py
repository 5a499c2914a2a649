"""The public surface other code builds on: names, signatures, settings sources."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import chatdf
from chatdf import (
    ChatDF,
    ChatDFError,
    ConfigError,
    DatasetError,
    LLMError,
    QueryError,
    SessionClosedError,
    StoreError,
)
from chatdf.settings import Settings, load_settings


def test_exported_names_are_pinned():
    assert sorted(chatdf.__all__) == sorted(
        [
            "Answer",
            "ChartError",
            "ChatDF",
            "ChatDFError",
            "ColumnInfo",
            "ConfigError",
            "Dataset",
            "DatasetError",
            "LLMError",
            "QueryError",
            "QueryResult",
            "SessionClosedError",
            "Settings",
            "StoreError",
            "StoreWarning",
            "__version__",
            "load_ipython_extension",
            "unload_ipython_extension",
        ]
    )
    for name in chatdf.__all__:
        assert getattr(chatdf, name) is not None, name
    for error in (ConfigError, DatasetError, QueryError, LLMError, StoreError, SessionClosedError):
        assert issubclass(error, ChatDFError)
    assert chatdf.errors.SessionClosedError is SessionClosedError
    assert chatdf.Settings is Settings
    from chatdf.store import StoreWarning

    assert chatdf.StoreWarning is StoreWarning and issubclass(StoreWarning, UserWarning)


def test_dataset_api_end_to_end(parquet_file: Path, csv_file: Path, sample_frame: pl.DataFrame):
    chat = ChatDF(api_key=None, db_path=None)
    try:
        cities = chat.add(parquet_file)
        assert (cities.name, cities.row_count, cities.column_count) == ("sample", 5, 6)
        assert cities.source == str(parquet_file)
        assert cities.schema["price"].friendly == "Decimal"
        assert cities.schema["day"].friendly == "Date"
        assert cities.schema["city"].dtype == "String"
        chat.add(csv_file, name="from_csv")
        chat.add(sample_frame.lazy(), name="lazy")
        assert [d.name for d in chat.datasets] == ["sample", "from_csv", "lazy"]

        chat.rename("sample", "cities")
        chat.remove("lazy")
        assert [d.name for d in chat.datasets] == ["cities", "from_csv"]
        assert chat.refresh("cities").row_count == 5

        frame = chat.sql(
            "SELECT c.city, f.price FROM cities c JOIN from_csv f ON c.id = f.id ORDER BY f.price"
        )
        expected = (
            pl.SQLContext(c=sample_frame, f=sample_frame)
            .execute("SELECT c.city, f.price FROM c JOIN f ON c.id = f.id ORDER BY f.price")
            .collect()
        )
        assert frame.equals(expected)

        with pytest.raises(DatasetError, match="already loaded"):
            chat.add(parquet_file)
        with pytest.raises(QueryError) as refused:
            chat.sql("DROP TABLE cities")
        assert refused.value.error_type == "validation"
        assert chat.sql("SELECT count(*) AS n FROM cities").item() == 5  # still usable
    finally:
        chat.close()


def test_settings_come_from_kwargs_env_and_dotenv(monkeypatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("GEMINI_API_KEY=from-dotenv-key\nCHATDF_QUERY_TIMEOUT=12\n")
    monkeypatch.setenv("CHATDF_MAX_DATASETS", "7")
    settings = load_settings(workers=2)
    assert settings.key() == "from-dotenv-key"
    assert (settings.query_timeout, settings.max_datasets, settings.workers) == (12, 7, 2)
    monkeypatch.setenv("GEMINI_API_KEY", "from-env-key")
    assert load_settings().key() == "from-env-key"
    assert load_settings(api_key="explicit").key() == "explicit"


def test_invalid_setting_names_the_variable(monkeypatch):
    monkeypatch.setenv("CHATDF_QUERY_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="CHATDF_QUERY_TIMEOUT"):
        ChatDF()
    monkeypatch.delenv("CHATDF_QUERY_TIMEOUT")
    with pytest.raises(ConfigError, match="CHATDF_WORKERS"):
        ChatDF(workers=0)
    with pytest.raises(TypeError, match="query_timeout"):
        ChatDF(query_timout=3)  # a typo lists the known settings


def test_an_unknown_setting_is_a_config_error_that_lists_the_known_ones():
    with pytest.raises(ConfigError) as raised:
        ChatDF(query_timout=3, wrkers=2)
    error = raised.value
    assert isinstance(error, TypeError)  # callers that caught TypeError keep working
    assert error.message.startswith("Unknown setting(s): query_timout, wrkers.")
    for field in Settings.model_fields:
        assert field in error.message
    assert error.details["reason"] == "unknown_setting"
    assert error.details["unknown"] == ["query_timout", "wrkers"]


def test_every_call_on_a_closed_session_raises_session_closed(parquet_file: Path):
    chat = ChatDF()
    chat.add(parquet_file, name="cities")
    chat.close()
    calls = {
        "add": lambda: chat.add(parquet_file, name="again"),
        "add_variable": lambda: chat.add_variable("df"),
        "datasets": lambda: chat.datasets,
        "remove": lambda: chat.remove("cities"),
        "rename": lambda: chat.rename("cities", "towns"),
        "refresh": lambda: chat.refresh("cities"),
        "sql": lambda: chat.sql("SELECT 1 AS n"),
        "export": lambda: chat.export("out"),
        "code": lambda: chat.code(),
        "ask": lambda: chat.ask("Anything?"),
        "conversations": lambda: chat.conversations,
        "open_conversation": lambda: chat.open_conversation("abc"),
        "new": lambda: chat.new(),
        "usage": lambda: chat.usage,
    }
    for name, call in calls.items():
        with pytest.raises(SessionClosedError, match="closed; create a new ChatDF") as raised:
            call()
        assert raised.value.details["reason"] == "session_closed", name
    assert chat.stop() is False  # nothing runs: stopping is not an error
    chat.close()  # closing twice is fine
    assert "closed" in repr(chat)


def test_open_conversation_and_the_ipywidgets_open(tmp_path: Path):
    from ipywidgets import Widget

    chat = ChatDF(db_path=str(tmp_path / "h.db"))
    try:
        assert chat.open_conversation.__doc__
        with pytest.raises(StoreError):
            chat.open_conversation("no-such-id")
        with pytest.raises(StoreError):
            chat.open("no-such-id")  # the old spelling still opens a conversation
        # Without an id, open() is ipywidgets' Widget.open (its __init__ calls it): the comm.
        assert chat.comm is not None
        comm = chat.comm
        assert chat.open() is None and chat.comm is comm
        assert "open_conversation" in (ChatDF.open.__doc__ or "")
        assert isinstance(chat, Widget)
    finally:
        chat.close()


def test_help_starts_with_chatdfs_own_overview():
    import pydoc
    import warnings

    with warnings.catch_warnings():  # pydoc reads ipywidgets' deprecated class attributes
        warnings.simplefilter("ignore", DeprecationWarning)
        text = pydoc.render_doc(ChatDF, renderer=pydoc.plaintext)
    overview = text[: text.index("Method resolution order")]
    for call in ("chat.add(", "chat.sql(", "chat.ask(", "chat.stream(", "chat.export(",
                 "chat.code(", "chat.open_conversation(", "chat.close("):
        assert call in overview, call
    for field in Settings.model_fields:
        assert field in overview, field
    assert "Public constructor" not in text  # ipywidgets' __init__ doc
    assert "ipywidgets trait serialization" not in text  # ipywidgets' __repr__ doc


def test_the_package_is_typed():
    assert (Path(chatdf.__file__).parent / "py.typed").is_file()


def test_every_setting_is_documented_in_env_example():
    from chatdf.settings import Settings

    text = (Path(__file__).parents[2] / ".env.example").read_text()
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for field in Settings.model_fields:
        name = "GEMINI_API_KEY" if field == "api_key" else f"CHATDF_{field.upper()}"
        assert f"{name}=" in text, name
        assert name in readme, name

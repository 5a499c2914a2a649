"""The public surface other code builds on: names, signatures, settings sources."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import chatdf
from chatdf import ChatDF, ChatDFError, ConfigError, DatasetError, LLMError, QueryError, StoreError
from chatdf.settings import load_settings


def test_exported_names_are_pinned():
    assert sorted(chatdf.__all__) == sorted(
        [
            "Answer",
            "ChatDF",
            "ChatDFError",
            "ColumnInfo",
            "ConfigError",
            "Dataset",
            "DatasetError",
            "LLMError",
            "QueryError",
            "QueryResult",
            "StoreError",
            "__version__",
            "load_ipython_extension",
        ]
    )
    for error in (ConfigError, DatasetError, QueryError, LLMError, StoreError):
        assert issubclass(error, ChatDFError)


def test_dataset_api_end_to_end(parquet_file: Path, csv_file: Path, sample_frame: pl.DataFrame):
    chat = ChatDF(api_key=None, db_path=None)
    try:
        cities = chat.add(parquet_file)
        assert (cities.name, cities.row_count, cities.column_count) == ("table1", 5, 6)
        assert cities.source == str(parquet_file)
        assert cities.schema["price"].friendly == "Decimal"
        assert cities.schema["day"].friendly == "Date"
        assert cities.schema["city"].dtype == "String"
        chat.add(csv_file, name="from_csv")
        chat.add(sample_frame.lazy(), name="lazy")
        assert [d.name for d in chat.datasets] == ["table1", "from_csv", "lazy"]

        chat.rename("table1", "cities")
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


def test_every_setting_is_documented_in_env_example():
    from chatdf.settings import Settings

    text = (Path(__file__).parents[2] / ".env.example").read_text()
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for field in Settings.model_fields:
        name = "GEMINI_API_KEY" if field == "api_key" else f"CHATDF_{field.upper()}"
        assert f"{name}=" in text, name
        assert name in readme, name

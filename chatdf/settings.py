"""Settings: one pydantic-settings model.

Values come, highest first, from keyword arguments to ``ChatDF(...)``, then
``CHATDF_*`` environment variables (the key also from ``GEMINI_API_KEY``),
then a ``.env`` file in the working directory, then the defaults below.
Every field is listed with a comment in ``.env.example``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError

ENV_PREFIX = "CHATDF_"


class Settings(BaseSettings):
    """Every knob of chatdf; see ``.env.example`` for the environment names."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
    )

    api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("api_key", "CHATDF_API_KEY", "GEMINI_API_KEY"),
        repr=False,
    )
    """Gemini API key; also read from ``GEMINI_API_KEY``. Never stored or logged."""
    model: str = "gemini-2.5-flash"
    """Gemini model name."""
    gemini_base_url: str | None = None
    """Another endpoint for the Gemini API (gateways, proxies, the test fake)."""
    gateway_url: str | None = None
    """A chatdf gateway: team mode, sign in with ``chat.sign_in()``; no API key in the kernel."""
    gateway_token_cache: bool = False
    """Keep the gateway sign-in in the user config folder (file mode 0600) across kernel restarts."""
    db_path: str | None = None
    """SQLite file for history; ``:memory:`` for throwaway use; default in the user data dir."""
    max_datasets: int = Field(default=5, ge=1, le=100)
    """How many datasets one session may hold."""
    allow_private_urls: bool = False
    """Let the user (never the model) load URLs on loopback or private networks."""
    workers: int = Field(default=4, ge=1, le=64)
    """Query worker processes (capped at the machine's core count)."""
    query_timeout: float = Field(default=60.0, gt=0)
    """Seconds one query may run before its worker is killed."""
    worker_memory_mb: int = Field(default=2048, ge=0)
    """Memory limit of one worker in MiB (0: no limit)."""
    queue_depth: int = Field(default=10, ge=1)
    """Queries that may wait for a worker before new ones are refused as busy."""
    token_limit: int = Field(default=5_000_000, ge=0)
    """Tokens per rolling 24 hours (0: no limit)."""
    max_tool_calls: int = Field(default=5, ge=1)
    """Tool calls the model may make in one turn."""
    max_sql_retries: int = Field(default=3, ge=0)
    """Failed queries the model may retry in one turn."""
    namespace_tables: bool = False
    """Offer every DataFrame variable of the notebook to the model as a table."""
    theme: Literal["system", "light", "dark"] = "system"
    """Widget theme; ``system`` follows JupyterLab."""

    @field_validator("gateway_url")
    @classmethod
    def _gateway_url(cls, value: str | None) -> str | None:
        value = (value or "").strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value or None

    @property
    def worker_count(self) -> int:
        """Workers actually started: never more than the machine's cores."""
        return max(1, min(self.workers, os.cpu_count() or 1))

    def resolved_db_path(self) -> str:
        """The SQLite path to open, creating the default folder when needed."""
        if self.db_path:
            return self.db_path
        from platformdirs import user_data_dir

        folder = Path(user_data_dir("chatdf", appauthor=False))
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder / "chatdf.db")

    def key(self) -> str | None:
        """The API key in clear, for the SDK only."""
        return self.api_key.get_secret_value() if self.api_key else None


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into a ConfigError naming the variable."""
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(given) - set(Settings.model_fields))
    if unknown:
        known = ", ".join(sorted(Settings.model_fields))
        raise TypeError(f"Unknown setting(s): {', '.join(unknown)}. Known settings: {known}.")
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            name = "GEMINI_API_KEY" if field == "api_key" else ENV_PREFIX + field.upper()
            problems.append(f"{name}: {err['msg']}")
        raise ConfigError("Invalid setting — " + "; ".join(problems)) from None

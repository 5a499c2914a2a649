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

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError
from .privacy import PRIVACY_MODES, PrivacyMode

ENV_PREFIX = "CHATDF_"

AUTO_MEMORY_SHARE = 0.5
"""Share of the machine's memory that ``worker_memory_mb="auto"`` divides among the workers."""
AUTO_MEMORY_FLOOR_MB = 1024
"""The automatic worker limit never goes below this (Polars needs room to sort and join)."""
MIN_PROMPT_BUDGET_TOKENS = 4_000
"""The smallest prompt budget: the fixed instructions plus a table list must fit."""


class Settings(BaseSettings):
    """Every knob of chatdf; see ``.env.example`` for the environment names."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
        use_attribute_docstrings=True,  # the docstrings below become help(chatdf.ChatDF)'s text
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
    max_datasets: int = Field(default=20, ge=1, le=100)
    """How many datasets one session may hold."""
    allow_private_urls: bool = False
    """Let the user (never the model) load URLs on loopback or private networks."""
    workers: int = Field(default=4, ge=1, le=64)
    """Query worker processes (capped at the machine's core count)."""
    query_timeout: float = Field(default=60.0, gt=0)
    """Seconds one query may run before its worker is killed."""
    worker_memory_mb: int = Field(default="auto", ge=0)  # type: ignore[assignment]
    """Resident memory one worker may use, in MiB; ``auto`` (the default) becomes
    :func:`auto_worker_memory_mb` here, so this field always holds the limit in force.
    0: no limit."""
    worker_nice: int = Field(default=0, ge=0, le=19)
    """Scheduling niceness of the workers (0: the kernel's own priority)."""
    result_cache_mb: int = Field(default=512, ge=0)
    """Results kept in the session for paging and export, by total size; the oldest go first
    (the newest is always kept)."""
    max_result_mb: int = Field(default=2048, ge=0)
    """Largest result a query may write, in MiB on disk (0: no limit)."""
    queue_depth: int = Field(default=10, ge=1)
    """Queries that may wait for a worker before new ones are refused as busy."""
    token_limit: int = Field(default=5_000_000, ge=0)
    """Tokens per rolling 24 hours (0: no limit)."""
    max_tool_calls: int = Field(default=5, ge=1)
    """Tool calls the model may make in one turn."""
    max_sql_retries: int = Field(default=3, ge=0)
    """Failed queries the model may retry in one turn."""
    chart_max_rows: int = Field(default=5000, ge=1, le=1_000_000)
    """Rows a chart may carry to the notebook and the browser. A larger result is charted from
    the spec's own aggregate/bin/filter/timeUnit transforms, evaluated in the kernel; past this
    cap even then, the model is told to aggregate in SQL first."""
    copy_max_rows: int = Field(default=100_000, ge=1, le=10_000_000)
    """Rows the grid's "Copy all" puts on the clipboard; past it the copy is cut and says so
    (download CSV or parquet for the whole result)."""
    namespace_tables: bool = False
    """Offer every DataFrame variable of the notebook to the model as a table."""
    theme: Literal["system", "light", "dark"] = "system"
    """Widget theme; ``system`` follows JupyterLab."""
    engine: Literal["polars", "spark"] = "polars"
    """Where queries run: ``polars`` (worker processes on this machine) or ``spark``
    (a Spark Connect server, see ``spark_remote``)."""
    spark_remote: str | None = None
    """The Spark Connect server for ``engine="spark"``, e.g. ``sc://host:15002``."""
    spark_upload_max_mb: int = Field(default=256, ge=0)
    """Largest notebook frame (Arrow MiB) ``chat.add`` uploads to the Spark cluster."""
    spark_model_loads: bool = False
    """Let the model's ``load_dataset`` add sources under Spark (the cluster reads outside
    chatdf's egress guard)."""
    export_max_rows: int = Field(default=10_000_000, ge=1)
    """Rows ``chat.export`` brings from a Spark cluster into the kernel."""
    privacy: PrivacyMode = "full"
    """What the model may see: ``full`` (result rows, sample and category values) or
    ``schema`` (names, types and shapes only; no cell value leaves the kernel)."""
    prompt_budget_tokens: int = 16_000
    """Estimated tokens the system prompt may take; wide schemas are ranked and cut to fit."""

    @field_validator("privacy", mode="before")
    @classmethod
    def _privacy_mode(cls, value: Any) -> Any:
        text = value.strip().lower() if isinstance(value, str) else value
        if text not in PRIVACY_MODES:
            raise ValueError(
                f"unknown privacy mode {value!r}; valid values: {', '.join(PRIVACY_MODES)}"
            )
        return text

    @field_validator("prompt_budget_tokens")
    @classmethod
    def _prompt_budget(cls, value: int) -> int:
        if value < MIN_PROMPT_BUDGET_TOKENS:
            raise ValueError(
                f"{value} is too small: the instructions alone take about 3,000 tokens; "
                f"use at least {MIN_PROMPT_BUDGET_TOKENS} (default 16000)"
            )
        return value

    @field_validator("worker_memory_mb", mode="before")
    @classmethod
    def _resolve_auto_memory(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            text = value.strip().lower()
            if text == "auto":
                return auto_worker_memory_mb(_worker_count(info.data.get("workers", 4)))
            if not text.isdigit():
                raise ValueError(f"use auto, 0 (no limit) or a number of MiB, not {value!r}")
        return value

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
        return _worker_count(self.workers)

    def resolved_db_path(self) -> str:
        """The SQLite path to open (the store creates its folder, or says why it cannot)."""
        if self.db_path:
            return self.db_path
        from platformdirs import user_data_dir

        return str(Path(user_data_dir("chatdf", appauthor=False)) / "chatdf.db")

    def key(self) -> str | None:
        """The API key in clear, for the SDK only."""
        return self.api_key.get_secret_value() if self.api_key else None


def _worker_count(workers: int) -> int:
    return max(1, min(workers, os.cpu_count() or 1))


def auto_worker_memory_mb(worker_count: int, machine_mb: int | None = None) -> int:
    """The default worker memory limit: a share of the machine's memory per worker.

    Half of the memory (or of the container's limit, when lower) is divided
    among the workers, never less than ``AUTO_MEMORY_FLOOR_MB`` each: 6 GiB
    per worker on a 24 GiB machine with 2 workers.
    """
    total = machine_memory_mb() if machine_mb is None else machine_mb
    return max(AUTO_MEMORY_FLOOR_MB, int(total * AUTO_MEMORY_SHARE) // max(1, worker_count))


def machine_memory_mb() -> int:
    """Physical memory in MiB, or the cgroup (container) limit when that is lower."""
    import psutil

    total = psutil.virtual_memory().total
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total // 2**20


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into a ConfigError naming the variable."""
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(given) - set(Settings.model_fields))
    if unknown:
        known = sorted(Settings.model_fields)
        raise ConfigError(
            f"Unknown setting(s): {', '.join(unknown)}. Known settings: {', '.join(known)}.",
            details={"reason": "unknown_setting", "unknown": unknown, "known": known},
        )
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            name = "GEMINI_API_KEY" if field == "api_key" else ENV_PREFIX + field.upper()
            problems.append(f"{name}: {err['msg']}")
        raise ConfigError(
            "Invalid setting — " + "; ".join(problems), details={"reason": "invalid_setting"}
        ) from None

"""Settings of the gateway: a pydantic-settings model of its own.

Values come from ``CHATDF_GATEWAY_*`` environment variables, then a ``.env``
file in the working directory, then the defaults below. The kernel's
settings (:mod:`chatdf.settings`) are a different model: a kernel never sees
the team key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "CHATDF_GATEWAY_"
GOOGLE_GEMINI_URL = "https://generativelanguage.googleapis.com"
GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"


class SettingsError(ValueError):
    """A gateway setting is missing or invalid; the message names the variable."""


class GatewaySettings(BaseSettings):
    """Every knob of the gateway; see ``.env.example`` for the environment names."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    upstream_api_key: SecretStr | None = Field(default=None, repr=False)
    """The team's Gemini API key. Only the gateway holds it; it is never logged or returned."""
    upstream_url: str = GOOGLE_GEMINI_URL
    """The Gemini REST API the gateway forwards to."""
    oidc_discovery_url: str = GOOGLE_DISCOVERY_URL
    """OpenID Connect discovery document of the identity provider."""
    client_id: str | None = None
    """OAuth client id (Google Cloud console: an OAuth client of type "Web application")."""
    client_secret: SecretStr | None = Field(default=None, repr=False)
    """OAuth client secret."""
    public_url: str | None = None
    """The gateway's URL as browsers reach it; the redirect URI is this + ``/auth/callback``."""
    db_path: str | None = None
    """SQLite file of users, keys, tokens and usage; default in the user data folder."""
    token_limit: int = Field(default=1_000_000, ge=0)
    """Tokens per user per rolling 24 hours (0: no limit)."""
    require_referral: bool = True
    """A first sign-in needs a referral key."""
    allowed_domains: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Only accounts of these e-mail domains may sign in (comma-separated; empty: any)."""
    token_days: float = Field(default=30.0, gt=0)
    """Days a kernel's sign-in stays valid before the person signs in again."""

    @field_validator("allowed_domains", mode="before")
    @classmethod
    def _split_domains(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        if isinstance(value, (list, tuple)):
            return [str(v).strip().lower().lstrip("@") for v in value if str(v).strip()]
        return value

    @field_validator("upstream_url", "oidc_discovery_url", "public_url", mode="before")
    @classmethod
    def _http_url(cls, value: Any, info: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            # An empty line in .env means "the default".
            return cls.model_fields[info.field_name].default
        value = str(value).strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value

    def team_key(self) -> str | None:
        """The team key in clear, for the upstream request header only."""
        key = self.upstream_api_key.get_secret_value().strip() if self.upstream_api_key else ""
        return key or None

    def resolved_db_path(self) -> str:
        """The SQLite file to open, creating the default folder when needed."""
        if self.db_path:
            return self.db_path
        from platformdirs import user_data_dir

        folder = Path(user_data_dir("chatdf", appauthor=False))
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder / "chatdf-gateway.sqlite")

    def missing_for_serving(self) -> list[str]:
        """Variables ``serve`` needs that are not set."""
        needed = {
            "upstream_api_key": self.team_key(),
            "client_id": self.client_id,
            "client_secret": self.client_secret.get_secret_value() if self.client_secret else None,
        }
        return [ENV_PREFIX + name.upper() for name, value in needed.items() if not value]


def load_gateway_settings(**overrides: Any) -> GatewaySettings:
    """Build settings; a validation error becomes a SettingsError naming the variable."""
    try:
        return GatewaySettings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            problems.append(f"{ENV_PREFIX}{field.upper()}: {err['msg']}")
        raise SettingsError("Invalid setting — " + "; ".join(problems)) from None

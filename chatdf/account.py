"""Team mode, kernel side: sign in to a chatdf gateway and hold the per-user token.

With ``gateway_url`` set (``ChatDF(gateway_url=...)`` or ``CHATDF_GATEWAY_URL``)
the kernel holds no Gemini key. It signs in device-style: the gateway hands
out a link with a short code, the person opens it in any browser and signs
in with Google, and the kernel, polling, receives a per-user token. That
token goes where the SDK puts an API key; the gateway swaps it for the team
key upstream.

The token lives in this process's memory. With ``CHATDF_GATEWAY_TOKEN_CACHE=1``
it is also kept in ``<user config dir>/chatdf/gateway-tokens.json`` (mode
0600, folder 0700), one entry per gateway, so a restarted kernel is still
signed in; it is never written to the notebook, the widget state or the
history database.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from .errors import LLMError
from .usage import UsageSummary

log = logging.getLogger("chatdf.account")

SIGN_IN_TIMEOUT = 300.0
HTTP_TIMEOUT = httpx.Timeout(15.0, connect=10.0)


def sign_in_message(gateway_url: str) -> str:
    return (
        f"This session uses the chatdf gateway at {gateway_url}: sign in first with "
        "chat.sign_in() and open the link it shows (or use the widget's Sign in with Google)."
    )


def sign_in_again_message(gateway_url: str) -> str:
    return (
        f"The chatdf gateway at {gateway_url} no longer accepts this session's sign-in (it was "
        "revoked or has expired). Run chat.sign_in() again."
    )


def default_cache_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("chatdf", appauthor=False)) / "gateway-tokens.json"


@dataclass(frozen=True)
class SignInRequest:
    """What the gateway answered to a new sign-in (the device code stays private)."""

    url: str
    user_code: str
    expires_at: float
    interval: float
    device_code: str


class SignIn:
    """A sign-in in progress: open :attr:`url` in a browser, then :meth:`wait`.

    Attributes
    ----------
    url
        The address to open; it carries :attr:`user_code`.
    user_code
        The short code the browser page shows; check that they match.
    error
        Why the sign-in ended without success (expired, refused), else None.
    """

    def __init__(self, request: SignInRequest, done: Future[bool]) -> None:
        self.url = request.url
        self.user_code = request.user_code
        self.expires_at = request.expires_at
        self.error: str | None = None
        self._done = done

    def wait(self, timeout: float = SIGN_IN_TIMEOUT) -> bool:
        """Block until the person has signed in: True, or False after ``timeout`` seconds
        (or when the code expired or the sign-in was refused; see :attr:`error`)."""
        try:
            return self._done.result(timeout=max(0.0, timeout))
        except FutureTimeout:
            return False

    @property
    def done(self) -> bool:
        return self._done.done()

    def __repr__(self) -> str:
        return f"SignIn(url={self.url!r}, user_code={self.user_code!r})"

    def _repr_html_(self) -> str:
        url = html.escape(self.url, quote=True)
        return (
            f'<p>Open <a href="{url}" target="_blank" rel="noopener noreferrer">{url}</a> and '
            "sign in with Google; the page shows the code "
            f"<b><code>{html.escape(self.user_code)}</code></b>. "
            "Then run <code>sign_in.wait()</code>, or just ask.</p>"
        )


class TeamAccount:
    """The kernel's account at one gateway: its token and identity, kept in memory.

    Parameters
    ----------
    gateway_url
        The gateway's base URL.
    cache_path
        Where to keep the token across kernel restarts (mode 0600); None keeps
        it in memory only.
    """

    def __init__(self, gateway_url: str, *, cache_path: Path | None = None) -> None:
        self.gateway_url = gateway_url.rstrip("/")
        self.cache_path = cache_path
        self._token: SecretStr | None = None
        self._identity: dict[str, str] | None = None
        self._http: httpx.AsyncClient | None = None
        self._load_cache()

    def __repr__(self) -> str:
        who = self._identity["email"] if self._identity else "signed out"
        return f"TeamAccount({self.gateway_url!r}, {who})"

    @property
    def token(self) -> SecretStr | None:
        return self._token

    @property
    def identity(self) -> dict[str, str] | None:
        """``{"email", "name"}`` while signed in, else None."""
        return dict(self._identity) if self._identity else None

    # -- HTTP ---------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self.gateway_url, timeout=HTTP_TIMEOUT)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._client().request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise LLMError(
                f"Could not reach the chatdf gateway at {self.gateway_url} "
                f"({type(exc).__name__}). Check CHATDF_GATEWAY_URL and your network.",
                "network",
            ) from None

    # -- sign-in ------------------------------------------------------------------------

    async def request_sign_in(self) -> SignInRequest:
        response = await self._send("POST", "/v1/sign-in")
        if response.status_code != 200:
            raise LLMError(
                f"The chatdf gateway at {self.gateway_url} refused to start a sign-in "
                f"(HTTP {response.status_code}). Try again in a minute.",
                "rate_limit" if response.status_code == 429 else "server",
                retry_after=_float(response.headers.get("retry-after")),
            )
        data = response.json()
        return SignInRequest(
            url=data["url"],
            user_code=data["user_code"],
            expires_at=time.monotonic() + float(data.get("expires_in", 600)),
            interval=max(0.2, float(data.get("interval", 1))),
            device_code=data["device_code"],
        )

    async def complete_sign_in(self, request: SignInRequest, sign_in: SignIn) -> bool:
        """Poll until the person signed in (token kept: True) or the code ended (False)."""
        while time.monotonic() < request.expires_at:
            try:
                response = await self._send(
                    "POST", "/v1/sign-in/token", data={"device_code": request.device_code}
                )
            except LLMError:
                await asyncio.sleep(request.interval * 2)  # the gateway may be restarting
                continue
            body = _json(response)
            if response.status_code == 200 and body.get("access_token"):
                self._token = SecretStr(str(body["access_token"]))
                self._identity = {"email": str(body.get("email", "")), "name": str(body.get("name", ""))}
                self._save_cache()
                return True
            error = body.get("error")
            if error == "authorization_pending":
                await asyncio.sleep(request.interval)
                continue
            if error == "slow_down":
                request = SignInRequest(**{**request.__dict__, "interval": request.interval + 1})
                await asyncio.sleep(request.interval)
                continue
            sign_in.error = str(body.get("error_description") or error or f"HTTP {response.status_code}")
            log.warning("chatdf: the sign-in ended without success: %s", sign_in.error)
            return False
        sign_in.error = "The sign-in code expired. Run chat.sign_in() again."
        return False

    def forget(self) -> None:
        """Drop the token (revoked, expired or signed out), from memory and the cache."""
        self._token = None
        self._identity = None
        self._save_cache()

    # -- the gateway's view of this user ---------------------------------------------------

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            raise LLMError(sign_in_message(self.gateway_url), "sign_in_required")
        return {"x-goog-api-key": self._token.get_secret_value()}

    async def usage(self) -> UsageSummary:
        """The gateway's numbers for this user (``GET /v1/usage``)."""
        response = await self._send("GET", "/v1/usage", headers=self._headers())
        if response.status_code == 401:
            self.forget()
            raise LLMError(sign_in_again_message(self.gateway_url), "sign_in_required")
        if response.status_code != 200:
            raise LLMError(
                f"The chatdf gateway could not report usage (HTTP {response.status_code}).", "server"
            )
        return UsageSummary.model_validate(response.json())

    async def check_ready(self) -> UsageSummary:
        """Refuse a question before it starts: not signed in, sign-in revoked, limit reached."""
        summary = await self.usage()
        if summary.exhausted:
            wait = max(1, summary.resets_in_seconds)
            raise LLMError(
                f"Your limit at the chatdf gateway is reached: {summary.used:,} of "
                f"{summary.limit:,} tokens in the last 24 hours. Try again in about {wait} s.",
                "rate_limit",
                retry_after=float(wait),
                details={"used": summary.used, "limit": summary.limit},
            )
        return summary

    # -- the optional token cache ---------------------------------------------------------

    def _load_cache(self) -> None:
        if self.cache_path is None or not self.cache_path.is_file():
            return
        try:
            entry = json.loads(self.cache_path.read_text()).get(self.gateway_url)
        except (OSError, ValueError, AttributeError):
            log.warning("chatdf: ignoring an unreadable token cache at %s", self.cache_path)
            return
        if isinstance(entry, dict) and entry.get("token"):
            self._token = SecretStr(str(entry["token"]))
            self._identity = {"email": str(entry.get("email", "")), "name": str(entry.get("name", ""))}

    def _save_cache(self) -> None:
        if self.cache_path is None:
            return
        try:
            entries = json.loads(self.cache_path.read_text()) if self.cache_path.is_file() else {}
            if not isinstance(entries, dict):
                entries = {}
        except (OSError, ValueError):
            entries = {}
        if self._token is None:
            if self.gateway_url not in entries:
                return
            entries.pop(self.gateway_url)
        else:
            entries[self.gateway_url] = {"token": self._token.get_secret_value(), **(self._identity or {})}
        try:
            self.cache_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Created 0600 from the start: the token is never readable by others, not even briefly.
            fd = os.open(self.cache_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(entries, handle)
        except OSError as exc:
            log.warning("chatdf: the sign-in could not be cached (%s); it stays in memory", exc)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


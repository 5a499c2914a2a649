"""A team on 127.0.0.1 for tests: the real gateway between a fake Gemini and a fake provider.

:func:`start_team` serves the gateway with uvicorn on a real socket; a
:class:`Team` acts as the admin (the real CLI), the browser (httpx following
the forms) and the kernel (a real ``ChatDF``).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from chatdf import ChatDF
from chatdf.gateway.app import create_app
from chatdf.gateway.cli import main as gateway_cli
from chatdf.gateway.ratelimit import RateLimits
from chatdf.gateway.settings import GatewaySettings
from tests.fake_gemini import FakeGemini
from tests.gateway.browser import Browser
from tests.gateway.fake_oidc import CLIENT_ID, CLIENT_SECRET, FakeProvider
from tests.gateway.servers import UvicornThread

__all__ = ["TEAM_KEY", "Recorder", "Team", "start_team"]

# Only the gateway holds this key. It differs from the fake Gemini's usual test key, which
# other tests' chats in this process hold, so a search of the kernel's memory for it finds
# the gateway's key only if it really leaked.
TEAM_KEY = "chatdf-FAKE-team-key-held-only-by-the-gateway"


class Recorder:
    """ASGI wrapper keeping every request header and response byte the gateway exchanged."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[bytes] = []
        self.responses: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.requests.append(repr(scope.get("headers")).encode() + scope.get("query_string", b""))

        async def recv() -> Any:
            message = await receive()
            if message.get("type") == "http.request":
                self.requests.append(message.get("body", b""))
            return message

        async def keep(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.responses.append(repr(message.get("headers")).encode())
            elif message["type"] == "http.response.body":
                self.responses.append(message.get("body", b""))
            await send(message)

        await self.app(scope, recv, keep)

    def response_bytes(self) -> bytes:
        return b"".join(self.responses)

    def request_bytes(self) -> bytes:
        return b"".join(self.requests)


@dataclass
class Team:
    """The servers of one test and helpers to act as the admin, the browser and the kernel."""

    upstream: FakeGemini
    provider: FakeProvider
    settings: GatewaySettings
    limits: RateLimits = field(default_factory=RateLimits)
    server: UvicornThread = field(default_factory=UvicornThread)
    recorder: Recorder | None = None
    browsers: list[Browser] = field(default_factory=list)
    chats: list[ChatDF] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> Team:
        self.recorder = Recorder(create_app(self.settings, limits=self.limits))
        self.server.start(self.recorder)
        return self

    def restart(self) -> None:
        """Stop the gateway and start a new process-worth of it on the same port and file."""
        port = self.server.port
        self.server.stop()
        self.server = UvicornThread(port)
        self.start()

    def admin(self, *argv: str) -> str:
        """Run ``chatdf-gateway ARGV`` (the real CLI, same settings) and return what it printed."""
        out = io.StringIO()
        # In a thread of its own: the command runs its own event loop, and a caller may be
        # inside one (sync Playwright keeps the main thread's loop marked as running).
        with contextlib.redirect_stdout(out), ThreadPoolExecutor(1) as pool:
            code = pool.submit(gateway_cli, list(argv)).result()
        assert code == 0, (argv, code, out.getvalue())
        return out.getvalue()

    def referral_key(self, uses: int = 1) -> str:
        return self.admin("referral", "create", "--uses", str(uses)).strip()

    def browser(self) -> Browser:
        browser = Browser()
        self.browsers.append(browser)
        return browser

    def chat(self, **settings: Any) -> ChatDF:
        chat = ChatDF(gateway_url=self.url, **settings)
        self.chats.append(chat)
        return chat

    def signed_in_chat(self, key: str | None = None, **settings: Any) -> ChatDF:
        """A kernel signed in through the whole flow (a new referral key unless given)."""
        chat = self.chat(**settings)
        sign_in = chat.sign_in()
        page = self.browser().sign_in(sign_in.url, referral_key=key or self.referral_key())
        assert "Signed in as" in page.text, page.text
        assert sign_in.wait(timeout=10)
        return chat

    def api_token(self, key: str | None = None) -> str:
        """A per-user token obtained like a kernel does, without a ChatDF."""
        started = httpx.post(f"{self.url}/v1/sign-in").json()
        page = self.browser().sign_in(started["url"], referral_key=key or self.referral_key())
        assert "Signed in as" in page.text, page.text
        answer = httpx.post(f"{self.url}/v1/sign-in/token", data={"device_code": started["device_code"]})
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def close(self) -> None:
        for chat in self.chats:
            chat.close()
        for browser in self.browsers:
            browser.close()
        self.server.stop()


def start_team(
    upstream: FakeGemini,
    provider: FakeProvider,
    db_path: Path,
    setenv: Callable[[str, str], None],
    *,
    limits: RateLimits | None = None,
    **overrides: Any,
) -> Team:
    """A started gateway; its settings also go to the environment (``setenv``), so the
    admin CLI run in this process sees the same database."""
    server = UvicornThread()
    values: dict[str, Any] = {
        "upstream_api_key": TEAM_KEY,
        "upstream_url": upstream.url,
        "oidc_discovery_url": f"{provider.issuer}/.well-known/openid-configuration",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "public_url": server.url,
        "db_path": str(db_path),
        **overrides,
    }
    for name, value in values.items():
        setenv(f"CHATDF_GATEWAY_{name.upper()}", ",".join(value) if isinstance(value, list) else str(value))
    settings = GatewaySettings(**values, _env_file=None)
    return Team(upstream, provider, settings, limits or RateLimits(), server).start()

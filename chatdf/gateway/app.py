"""The gateway's ASGI application: routes, lifespan, error pages, the team-key guard.

:func:`create_app` builds a Starlette app from :class:`GatewaySettings`; the
store, the upstream HTTP client and the OpenID client are opened in its
lifespan and live on ``app.state.gateway`` (a :class:`Gateway`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import pages, proxy, signin
from .oidc import Provider
from .ratelimit import Limiter, RateLimits
from .sessions import ServerSessions
from .settings import GatewaySettings, SettingsError, load_gateway_settings
from .store import GatewayStore

log = logging.getLogger("chatdf.gateway")

_API_PREFIXES = ("/v1/", "/v1beta/", "/v1alpha/")
# Records are filtered where they are logged: these are the gateway's and its libraries'.
_GUARDED_LOGGERS = (
    "chatdf.gateway",
    "chatdf.gateway.oidc",
    "chatdf.gateway.proxy",
    "chatdf.gateway.signin",
    "httpx",
    "httpcore",
    "authlib",
    "uvicorn.error",
    "uvicorn.access",
)
UPSTREAM_TIMEOUT = httpx.Timeout(connect=10.0, read=300.0, write=60.0, pool=10.0)


@dataclass
class Gateway:
    """What the routes share: settings, store, upstream client, OpenID client, limits."""

    settings: GatewaySettings
    limits: RateLimits
    store: GatewayStore = field(init=False)
    upstream: httpx.AsyncClient = field(init=False)
    provider: Provider = field(init=False)
    limiter: Limiter = field(default_factory=Limiter)

    @property
    def team_key(self) -> str:
        key = self.settings.team_key()
        assert key is not None  # create_app refuses to build without it
        return key

    def scrub(self, data: bytes) -> bytes:
        """``data`` without the team key (defence in depth: Google does not echo keys)."""
        return data.replace(self.team_key.encode(), b"[redacted]")


class RedactTeamKey(logging.Filter):
    """A log filter that replaces the team key in every record it sees."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.key in message:
            record.msg = message.replace(self.key, "[redacted]")
            record.args = None
        return True


class AccessLog:
    """One line per request: client, method, path without query, status, time (no headers)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            client = scope.get("client") or ("-", 0)
            log.info(
                "%s %s %s %d %.0f ms",
                client[0],
                scope["method"],
                scope["path"],
                status,
                (time.monotonic() - started) * 1000,
            )


def _is_api(path: str) -> bool:
    return path.startswith(_API_PREFIXES)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if _is_api(request.url.path):
        return proxy.google_error(exc.status_code, f"The gateway has no route for {request.url.path}.")
    text = {404: "Not found.", 405: "Method not allowed."}.get(exc.status_code, "Request refused.")
    return PlainTextResponse(text, status_code=exc.status_code, headers=pages.SECURITY_HEADERS)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    if _is_api(request.url.path):
        return proxy.google_error(500, "The gateway failed unexpectedly. Try again.")
    return PlainTextResponse(
        "Something went wrong on the gateway. Try again from your notebook.",
        status_code=500,
        headers=pages.SECURITY_HEADERS,
    )


def create_app(
    settings: GatewaySettings | None = None,
    *,
    limits: RateLimits | None = None,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """The gateway as an ASGI app.

    Parameters
    ----------
    settings
        Defaults to the environment (``CHATDF_GATEWAY_*`` and ``.env``).
    limits
        Rate limits of the sign-in steps.
    upstream_transport
        The HTTP transport to Gemini (default: a real connection pool).
    """
    settings = settings or load_gateway_settings()
    missing = settings.missing_for_serving()
    public_url = settings.public_url
    if public_url is None:
        missing.append("CHATDF_GATEWAY_PUBLIC_URL")
    if missing or public_url is None:
        raise SettingsError("The gateway needs these settings: " + ", ".join(missing) + ".")
    gateway = Gateway(settings, limits or RateLimits())
    redact = RedactTeamKey(gateway.team_key)
    guarded = [logging.getLogger(name) for name in _GUARDED_LOGGERS]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for logger in guarded:
            logger.addFilter(redact)
        gateway.store = await GatewayStore.open(settings.resolved_db_path())
        gateway.upstream = httpx.AsyncClient(
            base_url=settings.upstream_url,
            timeout=UPSTREAM_TIMEOUT,
            transport=upstream_transport,
            follow_redirects=False,
        )
        gateway.provider = Provider(settings, gateway.store)
        log.info(
            "chatdf gateway at %s: upstream %s, store %s",
            settings.public_url,
            settings.upstream_url,
            gateway.store.path,
        )
        try:
            yield
        finally:
            await gateway.upstream.aclose()
            await gateway.store.close()
            for logger in guarded:
                logger.removeFilter(redact)

    app = Starlette(
        routes=[*signin.routes(), *proxy.routes()],
        middleware=[
            Middleware(AccessLog),
            Middleware(
                ServerSessions,
                store=lambda: gateway.store,
                max_age=signin.SIGN_IN_SECONDS,
                secure=public_url.startswith("https://"),
            ),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app

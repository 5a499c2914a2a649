"""Server-side browser sessions for the sign-in pages.

The cookie holds only a random id; the data (CSRF token, the sign-in being
completed, Authlib's state, nonce and PKCE verifier) stays in the store under
the id's hash, so a session ends for good when it is deleted and a copied
cookie replays nothing that was already used. Sessions last as long as a
sign-in code (10 minutes).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .store import GatewayStore

COOKIE = "chatdf_session"


class ServerSessions:
    """ASGI middleware: ``request.session`` backed by :class:`GatewayStore`.

    Parameters
    ----------
    app
        The wrapped application.
    store
        Returns the open store (it is opened in the app's lifespan).
    max_age
        Seconds a session lives.
    secure
        Mark the cookie ``Secure`` (the gateway is reached over HTTPS).
    """

    def __init__(
        self, app: ASGIApp, store: Callable[[], GatewayStore], *, max_age: int, secure: bool
    ) -> None:
        self.app = app
        self.store = store
        self.max_age = max_age
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session_id = _cookie(scope, COOKIE)
        data = await self.store().load_session(session_id) if session_id else None
        if data is None:
            session_id = None
        session: dict[str, Any] = dict(data or {})
        before = dict(session)
        scope["session"] = session

        async def send_with_cookie(message: Message) -> None:
            nonlocal session_id
            if message["type"] == "http.response.start" and session != before:
                headers = MutableHeaders(scope=message)
                if session:
                    session_id = session_id or secrets.token_urlsafe(32)
                    await self.store().save_session(session_id, session, self.max_age)
                    headers.append("set-cookie", self._cookie(session_id, self.max_age))
                elif session_id:
                    await self.store().delete_session(session_id)
                    headers.append("set-cookie", self._cookie("", 0))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _cookie(self, value: str, max_age: int) -> str:
        parts = [f"{COOKIE}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header is no session
                return None
            if name in jar:
                return jar[name].value or None
    return None

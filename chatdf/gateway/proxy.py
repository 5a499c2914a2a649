"""The Gemini REST surface: the kernel's google-genai SDK talks to the gateway as to Google.

Routes (``{version}`` is ``v1beta``, ``v1`` or ``v1alpha``, as the SDK sends):

- ``POST /{version}/models/{model}:generateContent``
- ``POST /{version}/models/{model}:streamGenerateContent?alt=sse`` (relayed chunk by chunk)
- ``POST /{version}/models/{model}:countTokens``
- ``GET /{version}/models/{model}``
- ``GET /v1/usage`` and ``GET /v1/account``: the caller's own usage and identity

The per-user token arrives where the SDK puts an API key (``x-goog-api-key``;
``Authorization: Bearer`` works too). Each call is checked against the
user's rolling 24-hour total before it is forwarded with the team key; the
user's token never goes upstream and the team key never comes back (every
relayed body is scrubbed of it). Tokens are counted from ``usageMetadata``:
for a stream, the last one seen, so a stream cut off half-way still counts
what it used. Errors use Google's format, so the SDK and chatdf read them as
they read Google's: 401 ``UNAUTHENTICATED`` for an unknown or revoked token,
429 ``RESOURCE_EXHAUSTED`` with a ``RetryInfo`` when the limit is reached.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..usage import UsageSummary
from .store import User

if TYPE_CHECKING:
    from .app import Gateway

log = logging.getLogger("chatdf.gateway.proxy")

API_VERSIONS = frozenset({"v1beta", "v1", "v1alpha"})
METHODS = frozenset({"generateContent", "streamGenerateContent", "countTokens"})
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_REQUEST_BYTES = 32 * 1024 * 1024
MAX_ERROR_BYTES = 64 * 1024
ERROR_DOMAIN = "chatdf-gateway"

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

SIGN_IN_MESSAGE = "This chatdf gateway needs you to sign in: run chat.sign_in() in your notebook."
RESIGN_MESSAGE = (
    "Your chatdf sign-in is no longer valid (it was revoked or has expired): "
    "run chat.sign_in() again."
)


def google_error(
    code: int,
    message: str,
    *,
    reason: str | None = None,
    retry_after: int | None = None,
    metadata: dict[str, str] | None = None,
) -> JSONResponse:
    """An error in Google's RPC format: ``{"error": {"code", "message", "status", "details"}}``."""
    details: list[dict[str, Any]] = []
    if reason:
        info: dict[str, Any] = {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": ERROR_DOMAIN,
        }
        if metadata:
            info["metadata"] = metadata
        details.append(info)
    headers = {"cache-control": "no-store"}
    if retry_after is not None:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after}s"}
        )
        headers["retry-after"] = str(retry_after)
    body = {
        "error": {
            "code": code,
            "message": message,
            "status": _STATUS.get(code, "UNKNOWN"),
            "details": details,
        }
    }
    return JSONResponse(body, status_code=code, headers=headers)


def _gateway(request: Request) -> Gateway:
    return request.app.state.gateway


def presented_token(request: Request) -> str | None:
    """The per-user token from ``x-goog-api-key`` or ``Authorization: Bearer``."""
    token = request.headers.get("x-goog-api-key", "").strip()
    if not token:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            token = value.strip()
    return token or None


async def authenticate(request: Request) -> User | JSONResponse:
    """The signed-in user, or the 401 to send back."""
    token = presented_token(request)
    if token is None:
        return google_error(401, SIGN_IN_MESSAGE, reason="CHATDF_SIGN_IN_REQUIRED")
    user = await _gateway(request).store.user_for_token(token)
    if user is None:
        return google_error(401, RESIGN_MESSAGE, reason="CHATDF_SIGN_IN_REQUIRED")
    return user


async def _summary(gateway: Gateway, user: User) -> UsageSummary:
    return await gateway.store.usage_summary(user, gateway.settings.token_limit)


def limit_error(summary: UsageSummary) -> JSONResponse:
    wait = max(1, summary.resets_in_seconds)
    return google_error(
        429,
        f"Your chatdf gateway limit is reached: {summary.used:,} of {summary.limit:,} tokens "
        f"in the last 24 hours. You can ask again in {_duration(wait)}.",
        reason="CHATDF_USER_LIMIT",
        retry_after=wait,
        metadata={"used": str(summary.used), "limit": str(summary.limit)},
    )


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


# -- usage metering ---------------------------------------------------------------------


def tokens_of(response: Any) -> tuple[int, int] | None:
    """(input, output) tokens from a GenerateContentResponse's ``usageMetadata``.

    Thinking tokens count as output (they are billed so), as in the kernel.
    """
    meta = response.get("usageMetadata") if isinstance(response, dict) else None
    if not isinstance(meta, dict):
        return None

    def count(name: str) -> int:
        value = meta.get(name)
        return value if isinstance(value, int) and value > 0 else 0

    return count("promptTokenCount"), count("candidatesTokenCount") + count("thoughtsTokenCount")


class StreamMeter:
    """Reads the SSE bytes as they pass and keeps the last ``usageMetadata`` seen.

    Gemini sends running totals, so the last one is the stream's usage, and a
    stream that breaks off still yields what it used until then.
    """

    MAX_LINE = 4 * 1024 * 1024

    def __init__(self) -> None:
        self.tokens: tuple[int, int] | None = None
        self._pending = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        self._pending += chunk
        while True:
            end = self._pending.find(b"\n")
            if end < 0:
                break
            line = self._pending[:end].rstrip(b"\r")
            self._pending = self._pending[end + 1 :]
            if not line:
                self._dispatch()
            elif line.startswith(b"data:"):
                self._data.append(line[5:].removeprefix(b" "))
        if len(self._pending) > self.MAX_LINE:  # not SSE we can read; do not hoard it
            self._pending = b""

    def close(self) -> None:
        """The stream ended; an event without its final blank line still counts if whole."""
        if self._pending.startswith(b"data:"):
            self._data.append(self._pending[5:].rstrip(b"\r\n").removeprefix(b" "))
        self._pending = b""
        self._dispatch()

    def _dispatch(self) -> None:
        if not self._data:
            return
        payload, self._data = b"\n".join(self._data), []
        if b"usageMetadata" not in payload:  # most of a stream: nothing to count, skip parsing
            return
        try:
            event = json.loads(payload)
        except ValueError:
            return
        tokens = tokens_of(event)
        if tokens is not None and tokens[0] + tokens[1]:
            self.tokens = tokens


# -- the routes ---------------------------------------------------------------------------


async def usage(request: Request) -> Response:
    """``GET /v1/usage``: the caller's usage over the rolling 24 hours (as ``chat.usage``)."""
    user = await authenticate(request)
    if isinstance(user, Response):
        return user
    summary = await _summary(_gateway(request), user)
    return JSONResponse(summary.model_dump(mode="json"), headers={"cache-control": "no-store"})


async def account(request: Request) -> Response:
    """``GET /v1/account``: who the token belongs to."""
    user = await authenticate(request)
    if isinstance(user, Response):
        return user
    return JSONResponse({"email": user.email, "name": user.name}, headers={"cache-control": "no-store"})


async def model_call(request: Request) -> Response:
    """Every ``/{version}/models/...`` call: authenticate, check the limit, forward, meter."""
    gateway = _gateway(request)
    version = request.path_params["version"]
    target = request.path_params["target"]
    if request.method == "GET":
        model, method = target, None
    else:
        model, _, method = target.rpartition(":")
    if (
        version not in API_VERSIONS
        or not MODEL_NAME.match(model)
        or (request.method == "POST" and method not in METHODS)
    ):
        return google_error(404, f"The gateway has no route for {request.method} {request.url.path}.")
    user = await authenticate(request)
    if isinstance(user, Response):
        return user
    limit = gateway.settings.token_limit
    if limit and await gateway.store.used_tokens(user) >= limit:
        return limit_error(await _summary(gateway, user))

    body = b""
    if request.method == "POST":
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
            return google_error(413, "The request is too large for the gateway.")
        chunks = []
        size = 0
        async for piece in request.stream():
            size += len(piece)
            if size > MAX_REQUEST_BYTES:
                return google_error(413, "The request is too large for the gateway.")
            chunks.append(piece)
        body = b"".join(chunks)

    path = f"/{version}/models/{model}" + (f":{method}" if method else "")
    stream = method == "streamGenerateContent"
    upstream_request = gateway.upstream.build_request(
        request.method,
        path,
        params={"alt": "sse"} if stream else None,
        content=body if request.method == "POST" else None,
        headers={
            "content-type": "application/json",
            "x-goog-api-key": gateway.team_key,
        },
    )
    try:
        upstream = await gateway.upstream.send(upstream_request, stream=True)
    except httpx.TimeoutException:
        return google_error(504, "Gemini did not answer the gateway in time. Try again.")
    except httpx.HTTPError as exc:
        log.warning("upstream unreachable: %s", type(exc).__name__)
        return google_error(502, "The gateway could not reach Gemini. Try again in a minute.")

    if upstream.status_code != 200:
        return await _relay_error(gateway, upstream)
    if stream:
        return StreamingResponse(
            _relay_stream(gateway, upstream, user, model),
            media_type="text/event-stream",
            headers={"cache-control": "no-store"},
        )
    try:
        data = await upstream.aread()
    except httpx.HTTPError:
        return google_error(502, "The connection to Gemini broke. Try again.")
    finally:
        await upstream.aclose()
    if method == "generateContent":
        try:
            tokens = tokens_of(json.loads(data))
        except ValueError:
            tokens = None
        if tokens is not None and tokens[0] + tokens[1]:
            await gateway.store.record_usage(user.id, model, *tokens)
    return Response(
        gateway.scrub(data),
        media_type=upstream.headers.get("content-type", "application/json"),
        headers={"cache-control": "no-store"},
    )


async def _relay_error(gateway: Gateway, upstream: httpx.Response) -> Response:
    """Google's error, scrubbed; a refused team key becomes the gateway's own 502."""
    try:
        raw = b""
        async for piece in upstream.aiter_bytes():
            raw += piece
            if len(raw) > MAX_ERROR_BYTES:
                break
    except httpx.HTTPError:
        raw = b""
    finally:
        await upstream.aclose()
    status = upstream.status_code
    try:
        error = json.loads(raw).get("error", {})
    except (ValueError, AttributeError):
        error = {}
    text = json.dumps(error).lower()
    if status in (401, 403) or (status == 400 and ("api_key_invalid" in text or "api key" in text)):
        log.error("Gemini refused the team key (HTTP %d): check CHATDF_GATEWAY_UPSTREAM_API_KEY", status)
        return google_error(
            502, "Gemini refused the gateway's key. Tell the gateway's administrator.",
            reason="CHATDF_UPSTREAM_KEY_REFUSED",
        )
    if not isinstance(error, dict) or not error:
        return google_error(status if status >= 400 else 502, f"Gemini answered HTTP {status}.")
    headers = {"cache-control": "no-store"}
    if "retry-after" in upstream.headers:
        headers["retry-after"] = upstream.headers["retry-after"]
    return Response(
        gateway.scrub(raw),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


async def _relay_stream(
    gateway: Gateway, upstream: httpx.Response, user: User, model: str
) -> AsyncIterator[bytes]:
    meter = StreamMeter()
    try:
        async for chunk in upstream.aiter_bytes():
            meter.feed(chunk)
            yield gateway.scrub(chunk)
        meter.close()
    except httpx.HTTPError as exc:
        # Gemini broke off: cut the client's stream too (a clean end would read as complete).
        log.warning("the stream from Gemini broke off (%s)", type(exc).__name__)
        raise
    finally:
        # Also when the client went away (cancellation): close upstream and count the tokens.
        with anyio.CancelScope(shield=True):
            await upstream.aclose()
            if meter.tokens is not None:
                await gateway.store.record_usage(user.id, model, *meter.tokens)


def routes() -> list[Route]:
    return [
        Route("/v1/usage", usage, methods=["GET"]),
        Route("/v1/account", account, methods=["GET"]),
        Route("/{version}/models/{target:path}", model_call, methods=["GET", "POST"]),
    ]

"""SDK, httpx and socket errors -> :class:`~chatdf.errors.LLMError`, with the key scrubbed.

Each failure also says whether it is transient (retried by the client).
"""

from __future__ import annotations

import importlib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from google.genai import errors as genai_errors
from pydantic import ValidationError

from ..account import sign_in_again_message
from ..errors import LLMError, LLMErrorKind

MISSING_KEY_MESSAGE = (
    "No Gemini API key. Set GEMINI_API_KEY or pass api_key=... (the variable may also be in "
    "a .env file; get a key at https://aistudio.google.com/apikey)."
)
_RETRYABLE_STATUS = {408, 500, 502, 503, 504}
_TOO_LARGE = re.compile(
    r"input token count|exceeds the maximum number of tokens|too many tokens|"
    r"context (length|window)|payload size exceeds|request too large|too large",
    re.IGNORECASE,
)


def _http_errors(name: str) -> tuple[type[BaseException], ...]:
    """Exception class ``name`` of httpx and of httpx2 (the SDK uses either)."""
    found = []
    for module_name in ("httpx", "httpx2"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        cls = getattr(module, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


_CONNECT_TIMEOUT = _http_errors("ConnectTimeout")
_TIMEOUT = _http_errors("TimeoutException")
_CONNECT_ERROR = _http_errors("ConnectError")
_BROKEN = (
    _http_errors("RemoteProtocolError") + _http_errors("ReadError") + _http_errors("WriteError")
)
_BAD_URL = _http_errors("UnsupportedProtocol") + _http_errors("InvalidURL")
_TRANSPORT = _http_errors("TransportError")


@dataclass(frozen=True)
class _Failure:
    error: LLMError
    retryable: bool = False
    hint: float | None = None


# Real keys are ~39 characters; scrubbing a 1-3 character test value would
# mangle every message without protecting anything.
_MIN_SCRUB_LENGTH = 6


def _scrub(text: str, secret: str | None) -> str:
    if secret and len(secret) >= _MIN_SCRUB_LENGTH:
        text = text.replace(secret, "[redacted]")
    return text


def _scrub_value(value: Any, secret: str | None) -> Any:
    if isinstance(value, str):
        return _scrub(value, secret)
    if isinstance(value, dict):
        return {k: _scrub_value(v, secret) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub_value(v, secret) for v in value]
    return value


def _snippet(text: Any, limit: int = 300) -> str:
    """``text`` on one line, at most ``limit`` characters, without a final period."""
    flat = " ".join(str(text or "").split()).rstrip(".")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _seconds(value: Any) -> float | None:
    """``"37s"``, ``"1.5s"``, ``"7"`` or a number as seconds."""
    if value is None:
        return None
    try:
        return max(0.0, float(str(value).strip().removesuffix("s")))
    except ValueError:
        return None


def _api_error_fields(exc: genai_errors.APIError) -> tuple[str, list[dict[str, Any]]]:
    """The server's message and its ``details`` list from an SDK APIError."""
    body: dict[str, Any] = exc.details if isinstance(exc.details, dict) else {}
    nested = body.get("error")
    inner: dict[str, Any] = nested if isinstance(nested, dict) else body
    listed = inner.get("details")
    details: list[Any] = listed if isinstance(listed, list) else []
    return str(exc.message or inner.get("message") or ""), [
        d for d in details if isinstance(d, dict)
    ]


def _retry_after(exc: genai_errors.APIError, details: list[dict[str, Any]]) -> float | None:
    for detail in details:
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            return _seconds(detail.get("retryDelay"))
    headers = getattr(exc.response, "headers", None)
    if headers is not None:
        try:
            return _seconds(headers.get("retry-after"))
        except Exception:  # noqa: BLE001 - an odd header object: no hint, not a failure
            return None
    return None


class ErrorMapping:
    """Turns what a Gemini call raised into a scrubbed :class:`_Failure` (a mixin of
    :class:`~chatdf.llm.client.GeminiClient`, which sets these)."""

    model: str
    timeout: float
    base_url: str | None
    gateway_url: str | None

    def _secret(self) -> str | None:
        raise NotImplementedError

    def _scrubbed(self, error: LLMError) -> LLMError:
        secret = self._secret()
        if _scrub(error.message, secret) == error.message and _scrub(
            repr(error.details), secret
        ) == repr(error.details):
            return error
        return LLMError(
            _scrub(error.message, secret),
            error.kind,
            retry_after=error.retry_after,
            details=_scrub_value(error.details, secret),
        )

    def _endpoint(self) -> str:
        if not self.base_url:
            return "generativelanguage.googleapis.com"
        parts = urlsplit(self.base_url)
        return parts.netloc or self.base_url

    def _translate(self, exc: BaseException, *, attempts: int) -> _Failure:
        """Map one SDK/httpx/socket error to an LLMError (scrubbed) and whether to retry."""
        failure = self._classify(exc, attempts)
        return _Failure(self._scrubbed(failure.error), failure.retryable, failure.hint)

    def _classify(self, exc: BaseException, attempts: int) -> _Failure:
        tried = f" Gave up after {attempts} attempts." if attempts > 1 else ""
        where = self._endpoint()
        custom = (
            " or CHATDF_GATEWAY_URL"
            if self.gateway_url
            else " or CHATDF_GEMINI_BASE_URL" if self.base_url else ""
        )

        def fail(message: str, kind: LLMErrorKind, **extra: Any) -> _Failure:
            retry_after = extra.pop("retry_after", None)
            retryable = extra.pop("retryable", False)
            hint = extra.pop("hint", None)
            return _Failure(
                LLMError(message, kind, retry_after=retry_after, details=extra), retryable, hint
            )

        if isinstance(exc, genai_errors.APIError):
            code = int(exc.code or 0)
            status = str(exc.status or "")
            message, details = _api_error_fields(exc)
            said = _snippet(message)
            reasons = {str(d.get("reason")) for d in details if d.get("reason")}
            label = f"{code} {status}".strip()
            if code == 400 and ("API_KEY_INVALID" in reasons or "api key" in message.lower()):
                return fail(
                    f"Gemini rejected the API key ({said or label}). Check GEMINI_API_KEY or pass "
                    "api_key=... with a valid key from https://aistudio.google.com/apikey.",
                    "invalid_key",
                    status=code,
                )
            if code == 401 and self.gateway_url:
                return fail(sign_in_again_message(self.gateway_url), "sign_in_required", status=code)
            if code in (401, 403):
                return fail(
                    f"Gemini refused the request ({label}: {said}). Check that GEMINI_API_KEY is a "
                    "valid Gemini API key with access to the Generative Language API.",
                    "invalid_key",
                    status=code,
                )
            if code == 429:
                retry_after = _retry_after(exc, details)
                when = (
                    f"Try again in about {retry_after:.0f} s."
                    if retry_after is not None
                    else "Wait a minute and try again."
                )
                quota = (
                    " If this keeps happening, check your plan and quota at https://aistudio.google.com."
                    if "quota" in message.lower()
                    else ""
                )
                return fail(
                    f"Gemini rate limit or quota reached ({label}: {said}). {when}{quota}",
                    "rate_limit",
                    status=code,
                    retry_after=retry_after,
                )
            if code == 413 or (code == 400 and _TOO_LARGE.search(message)):
                return fail(
                    f"The conversation is too large for {self.model} ({label}: {said}).",
                    "context",
                    status=code,
                )
            if code == 404:
                return fail(
                    f"Gemini has no model {self.model!r} ({label}: {said}). Set CHATDF_MODEL to a "
                    "model your key can use, e.g. gemini-2.5-flash.",
                    "other",
                    status=code,
                )
            if code in _RETRYABLE_STATUS or code >= 500:
                return fail(
                    f"Gemini is unavailable right now ({label}: {said}). Try again in a minute.{tried}",
                    "server",
                    status=code,
                    retryable=True,
                    hint=_retry_after(exc, details),
                )
            return fail(f"Gemini rejected the request ({label}: {said}).", "other", status=code)
        if isinstance(exc, _CONNECT_TIMEOUT):
            return fail(
                f"Could not connect to Gemini at {where} within {self.timeout:g} s. Check your "
                f"network connection{custom}.{tried}",
                "network",
                retryable=True,
            )
        if isinstance(exc, _TIMEOUT):
            return fail(
                f"Gemini did not answer within {self.timeout:g} s.{tried}",
                "server",
                retryable=True,
            )
        if isinstance(exc, _CONNECT_ERROR):
            return fail(
                f"Could not reach Gemini at {where} ({_snippet(exc, 120) or 'connection failed'}). "
                f"Check your network connection{custom}.",
                "network",
            )
        if isinstance(exc, _BROKEN):
            return fail(
                f"The connection to Gemini broke before the answer was complete "
                f"({_snippet(exc, 120) or type(exc).__name__}).{tried}",
                "server",
                retryable=True,
            )
        if isinstance(exc, _BAD_URL):
            return fail(
                f"The Gemini endpoint {self.base_url or where!r} is not a valid http(s) URL; "
                "check CHATDF_GEMINI_BASE_URL.",
                "network",
            )
        if isinstance(exc, (*_TRANSPORT, OSError)):
            return fail(
                f"Could not reach Gemini at {where} ({_snippet(exc, 120) or type(exc).__name__}). "
                f"Check your network connection{custom}.",
                "network",
            )
        if isinstance(
            exc, (genai_errors.UnknownApiResponseError, json.JSONDecodeError, ValidationError)
        ):
            return fail(
                "Gemini sent a response chatdf could not read (malformed JSON). "
                + (
                    "Check that CHATDF_GEMINI_BASE_URL points at a Gemini API endpoint."
                    if self.base_url
                    else "Try again in a minute."
                ),
                "server",
            )
        return fail(
            f"The Gemini call failed ({type(exc).__name__}: {_snippet(exc, 200)}).", "other"
        )

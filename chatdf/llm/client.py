"""Gemini through the official ``google-genai`` SDK: streaming, errors, retries.

:class:`GeminiClient` is the only place chatdf talks to Gemini. It turns the
SDK's responses into small typed chunks (:class:`StreamChunk`) and every SDK,
httpx or socket error into an :class:`~chatdf.errors.LLMError` whose ``kind``
says what happened:

================  ===========================================================
kind              when
================  ===========================================================
missing_key       no API key; raised before any HTTP request
invalid_key       400 ``API_KEY_INVALID``, 401, 403
sign_in_required  team mode (a chatdf gateway): not signed in, or the
                  gateway answered 401 (sign-in revoked or expired)
rate_limit        429; ``retry_after`` from ``RetryInfo`` or ``Retry-After``
server            5xx, timeouts, dropped connections (retried), unreadable
                  responses (not retried)
safety            ``promptFeedback.blockReason`` or a safety ``finishReason``
empty             the model answered with no text and no function call
network           connection refused, DNS failure, bad endpoint URL
context           the request is larger than the model's context window
other             anything else (404 model, 400 invalid argument, ...)
================  ===========================================================

Automatic function calling and the SDK's own retries are off: the controller
runs each tool call itself, and only transient failures (5xx, timeouts, a
connection that broke before any text arrived) are retried here, a bounded
number of times with exponential backoff. The API key never appears in a
message, a log line or a repr: every message is scrubbed of it, and errors
are raised outside the SDK exception's context so tracebacks do not chain to
objects that hold the request headers.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import json
import logging
import random
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import SecretStr, ValidationError

from ..account import sign_in_again_message, sign_in_message
from ..errors import LLMError, LLMErrorKind
from ..settings import Settings

__all__ = [
    "CONTEXT_WINDOWS",
    "FunctionCall",
    "GeminiClient",
    "Reply",
    "ReplyBuilder",
    "RetryPolicy",
    "StreamChunk",
    "Usage",
    "context_window",
    "estimate_tokens",
]

logger = logging.getLogger(__name__)

MISSING_KEY_MESSAGE = (
    "No Gemini API key. Set GEMINI_API_KEY or pass api_key=... (the variable may also be in "
    "a .env file; get a key at https://aistudio.google.com/apikey)."
)

# Input context windows in tokens (Gemini API model cards). Longer names that
# start with a key (``gemini-2.5-flash-preview-09-2025``) use that key's value.
CONTEXT_WINDOWS: dict[str, int] = {
    "gemini-3-pro": 1_048_576,
    "gemini-3-flash": 1_048_576,
    "gemini-2.5-pro": 1_048_576,
    "gemini-2.5-flash": 1_048_576,
    "gemini-2.5-flash-lite": 1_048_576,
    "gemini-2.0-flash": 1_048_576,
    "gemini-2.0-flash-lite": 1_048_576,
    "gemini-1.5-pro": 2_097_152,
    "gemini-1.5-flash": 1_048_576,
    "gemini-1.5-flash-8b": 1_048_576,
    "gemma-3": 131_072,
}
_GEMINI_DEFAULT_WINDOW = 1_048_576
# Unknown non-Gemini models (gateways may route anywhere): assume a small window.
_OTHER_DEFAULT_WINDOW = 131_072

_SAFETY_FINISH = {
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "MODEL_ARMOR",
}
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


# Responses the SDK opened for the stream running in this context. Closing the
# SDK's stream iterator does not close its HTTP response (its inner generators
# wait for the cyclic garbage collector), so a stop would leave Gemini
# generating; stream() closes these itself.
_OPENED: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "chatdf_opened", default=None
)


async def _track_response(response: Any) -> None:
    """httpx ``response`` event hook: remember responses opened by our stream."""
    opened = _OPENED.get()
    if opened is not None:
        opened.append(response)


async def _close_all(responses: list[Any]) -> None:
    for response in responses:
        try:
            await response.aclose()
        except Exception:  # a broken connection needs no closing
            logger.debug("closing a Gemini response failed", exc_info=True)


def context_window(model: str) -> int:
    """Input tokens ``model`` accepts (for pruning the history)."""
    name = model.removeprefix("models/").lower()
    if name in CONTEXT_WINDOWS:
        return CONTEXT_WINDOWS[name]
    prefixes = [key for key in CONTEXT_WINDOWS if name.startswith(key)]
    if prefixes:
        return CONTEXT_WINDOWS[max(prefixes, key=len)]
    return _GEMINI_DEFAULT_WINDOW if name.startswith("gemini") else _OTHER_DEFAULT_WINDOW


def estimate_tokens(contents: Sequence[types.Content], system: str = "") -> int:
    """A cheap token estimate: characters / 4 over text, calls and responses."""
    chars = len(system)
    for content in contents:
        for part in content.parts or ():
            if part.text:
                chars += len(part.text)
            if part.function_call:
                chars += len(part.function_call.name or "") + _json_len(part.function_call.args)
            if part.function_response:
                chars += len(part.function_response.name or "") + _json_len(
                    part.function_response.response
                )
    return chars // 4


def _json_len(value: Any) -> int:
    return len(json.dumps(value, default=str)) if value else 0


# ------------------------------------------------------------------ chunks


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one request (thinking tokens count as output: they are billed so)."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens
        )


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """A tool call the model asked for; ``id`` is echoed in the response when the API set it."""

    name: str
    args: dict[str, Any]
    id: str | None = None


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """One streamed piece of a model reply.

    ``text`` is the new answer text (thoughts excluded), ``usage`` the running
    total of the request so far (the last one counts), ``parts`` the raw
    parts to keep in the history (they may carry thought signatures the API
    wants back).
    """

    text: str = ""
    function_calls: tuple[FunctionCall, ...] = ()
    usage: Usage | None = None
    finish_reason: str | None = None
    parts: tuple[types.Part, ...] = ()

    @property
    def has_content(self) -> bool:
        return bool(self.text or self.function_calls)


@dataclass
class Reply:
    """A whole model reply: what the stream added up to, or a non-streaming answer."""

    text: str
    function_calls: list[FunctionCall]
    usage: Usage | None
    finish_reason: str | None
    content: types.Content
    """The model turn to append to the history before sending function responses."""


@dataclass
class ReplyBuilder:
    """Adds up stream chunks; ``reply()`` may be called at any time (e.g. after a stop)."""

    _text: list[str] = field(default_factory=list)
    _calls: list[FunctionCall] = field(default_factory=list)
    _parts: list[types.Part] = field(default_factory=list)
    usage: Usage | None = None
    finish_reason: str | None = None

    def add(self, chunk: StreamChunk) -> None:
        self._text.append(chunk.text)
        self._calls.extend(chunk.function_calls)
        for part in chunk.parts:
            previous = self._parts[-1] if self._parts else None
            if previous is not None and _plain_text(previous) and _plain_text(part):
                # Streamed text arrives in many small parts; one part per run keeps the history small.
                self._parts[-1] = types.Part(text=(previous.text or "") + (part.text or ""))
            else:
                self._parts.append(part)
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.finish_reason:
            self.finish_reason = chunk.finish_reason

    @property
    def text(self) -> str:
        return "".join(self._text)

    def reply(self) -> Reply:
        return Reply(
            text=self.text,
            function_calls=list(self._calls),
            usage=self.usage,
            finish_reason=self.finish_reason,
            content=types.Content(role="model", parts=list(self._parts)),
        )


def _plain_text(part: types.Part) -> bool:
    return (
        part.text is not None
        and not part.thought
        and part.thought_signature is None
        and part.function_call is None
    )


def _enum_name(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _chunk_of(response: types.GenerateContentResponse) -> StreamChunk:
    candidate = response.candidates[0] if response.candidates else None
    parts: tuple[types.Part, ...] = ()
    if candidate is not None and candidate.content is not None:
        parts = tuple(candidate.content.parts or ())
    text = "".join(p.text for p in parts if p.text and not p.thought)
    calls = tuple(
        FunctionCall(
            name=p.function_call.name or "",
            args=dict(p.function_call.args or {}),
            id=p.function_call.id,
        )
        for p in parts
        if p.function_call is not None
    )
    meta = response.usage_metadata
    usage = None
    if meta is not None and (
        meta.prompt_token_count or meta.candidates_token_count or meta.total_token_count
    ):
        usage = Usage(
            input_tokens=meta.prompt_token_count or 0,
            output_tokens=(meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0),
        )
    finish = _enum_name(candidate.finish_reason) if candidate is not None else None
    return StreamChunk(
        text=text, function_calls=calls, usage=usage, finish_reason=finish, parts=parts
    )


def _blocked(response: types.GenerateContentResponse) -> LLMError | None:
    """A safety error when Gemini blocked the prompt or stopped the answer."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        reason = _enum_name(feedback.block_reason)
        return LLMError(
            f"Gemini declined the question (prompt blocked: {reason}). Rephrase it and try again.",
            "safety",
            details={"block_reason": reason},
        )
    candidate = response.candidates[0] if response.candidates else None
    finish = _enum_name(candidate.finish_reason) if candidate is not None else None
    if finish in _SAFETY_FINISH:
        return LLMError(
            f"Gemini stopped the answer for safety reasons (finish reason {finish}). "
            "Rephrase the question and try again.",
            "safety",
            details={"finish_reason": finish},
        )
    return None


def _empty(finish_reason: str | None) -> LLMError:
    why = f" (finish reason {finish_reason})" if finish_reason else ""
    return LLMError(
        f"Gemini returned an empty response{why}. Try asking again, or rephrase the question.",
        "empty",
        details={"finish_reason": finish_reason},
    )


# ------------------------------------------------------------------ errors


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries of transient failures: ``attempts`` in all, delays doubling."""

    attempts: int = 3
    initial_delay: float = 1.0
    max_delay: float = 8.0

    def delay(self, retry: int, hint: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based), with jitter."""
        base = min(self.max_delay, self.initial_delay * (2**retry))
        base = max(base, min(hint or 0.0, self.max_delay))
        return base * (0.85 + 0.3 * random.random())


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


class GeminiClient:
    """The Gemini API for one chatdf session.

    Parameters
    ----------
    settings
        Uses ``api_key``, ``model`` and ``gemini_base_url``; with ``gateway_url``
        (team mode) the gateway is the endpoint and the key is the per-user
        token given to :meth:`set_api_key` after sign-in, never ``api_key``.
    token
        Team mode: a per-user token already at hand (a cached sign-in).
    timeout
        Seconds to wait for a response (and between streamed chunks).
    retry
        Retries of transient failures; tests pass tiny delays.

    Notes
    -----
    The SDK client is created on first use, so a session without a key can
    still run SQL; the first model call then raises ``LLMError("missing_key")``
    without sending anything.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        token: SecretStr | None = None,
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.model = settings.model
        self.gateway_url = settings.gateway_url
        self.base_url = settings.gateway_url or settings.gemini_base_url
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        # A personal key must never reach a team's gateway: team mode waits for sign-in.
        self._api_key: SecretStr | None = token if self.gateway_url else settings.api_key
        self._sdk: genai.Client | None = None

    def __repr__(self) -> str:
        key = "set" if self._secret() else "missing"
        where = f", base_url={self.base_url!r}" if self.base_url else ""
        return f"GeminiClient(model={self.model!r}{where}, api_key={key})"

    @property
    def context_window(self) -> int:
        return context_window(self.model)

    # -- public calls

    async def stream(
        self,
        contents: Sequence[types.Content],
        *,
        system: str,
        tools: Sequence[types.Tool] | None = None,
    ) -> AsyncIterator[StreamChunk]:
        """Stream one model reply.

        Yields chunks with text as it arrives, function calls, the running
        usage and the finish reason. Raises :class:`LLMError` (see the module
        docstring); a transient failure is retried only while nothing has been
        yielded, so the consumer never sees text twice. Closing the iterator
        (a stop) closes the HTTP stream.
        """
        sdk = self._client()
        config = self._config(system, tools)
        attempt = 0
        while True:
            produced = False
            finish: str | None = None
            failure: _Failure | None = None
            opened: list[Any] = []
            _OPENED.set(opened)
            try:
                responses: Any = await sdk.aio.models.generate_content_stream(
                    model=self.model, contents=list(contents), config=config
                )
                try:
                    async for response in responses:
                        chunk = _chunk_of(response)
                        finish = chunk.finish_reason or finish
                        if chunk.has_content or chunk.usage or chunk.finish_reason:
                            produced = produced or chunk.has_content
                            yield chunk
                        blocked = _blocked(response)
                        if blocked is not None:
                            raise blocked
                finally:
                    _OPENED.set(None)
                    await responses.aclose()
                    await _close_all(opened)
            except LLMError as exc:
                failure = _Failure(self._scrubbed(exc))
            except Exception as exc:  # noqa: BLE001 - translated at the boundary, below
                failure = self._translate(exc, attempts=attempt + 1)
            if failure is None:
                if not produced:
                    raise _empty(finish)
                return
            if failure.retryable and not produced and attempt + 1 < self.retry.attempts:
                await self._pause(failure, attempt)
                attempt += 1
                continue
            raise failure.error

    async def generate(
        self,
        contents: Sequence[types.Content],
        *,
        system: str,
        tools: Sequence[types.Tool] | None = None,
    ) -> Reply:
        """One non-streaming model reply (same errors and retries as :meth:`stream`)."""
        sdk = self._client()
        config = self._config(system, tools)
        attempt = 0
        while True:
            failure: _Failure | None = None
            try:
                response = await sdk.aio.models.generate_content(
                    model=self.model, contents=list(contents), config=config
                )
                blocked = _blocked(response)
                if blocked is not None:
                    raise blocked
                builder = ReplyBuilder()
                builder.add(_chunk_of(response))
                reply = builder.reply()
                if not (reply.text or reply.function_calls):
                    raise _empty(reply.finish_reason)
                return reply
            except LLMError as exc:
                failure = _Failure(self._scrubbed(exc))
            except Exception as exc:  # noqa: BLE001 - translated at the boundary, below
                failure = self._translate(exc, attempts=attempt + 1)
            if failure.retryable and attempt + 1 < self.retry.attempts:
                await self._pause(failure, attempt)
                attempt += 1
                continue
            raise failure.error

    async def set_api_key(self, key: SecretStr | None) -> None:
        """Use another key from the next call on (team mode: the token after sign-in)."""
        await self.aclose()
        self._api_key = key

    async def aclose(self) -> None:
        """Close the HTTP connections of the current event loop."""
        if self._sdk is not None:
            sdk, self._sdk = self._sdk, None
            await sdk.aio.aclose()
            sdk.close()

    # -- plumbing

    def _secret(self) -> str | None:
        value = self._api_key.get_secret_value().strip() if self._api_key else ""
        return value or None

    def check_key(self) -> None:
        """Raise ``LLMError("missing_key")`` when there is no key, without sending anything."""
        if self._secret() is None:
            raise LLMError(MISSING_KEY_MESSAGE, "missing_key")

    def _client(self) -> genai.Client:
        if self._sdk is not None:
            return self._sdk
        key = self._secret()
        if key is None and self.gateway_url:
            raise LLMError(sign_in_message(self.gateway_url), "sign_in_required")
        if key is None:
            raise LLMError(MISSING_KEY_MESSAGE, "missing_key")
        options = types.HttpOptions(
            timeout=int(self.timeout * 1000),
            # attempts=1: no SDK retries (ours are bounded and transient-only),
            # which also turns off its implicit aiohttp reconnects.
            retry_options=types.HttpRetryOptions(attempts=1),
            async_client_args={"event_hooks": {"response": [_track_response]}},
        )
        if self.base_url:
            options.base_url = self.base_url
        # vertexai=False: GOOGLE_GENAI_USE_VERTEXAI in the environment must not reroute us.
        self._sdk = genai.Client(api_key=key, vertexai=False, http_options=options)
        return self._sdk

    @staticmethod
    def _config(system: str, tools: Sequence[types.Tool] | None) -> types.GenerateContentConfig:
        options: dict[str, Any] = {
            "system_instruction": system or None,
            "automatic_function_calling": types.AutomaticFunctionCallingConfig(disable=True),
        }
        if "automatic_continuation" in types.GenerateContentConfig.model_fields:
            # Continuation would resend a broken stream on its own; our retry loop owns that.
            options["automatic_continuation"] = False
        if tools:
            options["tools"] = list(tools)
            options["tool_config"] = types.ToolConfig(
                function_calling_config=types.FunctionCallingConfig(
                    mode=types.FunctionCallingConfigMode.AUTO
                )
            )
        return types.GenerateContentConfig(**options)

    async def _pause(self, failure: _Failure, attempt: int) -> None:
        delay = self.retry.delay(attempt, failure.hint)
        logger.info(
            "Gemini call failed (%s); retry %d of %d in %.2f s",
            failure.error.message,
            attempt + 1,
            self.retry.attempts - 1,
            delay,
        )
        await asyncio.sleep(delay)

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

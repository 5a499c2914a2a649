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

import contextvars
import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from google import genai
from google.genai import types
from pydantic import SecretStr

from ..account import sign_in_message
from ..errors import LLMError
from ..retry import Backoff, RetryPolicy
from ..settings import Settings
from .errors import (
    MISSING_KEY_MESSAGE,
    ErrorMapping,
    _Failure,
)
from .replies import (
    FunctionCall,
    Reply,
    ReplyBuilder,
    StreamChunk,
    Usage,
    _blocked,
    _chunk_of,
    _empty,
)

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


class GeminiClient(ErrorMapping):
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
        backoff = self.retry.start()
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
                failure = self._translate(exc, attempts=backoff.attempts)
            if failure is None:
                if not produced:
                    raise _empty(finish)
                return
            if failure.retryable and not produced and backoff.can_retry():
                await self._pause(failure, backoff)
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

    async def _pause(self, failure: _Failure, backoff: Backoff) -> None:
        def note(retry: int, delay: float) -> None:
            logger.info(
                "Gemini call failed (%s); retry %d of %d in %.2f s",
                failure.error.message,
                retry,
                (self.retry.attempts or 0) - 1,
                delay,
            )

        await backoff.wait(failure.hint, note=note)

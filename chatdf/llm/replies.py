"""What a model reply is made of: typed chunks from the SDK's responses, and their sum.

A chunk carries text, function calls, the running usage and the finish reason;
:func:`_blocked` and :func:`_empty` turn a refused or empty reply into an LLMError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.genai import types

from ..errors import LLMError

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

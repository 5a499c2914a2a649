"""A scriptable fake of the Gemini REST API on 127.0.0.1.

It speaks the wire format the ``google-genai`` SDK expects, so the real SDK,
its HTTP client and its SSE parser run in every test:

* ``POST /{v1|v1beta|v1alpha}/models/{model}:generateContent`` answers one
  JSON ``GenerateContentResponse``;
* ``POST /{version}/models/{model}:countTokens`` answers ``{"totalTokens"}``
  (about a token per four characters of the body) and ``GET
  /{version}/models/{model}`` a model description, outside the script;
* ``POST /{version}/models/{model}:streamGenerateContent?alt=sse`` answers
  ``text/event-stream`` with chunked transfer encoding, one
  ``data: {GenerateContentResponse}\\r\\n\\r\\n`` event per scripted chunk;
* errors are Google RPC bodies ``{"error": {"code", "message", "status",
  "details"}}`` with the HTTP status, as the real API sends them (``details``
  carry ``ErrorInfo.reason`` such as ``API_KEY_INVALID`` and ``RetryInfo``
  with ``retryDelay`` for 429).

Scripting
---------
Replies are queued and consumed one per model request, in order, whichever
endpoint asks: a streaming request receives a reply's chunks as separate SSE
events, a non-streaming request receives them merged into one response. When
the queue is empty the fake answers ``500`` with a message that says the
script is exhausted (or, with ``loop=True``, starts the script again).

Python::

    fake = FakeGemini().start()
    fake.add_stream(text_chunks("Hello world", n=3))
    fake.add_stream([function_call("execute_sql", {"query": "SELECT 1"})])
    fake.add_error(429, "Quota exceeded", retry_delay=7)
    ...
    fake.requests[0].system_text()      # what the SDK sent
    fake.close()

JSON script (``python -m tests.fake_gemini --script file.json``; also
:meth:`FakeGemini.load_script`)::

    {
      "loop": false,                  # optional: replay the replies forever
      "model_version": "gemini-2.5-flash",   # optional: modelVersion field
      "api_key": null,                # optional: only this key is accepted
      "replies": [ REPLY, ... ]
    }

A REPLY is an object with exactly one of these keys, plus an optional
``"delay"`` (seconds to wait before answering):

``{"chunks": [CHUNK, ...]}``
    A normal answer.
``{"text": "Hello world", "n": 3, "usage": {"input": 10, "output": 5}}``
    Shortcut: the text split into ``n`` chunks, the last one with
    ``finish_reason: STOP`` and the usage.
``{"function_call": {"name": "execute_sql", "args": {"query": "..."}}}``
    Shortcut: one chunk with that call and ``finish_reason: STOP``. Also
    ``"function_calls": [{...}, {...}]`` for parallel calls.
``{"error": {"status": 429, "message": "...", "status_text": "RESOURCE_EXHAUSTED",
"retry_delay": 7, "reason": "RATE_LIMIT_EXCEEDED", "headers": {"Retry-After": "7"}}}``
    An HTTP error with a Google RPC body (``status_text`` defaults from the
    code; ``retry_delay`` adds a ``RetryInfo`` detail; ``reason`` an
    ``ErrorInfo`` detail).
``{"raw": {"status": 200, "body": "not json", "content_type": "application/json"}}``
    Exactly these bytes, for malformed bodies. On the streaming endpoint the
    body is written as is (write ``"data: ...\\r\\n\\r\\n"`` yourself).
``{"hang": {"seconds": 30, "chunks": [CHUNK, ...]}}``
    Send the chunks (streaming) and then neither finish nor close until the
    client goes away, ``seconds`` pass or the fake closes: for stop and
    timeout tests. A non-streaming request gets no answer at all.
``{"drop": {"chunks": [CHUNK, ...]}}``
    Send the chunks, then cut the connection without ending the response.

A CHUNK is an object with any of:

``text``                 a text part
``function_call``        ``{"name", "args", "id"?}`` (``function_calls``: a list)
``finish_reason``        e.g. ``"STOP"``, ``"SAFETY"``, ``"MAX_TOKENS"``
``usage``                ``{"input": n, "output": m}`` (usageMetadata)
``block_reason``         ``"SAFETY"`` etc.: a promptFeedback block, no candidates
``error``                ``{"status", "message", "status_text"}``: an error event
                         inside the stream
``raw``                  any JSON value sent verbatim as the event
``raw_text``             a string sent verbatim after ``data: ``
``delay``                seconds to wait before sending this chunk

Control endpoints (for a fake running in another process)
----------------------------------------------------------
``GET /_fake`` status and pending count; ``POST /_fake/replies`` with
``{"replies": [...]}`` appends; ``GET /_fake/requests`` the recorded requests;
``POST /_fake/reset`` clears replies and requests.

Recorded requests keep the path, query, headers and parsed JSON body. The API
key is never stored: the ``x-goog-api-key`` header (and any ``key`` query
parameter) is replaced by ``had_key``.
"""

from __future__ import annotations

import copy
import json
import select
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "TEST_API_KEY",
    "FakeGemini",
    "RecordedRequest",
    "function_call",
    "text_chunks",
    "usage",
    "validate_reply",
]

TEST_API_KEY = "test-key-SECRET123"
"""A recognisable fake key for tests; they assert it never appears in errors, events or logs."""

_MODEL_PATH = "/models/"
_SECRET_HEADERS = {"x-goog-api-key", "authorization"}

# The Google RPC status names the real API pairs with each HTTP code.
_STATUS_TEXT = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_REPLY_KINDS = ("chunks", "text", "function_call", "function_calls", "error", "raw", "hang", "drop")
_REPLY_OPTIONS = {"delay", "n", "usage", "finish_reason"}
_CHUNK_KEYS = {
    "text",
    "function_call",
    "function_calls",
    "finish_reason",
    "usage",
    "block_reason",
    "error",
    "raw",
    "raw_text",
    "delay",
}


# ---------------------------------------------------------------- helpers


def usage(input_tokens: int = 10, output_tokens: int = 5) -> dict[str, int]:
    """A chunk ``usage`` value."""
    return {"input": input_tokens, "output": output_tokens}


def text_chunks(
    text: str,
    n: int = 3,
    *,
    finish_reason: str | None = "STOP",
    usage: dict[str, int] | tuple[int, int] | None = (10, 5),
    delay: float = 0.0,
) -> list[dict[str, Any]]:
    """``text`` split into ``n`` roughly equal chunks; the last one finishes.

    >>> [c["text"] for c in text_chunks("Hello world", n=3)]
    ['Hell', 'o wo', 'rld']
    """
    n = max(1, min(n, len(text) or 1))
    size = -(-len(text) // n) if text else 0
    pieces = [text[i : i + size] for i in range(0, len(text), size)] if text else [""]
    chunks: list[dict[str, Any]] = [{"text": piece} for piece in pieces]
    if delay:
        for chunk in chunks:
            chunk["delay"] = delay
    if finish_reason:
        chunks[-1]["finish_reason"] = finish_reason
    if usage is not None:
        chunks[-1]["usage"] = _usage_dict(usage)
    return chunks


def function_call(
    name: str,
    args: dict[str, Any] | None = None,
    *,
    id: str | None = None,
    finish_reason: str | None = "STOP",
    usage: dict[str, int] | tuple[int, int] | None = (10, 5),
) -> dict[str, Any]:
    """One chunk carrying a function call (and, by default, the finish)."""
    call: dict[str, Any] = {"name": name, "args": args or {}}
    if id is not None:
        call["id"] = id
    chunk: dict[str, Any] = {"function_call": call}
    if finish_reason:
        chunk["finish_reason"] = finish_reason
    if usage is not None:
        chunk["usage"] = _usage_dict(usage)
    return chunk


def _usage_dict(value: dict[str, int] | tuple[int, int] | list[int]) -> dict[str, int]:
    if isinstance(value, dict):
        return {"input": int(value.get("input", 0)), "output": int(value.get("output", 0))}
    input_tokens, output_tokens = value
    return {"input": int(input_tokens), "output": int(output_tokens)}


def validate_reply(reply: dict[str, Any]) -> dict[str, Any]:
    """Check one scripted reply and expand its shortcuts; raise ValueError if malformed."""
    if not isinstance(reply, dict):
        # ValueError like every other script problem, so callers catch one type.
        raise ValueError(
            f"A scripted reply must be an object, got {type(reply).__name__}: {reply!r}"
        )
    kinds = [k for k in _REPLY_KINDS if k in reply]
    unknown = set(reply) - set(_REPLY_KINDS) - _REPLY_OPTIONS
    if unknown or len(kinds) != 1:
        raise ValueError(
            f"A scripted reply needs exactly one of {', '.join(_REPLY_KINDS)} "
            f"(plus optional delay); got keys {sorted(reply)}."
        )
    kind = kinds[0]
    delay = float(reply.get("delay", 0.0))
    if kind == "text":
        chunks = text_chunks(
            reply["text"],
            n=int(reply.get("n", 3)),
            finish_reason=reply.get("finish_reason", "STOP"),
            usage=reply.get("usage", (10, 5)),
        )
        return {"kind": "chunks", "chunks": chunks, "delay": delay}
    if kind in ("function_call", "function_calls"):
        calls = reply[kind] if kind == "function_calls" else [reply[kind]]
        chunk: dict[str, Any] = {
            "function_calls": calls,
            "finish_reason": reply.get("finish_reason", "STOP"),
            "usage": _usage_dict(reply.get("usage", (10, 5))),
        }
        return {"kind": "chunks", "chunks": [_check_chunk(chunk)], "delay": delay}
    if kind == "chunks":
        return {
            "kind": "chunks",
            "chunks": [_check_chunk(c) for c in reply["chunks"]],
            "delay": delay,
        }
    if kind == "error":
        spec = dict(reply["error"])
        if "status" not in spec:
            raise ValueError(f"A scripted error needs a status code: {spec!r}")
        return {"kind": "error", "error": spec, "delay": delay}
    if kind == "raw":
        spec = dict(reply["raw"])
        if "body" not in spec:
            raise ValueError(f"A raw reply needs a body: {spec!r}")
        return {"kind": "raw", "raw": spec, "delay": delay}
    spec = dict(reply[kind] or {})
    spec["chunks"] = [_check_chunk(c) for c in spec.get("chunks", [])]
    return {"kind": kind, kind: spec, "delay": delay}


def _check_chunk(chunk: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(chunk, dict):
        raise ValueError(f"A scripted chunk must be an object, got {chunk!r}")
    unknown = set(chunk) - _CHUNK_KEYS
    if unknown:
        raise ValueError(
            f"Unknown chunk key(s) {sorted(unknown)}; known: {', '.join(sorted(_CHUNK_KEYS))}."
        )
    return chunk


def _error_body(
    status: int,
    message: str,
    status_text: str | None = None,
    *,
    retry_delay: float | str | None = None,
    reason: str | None = None,
    details: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A Google RPC error body as the Gemini API sends it."""
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": status_text or _STATUS_TEXT.get(status, "UNKNOWN"),
    }
    extra: list[dict[str, Any]] = list(details or [])
    if reason:
        extra.append(
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        )
    if retry_delay is not None:
        delay = retry_delay if isinstance(retry_delay, str) else f"{float(retry_delay):g}s"
        extra.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay})
    if extra:
        error["details"] = extra
    return {"error": error}


# ------------------------------------------------------- request records


@dataclass
class RecordedRequest:
    """One request the fake received, without the API key."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    had_key: bool
    body: Any
    model: str | None = None
    action: str | None = None
    disconnected: bool = False
    """True when the client went away before the scripted reply was complete."""
    received_at: float = field(default_factory=time.monotonic)

    @property
    def stream(self) -> bool:
        return self.action == "streamGenerateContent"

    def _body(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}

    def system_text(self) -> str:
        """The text of ``systemInstruction``."""
        parts = (self._body().get("systemInstruction") or {}).get("parts") or []
        return "".join(p.get("text", "") for p in parts)

    def declared_functions(self) -> list[str]:
        """Names of the declared functions, in order."""
        names = []
        for tool in self._body().get("tools") or []:
            names += [d["name"] for d in tool.get("functionDeclarations") or []]
        return names

    def contents(self) -> list[dict[str, Any]]:
        return list(self._body().get("contents") or [])

    def function_responses(self) -> list[dict[str, Any]]:
        """Every ``functionResponse`` part sent, oldest first."""
        return [
            part["functionResponse"]
            for content in self.contents()
            for part in content.get("parts") or []
            if "functionResponse" in part
        ]

    def texts(self, role: str | None = None) -> list[str]:
        """Text parts of ``contents`` (of one role, if given)."""
        return [
            part["text"]
            for content in self.contents()
            if role is None or content.get("role") == role
            for part in content.get("parts") or []
            if "text" in part
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------- server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeGemini

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (a stopped stream, a closed SDK client) is normal here.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class FakeGemini:
    """The fake Gemini API in a background thread.

    Parameters
    ----------
    script
        Replies (list) or a whole script (dict, see the module docstring) to
        queue at once.
    host, port
        Where to listen; port 0 picks a free one.
    api_key
        When set, requests carrying another key get the real API's 400
        ``API_KEY_INVALID``, and requests without a key get 403.
    loop
        Replay the replies forever instead of answering "script exhausted".
    """

    def __init__(
        self,
        script: list[dict[str, Any]] | dict[str, Any] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        loop: bool = False,
        model_version: str = "gemini-2.5-flash",
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.api_key = api_key
        self.loop = loop
        self.model_version = model_version
        self.verbose = verbose
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._replies: deque[dict[str, Any]] = deque()
        self._played: list[dict[str, Any]] = []
        self._requests: list[RecordedRequest] = []
        self._closing = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        if script is not None:
            self.load_script(script)

    # -- lifecycle

    def start(self) -> FakeGemini:
        if self._server is not None:
            return self
        self._closing.clear()
        server = _Server((self.host, self.port), _Handler)
        server.fake = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-gemini",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; hanging replies end at once."""
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        # Idle keep-alive connections would otherwise still be served by their
        # handler threads after close; cut them as a stopped server would.
        with self._lock:
            connections, self._connections = set(self._connections), set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The base URL to give the SDK (``CHATDF_GEMINI_BASE_URL``)."""
        if self._server is None:
            raise RuntimeError("FakeGemini is not started; call start() first.")
        return f"http://{self.host}:{self.port}"

    # -- scripting

    def load_script(self, script: list[dict[str, Any]] | dict[str, Any] | str | Path) -> FakeGemini:
        """Queue the replies of a script (a list, a dict or a JSON file path)."""
        if isinstance(script, (str, Path)):
            script = json.loads(Path(script).read_text(encoding="utf-8"))
        if isinstance(script, dict):
            unknown = set(script) - {"replies", "loop", "model_version", "api_key"}
            if unknown:
                raise ValueError(f"Unknown script key(s) {sorted(unknown)}.")
            self.loop = bool(script.get("loop", self.loop))
            self.model_version = script.get("model_version", self.model_version)
            self.api_key = script.get("api_key", self.api_key)
            replies = script.get("replies", [])
        else:
            replies = script
        for reply in replies:
            self.add_reply(reply)
        return self

    def add_reply(self, reply: dict[str, Any]) -> FakeGemini:
        """Queue one reply in the JSON script form (see the module docstring)."""
        checked = validate_reply(reply)
        with self._changed:
            self._replies.append(checked)
            self._changed.notify_all()
        return self

    def add_stream(self, chunks: list[dict[str, Any]], *, delay: float = 0.0) -> FakeGemini:
        """Queue an answer made of ``chunks`` (streamed, or merged if not streaming)."""
        return self.add_reply({"chunks": list(chunks), "delay": delay})

    def add_response(
        self,
        text: str | None = None,
        *,
        function_calls: list[dict[str, Any]] | None = None,
        finish_reason: str | None = "STOP",
        usage: dict[str, int] | tuple[int, int] | None = (10, 5),
        delay: float = 0.0,
    ) -> FakeGemini:
        """Queue a one-chunk answer with text and/or function calls."""
        chunk: dict[str, Any] = {}
        if text is not None:
            chunk["text"] = text
        if function_calls:
            chunk["function_calls"] = [c.get("function_call", c) for c in function_calls]
        if finish_reason:
            chunk["finish_reason"] = finish_reason
        if usage is not None:
            chunk["usage"] = _usage_dict(usage)
        return self.add_stream([chunk], delay=delay)

    def add_error(
        self,
        status: int,
        message: str = "Scripted error",
        status_text: str | None = None,
        *,
        retry_delay: float | str | None = None,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> FakeGemini:
        """Queue an HTTP error with a Google RPC error body."""
        spec: dict[str, Any] = {"status": status, "message": message}
        if status_text:
            spec["status_text"] = status_text
        if retry_delay is not None:
            spec["retry_delay"] = retry_delay
        if reason:
            spec["reason"] = reason
        if headers:
            spec["headers"] = headers
        return self.add_reply({"error": spec, "delay": delay})

    def add_raw(
        self,
        body: str | bytes,
        status: int = 200,
        *,
        content_type: str = "application/json",
        delay: float = 0.0,
    ) -> FakeGemini:
        """Queue exactly these bytes as the answer (malformed bodies)."""
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        return self.add_reply(
            {"raw": {"status": status, "body": text, "content_type": content_type}, "delay": delay}
        )

    def add_hang(
        self,
        chunks: list[dict[str, Any]] | None = None,
        *,
        seconds: float = 30.0,
        delay: float = 0.0,
    ) -> FakeGemini:
        """Queue a reply that sends ``chunks`` then stalls (stop and timeout tests)."""
        return self.add_reply(
            {"hang": {"chunks": list(chunks or []), "seconds": seconds}, "delay": delay}
        )

    def add_drop(
        self, chunks: list[dict[str, Any]] | None = None, *, delay: float = 0.0
    ) -> FakeGemini:
        """Queue a reply that sends ``chunks`` then cuts the connection."""
        return self.add_reply({"drop": {"chunks": list(chunks or [])}, "delay": delay})

    def reset(self) -> None:
        """Forget queued replies and recorded requests."""
        with self._changed:
            self._replies.clear()
            self._played.clear()
            self._requests.clear()
            self._changed.notify_all()

    @property
    def pending(self) -> int:
        """Replies not consumed yet."""
        with self._lock:
            return len(self._replies)

    # -- inspection

    @property
    def requests(self) -> list[RecordedRequest]:
        """Model requests received so far (control endpoints excluded)."""
        with self._lock:
            return list(self._requests)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until ``count`` model requests arrived; raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"FakeGemini received {len(self._requests)} request(s), expected {count}."
                    )
                self._changed.wait(left)
            return list(self._requests)

    # -- used by the handler

    def _record(self, request: RecordedRequest) -> None:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()

    def _next_reply(self) -> dict[str, Any] | None:
        with self._lock:
            if not self._replies and self.loop and self._played:
                self._replies.extend(self._played)
                self._played.clear()
            if not self._replies:
                return None
            reply = self._replies.popleft()
            self._played.append(reply)
            return copy.deepcopy(reply)

    def _event_json(self, chunk: dict[str, Any]) -> Any:
        """The ``GenerateContentResponse`` JSON of one scripted chunk."""
        if "raw" in chunk:
            return chunk["raw"]
        if "error" in chunk:
            spec = chunk["error"]
            status = int(spec.get("status", 500))
            return _error_body(
                status, spec.get("message", "Scripted error"), spec.get("status_text")
            )
        event: dict[str, Any] = {}
        parts: list[dict[str, Any]] = []
        if chunk.get("text") is not None:
            parts.append({"text": chunk["text"]})
        calls = list(chunk.get("function_calls") or [])
        if chunk.get("function_call"):
            calls.insert(0, chunk["function_call"])
        for call in calls:
            wire: dict[str, Any] = {"name": call["name"], "args": call.get("args") or {}}
            if call.get("id"):
                wire["id"] = call["id"]
            parts.append({"functionCall": wire})
        if chunk.get("block_reason"):
            event["promptFeedback"] = {"blockReason": chunk["block_reason"]}
        elif parts or chunk.get("finish_reason"):
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
            if chunk.get("finish_reason"):
                candidate["finishReason"] = chunk["finish_reason"]
            event["candidates"] = [candidate]
        if chunk.get("usage"):
            counts = _usage_dict(chunk["usage"])
            event["usageMetadata"] = {
                "promptTokenCount": counts["input"],
                "candidatesTokenCount": counts["output"],
                "totalTokenCount": counts["input"] + counts["output"],
            }
        event["modelVersion"] = self.model_version
        event["responseId"] = "fake-response"
        return event

    def _merged_json(self, chunks: list[dict[str, Any]]) -> tuple[int, Any]:
        """All chunks as one non-streaming response: (status, body)."""
        parts: list[dict[str, Any]] = []
        merged: dict[str, Any] = {}
        finish = None
        for chunk in chunks:
            if "raw" in chunk or "raw_text" in chunk:
                return 200, chunk.get("raw", chunk.get("raw_text"))
            if "error" in chunk:
                return int(chunk["error"].get("status", 500)), self._event_json(chunk)
            event = self._event_json(chunk)
            for candidate in event.get("candidates") or []:
                for part in candidate["content"]["parts"]:
                    if parts and "text" in part and "text" in parts[-1]:
                        parts[-1] = {"text": parts[-1]["text"] + part["text"]}
                    else:
                        parts.append(part)
                finish = candidate.get("finishReason", finish)
            for key in ("promptFeedback", "usageMetadata", "modelVersion", "responseId"):
                if key in event:
                    merged[key] = event[key]
        if parts or finish:
            candidate = {"content": {"role": "model", "parts": parts}, "index": 0}
            if finish:
                candidate["finishReason"] = finish
            merged["candidates"] = [candidate]
        return 200, merged


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and each SSE event are small separate writes; with Nagle on, the
    # client's delayed ACK would add ~40 ms to every first token.
    disable_nagle_algorithm = True
    server: _Server
    _left = False
    """Set when the client went away during the current reply."""

    # -- plumbing

    @property
    def fake(self) -> FakeGemini:
        return self.server.fake

    def setup(self) -> None:
        super().setup()
        with self.fake._lock:
            self.fake._connections.add(self.connection)

    def finish(self) -> None:
        with self.fake._lock:
            self.fake._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass  # the client or close() already cut the connection

    def log_message(self, format: str, *args: Any) -> None:
        if self.fake.verbose:
            super().log_message(format, *args)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
        self._send_bytes(status, data, "application/json; charset=UTF-8", headers)

    def _send_bytes(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _client_gone(self) -> bool:
        """True when the client closed its end (it sends nothing mid-response)."""
        try:
            # poll, not select: select() fails on descriptors past 1024, which a long
            # test run (VegaFusion, worker pipes, sockets) can reach.
            poller = select.poll()
            poller.register(self.connection, select.POLLIN)
            if not poller.poll(0):
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; False as soon as the client leaves or the fake closes."""
        deadline = time.monotonic() + seconds
        while True:
            if self._client_gone():
                self._left = True
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            if self.fake._closing.wait(min(left, 0.02)):
                return False

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    # -- routes

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/_fake":
            self._send_json(
                200, {"fake": "gemini", "pending": self.fake.pending, "url": self.fake.url}
            )
        elif path == "/_fake/requests":
            self._send_json(200, [r.to_dict() for r in self.fake.requests])
        elif path.partition("/models/")[2] and self.fake.api_key in (
            None,
            self.headers.get("x-goog-api-key"),
        ):
            name = path.partition("/models/")[2]
            self._send_json(
                200,
                {"name": f"models/{name}", "displayName": name, "inputTokenLimit": 1_048_576},
            )
        else:
            self._send_json(404, _error_body(404, f"Fake Gemini has no GET {path}."))

    def do_POST(self) -> None:
        split = urlsplit(self.path)
        raw = self._read_body()
        if split.path.startswith("/_fake/"):
            self._control(split.path, raw)
            return
        query = dict(parse_qsl(split.query))
        had_key = bool(self.headers.get("x-goog-api-key") or query.get("key"))
        sent_key = self.headers.get("x-goog-api-key") or query.pop("key", None)
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", errors="replace")
        model, action = self._route(split.path)
        record = RecordedRequest(
            method="POST",
            path=split.path,
            query=query,
            headers={
                k.lower(): v for k, v in self.headers.items() if k.lower() not in _SECRET_HEADERS
            },
            had_key=had_key,
            body=body,
            model=model,
            action=action,
        )
        self.fake._record(record)
        if action is None:
            self._send_json(404, _error_body(404, f"Fake Gemini: no such method {split.path}."))
            return
        if self.fake.api_key is not None and sent_key != self.fake.api_key:
            if not sent_key:
                self._send_json(
                    403,
                    _error_body(
                        403,
                        "Method doesn't allow unregistered callers (callers without established "
                        "identity). Please use API Key or other form of API consumer identity to "
                        "call this API.",
                    ),
                )
            else:
                self._send_json(
                    400,
                    _error_body(
                        400,
                        "API key not valid. Please pass a valid API key.",
                        reason="API_KEY_INVALID",
                    ),
                )
            return
        if action == "countTokens":  # answered from the body; scripted replies are for answers
            self._send_json(200, {"totalTokens": max(1, len(json.dumps(body or {})) // 4)})
            return
        reply = self.fake._next_reply()
        if reply is None:
            number = len(self.fake.requests)
            self._send_json(
                500,
                _error_body(
                    500,
                    f"Fake Gemini script exhausted: request #{number} ({action} for {model}) has no "
                    "scripted reply. Queue more replies with add_stream()/add_error()/... .",
                ),
            )
            return
        self._left = False
        try:
            if self._wait(reply["delay"]):
                self._play(reply, stream=action == "streamGenerateContent")
        except (BrokenPipeError, ConnectionResetError):
            self._left = True
        record.disconnected = self._left

    @staticmethod
    def _route(path: str) -> tuple[str | None, str | None]:
        """``(model, action)`` of ``/v1beta/models/gemini-x:streamGenerateContent``."""
        version, sep, rest = path.lstrip("/").partition(_MODEL_PATH.strip("/") + "/")
        if not sep or version.strip("/") not in ("v1", "v1beta", "v1alpha") or ":" not in rest:
            return None, None
        model, _, action = rest.partition(":")
        if action not in ("generateContent", "streamGenerateContent", "countTokens"):
            return model, None
        return model, action

    def _control(self, path: str, raw: bytes) -> None:
        try:
            payload = json.loads(raw) if raw else {}
            if path == "/_fake/replies":
                replies = payload.get("replies", []) if isinstance(payload, dict) else payload
                for reply in replies:
                    self.fake.add_reply(reply)
            elif path == "/_fake/reset":
                self.fake.reset()
            else:
                self._send_json(404, _error_body(404, f"Fake Gemini has no control path {path}."))
                return
        except ValueError as exc:
            self._send_json(400, _error_body(400, f"Bad script: {exc}"))
            return
        self._send_json(200, {"pending": self.fake.pending})

    # -- playing replies

    def _play(self, reply: dict[str, Any], *, stream: bool) -> None:
        kind = reply["kind"]
        if kind == "error":
            spec = reply["error"]
            status = int(spec["status"])
            body = _error_body(
                status,
                spec.get("message", "Scripted error"),
                spec.get("status_text"),
                retry_delay=spec.get("retry_delay"),
                reason=spec.get("reason"),
                details=spec.get("details"),
            )
            self._send_json(status, body, spec.get("headers"))
            return
        if kind == "raw":
            spec = reply["raw"]
            data = spec["body"].encode("utf-8")
            self._send_bytes(
                int(spec.get("status", 200)), data, spec.get("content_type", "application/json")
            )
        elif stream:
            self._play_stream(reply)
        else:
            self._play_merged(reply)

    def _play_merged(self, reply: dict[str, Any]) -> None:
        kind = reply["kind"]
        if kind == "hang":
            self._wait(reply["hang"].get("seconds", 30.0))
            self._cut()
            return
        chunks = reply[kind]["chunks"] if kind == "drop" else reply["chunks"]
        for chunk in chunks:
            if chunk.get("delay") and not self._wait(chunk["delay"]):
                return
        if kind == "drop":
            self._cut()
            return
        status, body = self.fake._merged_json(chunks)
        self._send_json(status, body)

    def _play_stream(self, reply: dict[str, Any]) -> None:
        kind = reply["kind"]
        chunks = reply["chunks"] if kind == "chunks" else reply[kind]["chunks"]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for chunk in chunks:
            if chunk.get("delay") and not self._wait(chunk["delay"]):
                return
            if "raw_text" in chunk:
                data = f"data: {chunk['raw_text']}\r\n\r\n"
            else:
                data = f"data: {json.dumps(self.fake._event_json(chunk))}\r\n\r\n"
            self._write_chunk(data.encode("utf-8"))
        if kind == "hang":
            self._wait(reply["hang"].get("seconds", 30.0))
        if kind in ("hang", "drop"):
            self._cut()
            return
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _cut(self) -> None:
        """Close the connection mid-response, as a network failure would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

"""Play the browser against a real ChatDF: a comm that records what the kernel sends.

``comm.create_comm`` is the hook the ``comm`` package provides for hosts to
supply their comm; here it returns one that keeps every message, so the real
ipywidgets serialisation (state, custom messages, binary buffers) runs.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import polars as pl
from comm.base_comm import BaseComm

from chatdf import ChatDF


class RecordingComm(BaseComm):
    """Keeps every message the widget publishes, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.published: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        super().__init__(*args, **kwargs)

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any) -> None:
        with self._cond:
            self.published.append({"msg_type": msg_type, "data": data, "buffers": list(buffers or [])})
            self._cond.notify_all()

    def custom(self) -> list[tuple[dict[str, Any], list[Any]]]:
        """Custom messages sent so far: (content, buffers)."""
        with self._cond:
            return [
                (m["data"]["content"], m["buffers"])
                for m in self.published
                if m["data"] and m["data"].get("method") == "custom"
            ]

    def reply(self, request_id: str, timeout: float = 20) -> tuple[dict[str, Any], list[Any]]:
        """Wait for the kernel's answer to request ``request_id``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for content, buffers in self.custom():
                    if content.get("id") == request_id:
                        return content, buffers
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no reply to {request_id!r}; sent: {self.custom()}")
                self._cond.wait(left)

    def events(self) -> list[dict[str, Any]]:
        return [c["event"] for c, _ in self.custom() if c.get("type") == "event"]


class Browser:
    """Sends requests the way ``js/src/rpc.ts`` does and waits for replies."""

    def __init__(self, chat: ChatDF) -> None:
        self.chat = chat
        self.comm: RecordingComm = chat.comm  # type: ignore[assignment]
        self._n = 0

    def send(self, content: Any) -> None:
        self.chat._handle_custom_msg(content, [])

    def request(self, type: str, **params: Any) -> tuple[dict[str, Any], list[Any]]:
        self._n += 1
        request_id = f"t-{self._n}"
        self.send({**params, "id": request_id, "type": type})
        return self.comm.reply(request_id)

    def result(self, type: str, **params: Any) -> Any:
        content, _ = self.request(type, **params)
        assert "error" not in content, content
        return content["result"]

    def error(self, type: str, **params: Any) -> dict[str, Any]:
        content, _ = self.request(type, **params)
        assert "error" in content, content
        return content["error"]




def wait_for(predicate, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def arrow_page(buffers: list[Any]) -> pl.DataFrame:
    """The rows of a page reply, decoded from its one Arrow IPC buffer."""
    [buffer] = buffers
    return pl.read_ipc_stream(bytes(buffer))

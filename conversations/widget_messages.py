"""The widget socket's JSON messages, parsed and written in one place.

In: `{"type": "user_message", "text": "..."}`. Out: `{"type": "delta", "text"}` while the
answer streams, then `{"type": "done", "conversationId", "messageId"}`; failures as
`{"type": "error", "code", "message"}`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class UserMessage:
    text: str

    @classmethod
    def parse(cls, raw: str | bytes) -> UserMessage:
        """Parse one frame from the visitor.

        Raises:
            ValueError: with the exact reason (not JSON, wrong type, missing text).
        """
        try:
            data: Any = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        if data.get("type") != "user_message":
            raise ValueError(f"unknown message type {data.get('type')!r}; expected 'user_message'")
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError("user_message needs a non-empty string 'text'")
        return cls(text.strip())

    def encode(self) -> bytes:
        return orjson.dumps({"type": "user_message", "text": self.text})


@dataclass(frozen=True, slots=True)
class Delta:
    text: str

    def encode(self) -> bytes:
        return orjson.dumps({"type": "delta", "text": self.text})


@dataclass(frozen=True, slots=True)
class Done:
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    # `{title, url}` of each page the answer drew on.
    sources: tuple[tuple[str, str], ...] = ()

    def encode(self) -> bytes:
        return orjson.dumps({"type": "done", "conversationId": str(self.conversation_id),
                             "messageId": str(self.message_id),
                             "sources": [{"title": t, "url": u} for t, u in self.sources]})


@dataclass(frozen=True, slots=True)
class Error:
    code: str
    message: str

    def encode(self) -> bytes:
        return orjson.dumps({"type": "error", "code": self.code, "message": self.message})


ServerMessage = Delta | Done | Error


def parse_server_message(raw: str | bytes) -> ServerMessage:
    """Read what the server sent (the reverse of `encode`, for clients and tests).

    Raises:
        ValueError: not one of the server's message shapes.
    """
    data: Any = orjson.loads(raw)
    kind = data.get("type") if isinstance(data, dict) else None
    try:
        if kind == "delta":
            return Delta(str(data["text"]))
        if kind == "done":
            return Done(uuid.UUID(data["conversationId"]), uuid.UUID(data["messageId"]),
                        tuple((s["title"], s["url"]) for s in data.get("sources", [])))
        if kind == "error":
            return Error(str(data["code"]), str(data["message"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"malformed {kind} message: {exc}") from None
    raise ValueError(f"unknown server message type {kind!r}")

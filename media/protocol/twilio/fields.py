"""Checked reading of one decoded Twilio frame: typed dotted paths, ValueErrors that name the path.

Shared by the inbound and outbound parsers so both report a bad frame in the same words.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from typing import Any

import orjson


def load_object(raw: str | bytes) -> dict[str, Any]:
    """Decode one frame, which must be a JSON object.

    Raises:
        ValueError: not JSON, or JSON but not an object.
    """
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValueError("Twilio message: not valid JSON") from None
    if not isinstance(obj, dict):
        raise ValueError("Twilio message: not a JSON object")
    return obj


class Fields:
    """Typed access to dotted paths of one message, raising ValueErrors that name the path."""

    __slots__ = ("_event", "_obj")

    def __init__(self, event: str, obj: Mapping[str, Any]) -> None:
        self._event = event
        self._obj = obj

    def _fail(self, path: str, what: str) -> ValueError:
        return ValueError(f"{self._event} message: {path!r} {what}")

    def get(self, path: str) -> object:
        node: object = self._obj
        for key in path.split("."):
            if not isinstance(node, Mapping) or key not in node:
                raise self._fail(path, "is missing")
            node = node[key]
        return node

    def text(self, path: str) -> str:
        value = self.get(path)
        if not isinstance(value, str):
            raise self._fail(path, "must be a string")
        return value

    def integer(self, path: str) -> int:
        value = self.get(path)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(path, "must be an integer")
        return value

    def counter(self, path: str) -> int:
        """Twilio sends counters as decimal strings."""
        value = self.text(path)
        if not value.isascii() or not value.isdigit():
            raise self._fail(path, "must be a decimal string")
        return int(value)

    def base64(self, path: str) -> bytes:
        try:
            return binascii.a2b_base64(self.text(path), strict_mode=True)
        except binascii.Error:
            raise self._fail(path, "must be valid base64") from None

    def texts(self, path: str) -> tuple[str, ...]:
        value = self.get(path)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(path, "must be a list of strings")
        return tuple(value)

    def text_map(self, path: str) -> dict[str, str]:
        value = self.get(path)
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self._fail(path, "must be an object of strings")
        return dict(value)


"""Responses encoded straight from their declared Structs (msgspec encodes several times faster than a dict)."""

from __future__ import annotations

import msgspec
from aiohttp import web

_ENCODER = msgspec.json.Encoder()


def struct_response(value: msgspec.Struct, status: int = 200) -> web.Response:
    """`value` as a JSON response body."""
    return web.Response(status=status, body=_ENCODER.encode(value), content_type="application/json")

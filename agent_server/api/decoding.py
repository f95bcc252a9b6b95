"""Request bodies and query strings decoded into declared shapes, each failure a 400 or a 422 naming the field.

msgspec reports where a value went wrong as a path (``at `$.faq[0]` ``); the first segment is
the field a dashboard form highlights, so it becomes the 422's `field`.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from agent_server.errors import ApiError, ValidationError

T = TypeVar("T")

_AT_FIELD = re.compile(r" - at `\$\.([^.`\[]+)")
# 19 digits in a row: the shortest a JSON integer outside 64 bits can be (2**63 has 19).
_LONG_DIGITS = re.compile(rb"\d{19}")
_MISSING_FIELD = re.compile(r"^Object missing required field `([^`]+)`")
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `([^`]+)`")


def field_error(exc: msgspec.ValidationError) -> ApiError:
    """The 422 for one msgspec validation error (or the 400 when the document itself is not an object)."""
    text = str(exc)
    at = _AT_FIELD.search(text)
    missing = _MISSING_FIELD.match(text)
    unknown = _UNKNOWN_FIELD.match(text)
    if at is not None:
        return ValidationError(at.group(1), text[:at.start()])
    if missing is not None:
        return ValidationError(missing.group(1), "is required")
    if unknown is not None:
        return ValidationError(unknown.group(1), "is not a known field")
    return ApiError(400, "MALFORMED_JSON", f"expected a JSON object: {text}")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _has_wide_int(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return not -2**63 <= value < 2**64
    if isinstance(value, dict):
        return any(_has_wide_int(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_wide_int(v) for v in value)
    return False


def _refuse_nul(decoded: Any) -> None:
    """PostgreSQL text cannot hold U+0000 (the insert would fail as a 500), so such a field is a 422."""
    for name, value in msgspec.to_builtins(decoded).items():
        if _has_nul(value):
            raise ValidationError(name, "must not contain NUL characters")


def _refuse_wide_ints(decoded: Any) -> None:
    """A free-form field (contact attributes) is stored as jsonb through orjson, which holds integers of
    64 bits at most: a wider one would fail the insert as a 500, so it is a 422."""
    for name, value in msgspec.to_builtins(decoded).items():
        if _has_wide_int(value):
            raise ValidationError(name, "integers must fit in 64 bits")


def decode_body(raw: bytes, shape: type[T]) -> T:
    """A JSON body as `shape`; numeric strings are read as the numbers they spell.

    Raises:
        ApiError: 400 MALFORMED_JSON (empty, not JSON, not an object) or 422 VALIDATION_ERROR naming the field.
    """
    if not raw:
        raise ApiError(400, "MALFORMED_JSON", "request body is empty; expected a JSON object")
    try:
        decoded = msgspec.json.decode(raw, type=shape, strict=False)
    except msgspec.ValidationError as exc:
        raise field_error(exc) from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, "MALFORMED_JSON", f"malformed JSON: {exc}") from None
    if b"\\u0000" in raw:
        _refuse_nul(decoded)
    if _LONG_DIGITS.search(raw):
        _refuse_wide_ints(decoded)
    return decoded


async def read_body(request: web.Request, shape: type[T]) -> T:
    """The request's JSON body as `shape` (aiohttp enforces client_max_size, 413, while reading)."""
    return decode_body(await request.read(), shape)


def read_query(request: web.Request, shape: type[T]) -> T:
    """The query string as `shape`; an empty value counts as absent, as it always has here.

    Raises:
        ValidationError: 422 naming the parameter.
    """
    present = {name: value for name, value in request.query.items() if value != ""}
    try:
        return msgspec.convert(present, shape, strict=False)
    except msgspec.ValidationError as exc:
        raise field_error(exc) from None

"""Request parsing: JSON bodies and typed fields, each failure a 400/422 naming what was wrong."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Collection, Mapping
from typing import Any

import orjson
from aiohttp import web

from agent_server.errors import ApiError, ValidationError

_MISSING: Any = object()


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object.

    Raises:
        ApiError: 400 MALFORMED_JSON with the parser's reason, or when the body is not an object.
    """
    raw = await request.read()  # aiohttp enforces client_max_size (413) here
    if not raw:
        raise ApiError(400, "MALFORMED_JSON", "request body is empty; expected a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "MALFORMED_JSON", f"malformed JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "MALFORMED_JSON", "expected a JSON object")
    return body


def get_int(data: Mapping[str, Any], name: str, *, default: Any = _MISSING,
            minimum: int | None = None, maximum: int | None = None) -> Any:
    """An integer field; query strings (str) are parsed, JSON floats and bools are refused."""
    value = data.get(name, _MISSING)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise ValidationError(name, "is required")
        return default
    if isinstance(value, str):
        try:
            value = int(value, 10)
        except ValueError:
            raise ValidationError(name, "must be an integer") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(name, "must be an integer")
    if minimum is not None and value < minimum:
        raise ValidationError(name, f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ValidationError(name, f"must be at most {maximum}")
    return value


def get_str(data: Mapping[str, Any], name: str, *, default: Any = _MISSING,
            max_length: int = 10_000, choices: Collection[str] | None = None) -> Any:
    """A string field, stripped; empty counts as missing."""
    value = data.get(name, _MISSING)
    if isinstance(value, str):
        value = value.strip()
    if value is _MISSING or value is None or value == "":
        if default is _MISSING:
            raise ValidationError(name, "is required")
        return default
    if not isinstance(value, str):
        raise ValidationError(name, "must be a string")
    if len(value) > max_length:
        raise ValidationError(name, f"must be at most {max_length} characters")
    if choices is not None and value not in choices:
        raise ValidationError(name, f"must be one of {', '.join(sorted(choices))}")
    return value


def get_bool(data: Mapping[str, Any], name: str, *, default: Any = _MISSING) -> Any:
    value = data.get(name, _MISSING)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise ValidationError(name, "is required")
        return default
    if not isinstance(value, bool):
        raise ValidationError(name, "must be true or false")
    return value


def get_uuid(data: Mapping[str, Any], name: str, *, default: Any = _MISSING) -> Any:
    value = get_str(data, name, default=default, max_length=64)
    if value is default:
        return value
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationError(name, "must be a UUID") from None


def get_instant(data: Mapping[str, Any], name: str, *, default: Any = None) -> Any:
    """An ISO 8601 date or date-time; one without an offset is UTC, the zone every timestamp is stored in."""
    raw = data.get(name)
    if raw in (None, ""):
        return default
    try:
        parsed = datetime.datetime.fromisoformat(raw)
    except (TypeError, ValueError):
        raise ValidationError(name, "must be an ISO 8601 date or date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def path_uuid(request: web.Request, name: str) -> uuid.UUID:
    """A UUID path segment; a malformed one is a plain 404, as if the object did not exist."""
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise ApiError(404, "NOT_FOUND", "not found") from None

"""JSON errors with stable codes, and the one middleware that renders them.

Every error a client sees is `{"error": {"code": ..., "message": ...}}`. Domain packages
raise their own typed errors (billing.errors.InsufficientFunds, ...) and register once how
each maps to an HTTP status and code, so handlers never build error responses by hand.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import structlog
from aiohttp import web

log = structlog.get_logger(__name__)


class ApiError(Exception):
    """An error answered to the client as JSON with a stable machine code."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class NotFound(ApiError):
    def __init__(self, message: str = "not found") -> None:
        super().__init__(404, "NOT_FOUND", message)


class Unauthorized(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(401, "UNAUTHORIZED", message)


class Forbidden(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(403, "FORBIDDEN", message)


class ValidationError(ApiError):
    """422 naming the field, so a form can highlight it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(422, "VALIDATION_ERROR", f"{field}: {message}", field=field)


_REGISTRY: dict[type[BaseException], tuple[int, str]] = {}


def register_error(exc_type: type[BaseException], status: int, code: str) -> None:
    """Map a domain error type to an HTTP status and code (idempotent)."""
    _REGISTRY[exc_type] = (status, code)


def error_body(code: str, message: str, **details: Any) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, **details}})


def error_response(status: int, code: str, message: str, **details: Any) -> web.Response:
    return web.Response(status=status, body=error_body(code, message, **details),
                        content_type="application/json")


def _lookup(exc: BaseException) -> tuple[int, str] | None:
    for cls in type(exc).__mro__:
        if cls in _REGISTRY:
            return _REGISTRY[cls]
    return None


_HTTP_CODES = {
    400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
}


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Render ApiError, registered domain errors and aiohttp's HTTP errors as JSON."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, **exc.details)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        code = _HTTP_CODES.get(exc.status, "HTTP_ERROR")
        messages = {404: f"no route for {request.method} {request.path}", 413: "request body too large"}
        message = messages.get(exc.status, exc.reason)
        return error_response(exc.status, code, message)
    except Exception as exc:
        mapped = _lookup(exc)
        if mapped is None:
            log.exception("unhandled_error", path=request.path)
            return error_response(500, "INTERNAL_ERROR", "internal error")
        return error_response(mapped[0], mapped[1], str(exc) or mapped[1].lower())

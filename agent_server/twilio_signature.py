"""Twilio request authenticity: `X-Twilio-Signature` checked against PUBLIC_URL + path.

Behind a proxy or TLS terminator the server sees an internal URL, so the signed URL is
rebuilt from the configured public base URL, never from the request's Host. The check uses
the twilio library's validator (HMAC-SHA1 over the URL and sorted form fields), which also
accepts the URL with or without the default port. A forged request is refused before any
row is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from twilio.request_validator import RequestValidator

from agent_server.errors import ApiError
from agent_server.state import SETTINGS


def is_valid_signature(auth_token: str, url: str, params: Mapping[str, Any], signature: str) -> bool:
    """Pure check of one request (form fields or `{}` for a websocket upgrade)."""
    if not auth_token or not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


def public_url(request: web.Request, *, scheme: str | None = None) -> str:
    """The URL Twilio requested: PUBLIC_URL's origin + path and query; `scheme` swaps http(s) for ws(s)."""
    base = request.app[SETTINGS].server.public_url
    if scheme is not None:
        base = scheme + base[base.index("://"):]
    return base + request.path_qs


async def verified_form(request: web.Request) -> MultiDictProxy[str]:
    """The webhook's form fields, after the signature checks out.

    Raises:
        ApiError: 403 TWILIO_SIGNATURE_INVALID (also when no auth token is configured: an
            unauthenticated webhook could place calls on a business's wallet).
    """
    form = await request.post()
    token = request.app[SETTINGS].twilio.auth_token
    signature = request.headers.get("X-Twilio-Signature", "")
    if not is_valid_signature(token, public_url(request), form, signature):
        raise ApiError(403, "TWILIO_SIGNATURE_INVALID", "request signature does not match")
    return form  # type: ignore[return-value]


def websocket_signature_ok(request: web.Request) -> bool:
    """A Media Streams upgrade signed over the `wss://` URL we wrote in the TwiML."""
    token = request.app[SETTINGS].twilio.auth_token
    signature = request.headers.get("X-Twilio-Signature", "")
    secure = "wss" if request.app[SETTINGS].server.public_url.startswith("https") else "ws"
    return is_valid_signature(token, public_url(request, scheme=secure), {}, signature)

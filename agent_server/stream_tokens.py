"""Short-lived tokens that let Twilio's media stream join the call the voice webhook admitted.

The webhook puts the call id and a token in the TwiML's ``<Parameter>``s; they come back in
the stream's ``start`` message. The token is an HMAC (keyed with the Twilio auth token, the
secret both ends of a real call share with Twilio) over the call id, the CallSid and an
expiry, so a forged or replayed stream for another call, or a stale one, is refused. Pure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid


def _mac(key: str, call_id: uuid.UUID, call_sid: str, expires: int) -> str:
    digest = hmac.new(key.encode(), f"stream:{call_id}:{call_sid}:{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def mint(key: str, call_id: uuid.UUID, call_sid: str, ttl_seconds: int, now: float | None = None) -> str:
    """A token for this call's stream, valid for ``ttl_seconds``."""
    expires = int(now if now is not None else time.time()) + ttl_seconds
    return f"{expires}.{_mac(key, call_id, call_sid, expires)}"


def verify(key: str, token: str, call_id: uuid.UUID, call_sid: str, now: float | None = None) -> bool:
    """True when ``token`` was minted with ``key`` for this call and has not expired."""
    if not key:
        return False
    expires_text, _, mac = token.partition(".")
    if not expires_text.isdigit() or not mac:
        return False
    expires = int(expires_text)
    if expires < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(mac, _mac(key, call_id, call_sid, expires))

"""One-click unsubscribe (RFC 8058): a signed token per (user, business, event) that works without signing in.

The token names what it turns off and carries an HMAC of that, so nobody can make one for
another member; it does not expire (a summary read a year later still unsubscribes). The URL
goes in `List-Unsubscribe` with `List-Unsubscribe-Post: List-Unsubscribe=One-Click`; mail
clients POST it, and a GET only shows what a POST would do (link scanners follow GETs).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import uuid
from collections.abc import Callable
from urllib.parse import quote

from outcomes.notifications import EVENTS, Event, Recipient

_CONTEXT = b"outcomes-unsubscribe:"


@dataclasses.dataclass(frozen=True)
class Unsubscribe:
    user_id: uuid.UUID
    business_id: uuid.UUID
    event: Event


def _mac(secret: bytes, context: bytes, payload: bytes) -> str:
    return hmac.new(secret, context + payload, hashlib.sha256).hexdigest()[:32]


def signed(secret: bytes, context: bytes, *fields: str) -> str:
    """A link token naming `fields`, with an HMAC under `context` (one per kind of link, so a token made
    for one purpose is never read as another's)."""
    payload = "|".join(fields).encode()
    return f"{base64.urlsafe_b64encode(payload).decode().rstrip('=')}.{_mac(secret, context, payload)}"


def signed_fields(secret: bytes, context: bytes, raw: str) -> list[str] | None:
    """The fields of a token `signed` made under `context`, or None when this server did not sign it so."""
    encoded, _, mac = raw.partition(".")
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError:
        return None
    if not hmac.compare_digest(mac, _mac(secret, context, payload)):
        return None
    try:
        return payload.decode().split("|")
    except UnicodeDecodeError:
        return None


def token(secret: bytes, what: Unsubscribe) -> str:
    return signed(secret, _CONTEXT, str(what.user_id), str(what.business_id), what.event)


def read(secret: bytes, raw: str) -> Unsubscribe | None:
    """What a token turns off, or None when it is not one this server signed."""
    fields = signed_fields(secret, _CONTEXT, raw)
    if fields is None or len(fields) != 3:
        return None
    try:
        found = Unsubscribe(uuid.UUID(fields[0]), uuid.UUID(fields[1]), fields[2])  # type: ignore[arg-type]
    except ValueError:
        return None
    return found if found.event in EVENTS else None


def headers(public_url: str, secret: bytes, what: Unsubscribe) -> dict[str, str]:
    """The RFC 8058 headers of one email to one member."""
    url = f"{public_url.rstrip('/')}/api/notifications/unsubscribe?token={quote(token(secret, what))}"
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


@dataclasses.dataclass(frozen=True)
class Links:
    """Where this server's unsubscribe links point (`public_url`) and the key they are signed with."""

    public_url: str
    secret: bytes

    def for_event(self, business_id: uuid.UUID, event: Event) -> Callable[[Recipient], dict[str, str]]:
        """Each recipient's own headers for an email about `event` (for `notifications.notify`'s `headers_for`)."""
        def of(person: Recipient) -> dict[str, str]:
            return headers(self.public_url, self.secret, Unsubscribe(person.user_id, business_id, event))

        return of

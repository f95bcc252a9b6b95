"""Standard Webhooks signatures (v1, HMAC-SHA256) and the retry schedule: pure functions, standard library only.

`webhook-signature` is `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`, the key
being the base64-decoded part of the secret after `whsec_`; during a rotation the header holds
one space-separated entry per signing secret, as the specification allows.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import random
from collections.abc import Sequence
from email.utils import parsedate_to_datetime

from automations.webhook_endpoints import SECRET_PREFIX

# Attempt n + 1 starts SCHEDULE[n] after attempt n failed; after the last, the message is failed.
SCHEDULE: tuple[datetime.timedelta, ...] = (
    datetime.timedelta(seconds=5), datetime.timedelta(minutes=5), datetime.timedelta(minutes=30),
    datetime.timedelta(hours=2), datetime.timedelta(hours=5), datetime.timedelta(hours=10),
    datetime.timedelta(hours=24),
)
MAX_ATTEMPTS = len(SCHEDULE) + 1
JITTER = 0.2
# A Retry-After beyond the schedule's longest wait is clamped to it, never a reason to wait days.
MAX_RETRY_AFTER = SCHEDULE[-1]


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` entry."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt, signed with every given secret."""
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets)}


def retry_delay(attempt: int, *, retry_after: float | None = None,
                rng: random.Random | None = None) -> datetime.timedelta | None:
    """How long after failed attempt `attempt` (1-based) the next one starts, or None: no more attempts.

    The scheduled wait is spread by ±20 % so a receiver that failed many messages at once is not
    hit by all their retries in the same second. A receiver's `Retry-After` is honoured as the
    minimum wait (clamped to the schedule's longest step).
    """
    if attempt >= MAX_ATTEMPTS:
        return None
    base = SCHEDULE[attempt - 1].total_seconds()
    spread = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    wait = base * spread
    if retry_after is not None:
        wait = max(wait, min(retry_after, MAX_RETRY_AFTER.total_seconds()))
    return datetime.timedelta(seconds=wait)


def parse_retry_after(value: str | None, now: datetime.datetime) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - now).total_seconds())

"""Which of a business's numbers sends a text: the one the person last talked to, else a local one, else the least busy.

Replies land in one thread only when the person keeps seeing the same number, and a local
area code gets answered more often; past those, spreading load over the numbers keeps each
within its carrier pace. Only live numbers that can send SMS are candidates.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence

from messaging.errors import NotFound, NumberNotSmsCapable
from messaging.phones import area_code
from storage.executor import Executor


@dataclasses.dataclass(frozen=True)
class Sender:
    number_id: uuid.UUID
    phone_number: str
    number_type: str


_CANDIDATES = (
    "SELECT n.id, n.phone_number, n.number_type, coalesce((n.capabilities->>'sms')::boolean, false) AS sms,"
    " p.tat_us FROM business_numbers n LEFT JOIN sms_pacing p ON p.number_id = n.id"
    " WHERE n.business_id = $1 AND n.status = 'active'")


async def named(db: Executor, business_id: uuid.UUID, number_id: uuid.UUID) -> Sender:
    """The business's number `number_id` for sending.

    Raises:
        NotFound: not a live number of this business.
        NumberNotSmsCapable: it can't send texts.
    """
    row = await db.fetchrow(_CANDIDATES + " AND n.id = $2", business_id, number_id)
    if row is None:
        raise NotFound("number not found")
    if not row["sms"]:
        raise NumberNotSmsCapable(f"{row['phone_number']} can't send SMS")
    return Sender(row["id"], row["phone_number"], row["number_type"])


async def choose(db: Executor, business_id: uuid.UUID, to_phone: str, *,
                 allowed: Sequence[uuid.UUID] | None = None, pending: Mapping[uuid.UUID, int] | None = None) -> Sender:
    """The sender for a text to `to_phone`, among `allowed` numbers when given.

    "Least busy" is the number this caller queued the fewest texts on so far (`pending`: a
    campaign's start, which queues all its texts before any is sent and so before any number's
    pace moves), then the one whose pace frees it first. Without `pending`, a whole campaign
    went to the one number idle first, and sent at that number's pace alone.

    Raises:
        NumberNotSmsCapable: the business has no live SMS-capable number (among `allowed`).
    """
    rows = [r for r in await db.fetch(_CANDIDATES, business_id)
            if r["sms"] and (allowed is None or r["id"] in allowed)]
    if not rows:
        raise NumberNotSmsCapable("the business has no number that can send SMS")
    by_phone = {r["phone_number"]: r for r in rows}
    last = await db.fetchval(
        "SELECT number FROM (SELECT to_number AS number, created_at FROM sms_messages"
        "  WHERE business_id = $1 AND direction = 'inbound' AND from_number = $2"
        " UNION ALL SELECT from_number, created_at FROM sms_outbox WHERE business_id = $1 AND to_phone = $2"
        "  AND status <> 'canceled') t WHERE number = ANY($3::text[]) ORDER BY created_at DESC LIMIT 1",
        business_id, to_phone, list(by_phone))
    if last is not None:
        row = by_phone[last]
    else:
        local = [r for r in rows if area_code(r["phone_number"]) == area_code(to_phone) is not None]
        row = min(local or rows, key=lambda r: ((pending or {}).get(r["id"], 0), r["tat_us"] or 0, r["phone_number"]))
    return Sender(row["id"], row["phone_number"], row["number_type"])

"""A campaign's audience: who it names (lists, tags, contacts, bare phones) and what each would be sent now.

Each phone appears once. A phone is skipped, with the reason counted, when it opted out,
the carrier called it undeliverable, it has no recorded consent and the campaign is
marketing (unless `[sms] require_marketing_consent` is off), or its only contact was deleted. A bare phone (a bulk send's `to`) with a live
contact is that contact (its fields fill the template, its consent counts); without one it
is a recipient with only its phone, which marketing never reaches (no recorded consent).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from typing import Any, Final

from messaging.segments import count_segments
from messaging.templates import render
from storage.executor import Executor

SKIP_REASONS: Final = ("opted_out", "undeliverable", "no_consent", "deleted")


@dataclasses.dataclass(frozen=True)
class Audience:
    list_ids: Sequence[uuid.UUID] = ()
    tags: Sequence[str] = ()
    contact_ids: Sequence[uuid.UUID] = ()
    # E.164 phones named directly (POST /api/sms/bulk), contacts or not.
    phones: Sequence[str] = ()

    def to_json(self) -> dict[str, Any]:
        return {"listIds": [str(x) for x in self.list_ids], "tags": list(self.tags),
                "contactIds": [str(x) for x in self.contact_ids], "phones": list(self.phones)}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Audience:
        return cls([uuid.UUID(x) for x in raw.get("listIds", [])], list(raw.get("tags", [])),
                   [uuid.UUID(x) for x in raw.get("contactIds", [])], list(raw.get("phones", [])))


@dataclasses.dataclass(frozen=True)
class Recipient:
    contact_id: uuid.UUID | None
    phone: str
    body: str | None
    segments: int
    encoding: str
    skip_reason: str | None


_AUDIENCE: Final = """
SELECT DISTINCT ON (c.phone) c.id, c.phone, c.first_name, c.last_name, c.email, c.attributes, c.consent_at,
       c.deleted_at IS NOT NULL AS deleted,
       EXISTS (SELECT 1 FROM suppressions s WHERE s.business_id = c.business_id AND s.phone = c.phone) AS suppressed,
       EXISTS (SELECT 1 FROM undeliverable_phones u WHERE u.business_id = c.business_id AND u.phone = c.phone)
           AS undeliverable
  FROM contacts c
 WHERE c.business_id = $1
   AND (c.id = ANY($2::uuid[]) OR c.tags && $3::text[] OR (c.phone = ANY($5::text[]) AND c.deleted_at IS NULL)
        OR EXISTS (SELECT 1 FROM contact_list_members m WHERE m.contact_id = c.id AND m.list_id = ANY($4::uuid[])))
   AND (c.deleted_at IS NULL OR c.id = ANY($2::uuid[])
        OR EXISTS (SELECT 1 FROM contact_list_members m WHERE m.contact_id = c.id AND m.list_id = ANY($4::uuid[])))
 ORDER BY c.phone, c.deleted_at NULLS FIRST, c.created_at
"""

# Bare phones with no live contact: recipients with only their phone.
_BARE: Final = """
SELECT p.phone,
       EXISTS (SELECT 1 FROM suppressions s WHERE s.business_id = $1 AND s.phone = p.phone) AS suppressed,
       EXISTS (SELECT 1 FROM undeliverable_phones u WHERE u.business_id = $1 AND u.phone = p.phone) AS undeliverable
  FROM unnest($2::text[]) AS p(phone)
 WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.business_id = $1 AND c.phone = p.phone AND c.deleted_at IS NULL)
"""


def _reason(row: Any, needs_consent: bool, consent: bool) -> str | None:
    return ("deleted" if row.get("deleted") else "opted_out" if row["suppressed"] else
            "undeliverable" if row["undeliverable"] else
            "no_consent" if needs_consent and not consent else None)


def _rendered(contact_id: uuid.UUID | None, phone: str, template: str, fields: dict[str, str | None],
              attributes: dict[str, Any]) -> Recipient:
    body = render(template, fields, attributes)
    segments = count_segments(body)
    return Recipient(contact_id, phone, body, segments.count, segments.encoding.value, None)


async def recipients(db: Executor, business_id: uuid.UUID, audience: Audience, template: str,
                     category: str, *, require_consent: bool = True) -> list[Recipient]:
    """The audience now, each phone once (ordered by phone): its rendered body and segments, or why it is skipped.

    `require_consent`: `[sms] require_marketing_consent` (a marketing campaign skips phones without consent).
    """
    a = audience
    needs_consent = category == "marketing" and require_consent
    rows = await db.fetch(_AUDIENCE, business_id, list(a.contact_ids), list(a.tags), list(a.list_ids),
                          list(a.phones))
    found: dict[str, Recipient] = {}
    for r in rows:
        reason = _reason(dict(r), needs_consent, r["consent_at"] is not None)
        if reason is not None:
            found[r["phone"]] = Recipient(r["id"], r["phone"], None, 0, "", reason)
            continue
        fields = {"firstName": r["first_name"], "lastName": r["last_name"], "email": r["email"], "phone": r["phone"]}
        found[r["phone"]] = _rendered(r["id"], r["phone"], template, fields, r["attributes"])
    if a.phones:
        for r in await db.fetch(_BARE, business_id, sorted(set(a.phones) - set(found))):
            reason = _reason(dict(r), needs_consent, False)
            found[r["phone"]] = (Recipient(None, r["phone"], None, 0, "", reason) if reason is not None else
                                 _rendered(None, r["phone"], template, {"phone": r["phone"]}, {}))
    return [found[phone] for phone in sorted(found)]


def estimate(found: Sequence[Recipient], price_per_segment: int) -> dict[str, Any]:
    """Recipients, segments and cost of a send now, with the skips by reason."""
    sending = [r for r in found if r.skip_reason is None]
    segments = sum(r.segments for r in sending)
    return {"recipients": len(sending), "segments": segments, "costMinor": segments * price_per_segment,
            "skipped": {reason: sum(1 for r in found if r.skip_reason == reason) for reason in SKIP_REASONS}}

"""A single text put in the outbox: recipient resolved, consent and opt-out checked, sender and hour chosen.

Nothing goes to Twilio here; the dispatcher does that and checks suppression and quiet hours
again when it sends, so what is answered here is a prediction (`notBefore`), and a STOP
arriving in between still wins.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid

from billing import ledger
from billing.money import Currency
from messaging import consent, contacts, profiles, senders
from messaging.config import SmsConfig
from messaging.errors import MessagingError, RecipientOptedOut
from messaging.outbox import Message, NewMessage, enqueue
from messaging.quiet_hours import check, recipient_zones
from messaging.segments import count_segments
from storage.executor import Executor


class InsufficientBalance(MessagingError):
    """The wallet can't pay for this message's segments (402 INSUFFICIENT_BALANCE)."""


class NoConsent(MessagingError):
    """A marketing text to a phone with no recorded consent (409 NO_CONSENT)."""


@dataclasses.dataclass(frozen=True)
class SendRequest:
    business_id: uuid.UUID
    body: str
    category: str
    idempotency_key: str
    to_phone: str | None = None
    contact_id: uuid.UUID | None = None
    from_number_id: uuid.UUID | None = None


@dataclasses.dataclass(frozen=True)
class Queued:
    message: Message
    created: bool


async def queue_text(db: Executor, request: SendRequest, config: SmsConfig, currency: Currency, *,
                     now: datetime.datetime) -> Queued:
    """Validate and queue one text; the same idempotency key answers the first message again.

    Raises:
        segments.BodyTooLong, errors.NotFound (contact or number), errors.NumberNotSmsCapable,
        RecipientOptedOut, NoConsent, InsufficientBalance.
    """
    segments = count_segments(request.body)
    contact = None
    if request.contact_id is not None:
        contact = await contacts.get(db, request.business_id, request.contact_id)
    phone = contact.phone if contact is not None else request.to_phone
    assert phone is not None, "a send names a phone or a contact"
    if contact is None:
        contact = await contacts.by_phone(db, request.business_id, phone)
    if await consent.is_suppressed(db, request.business_id, phone):
        raise RecipientOptedOut(phone)
    if (request.category == "marketing" and config.require_marketing_consent
            and (contact is None or contact.consent_at is None)):
        raise NoConsent(f"{phone} has no recorded consent to marketing texts")
    sender = (await senders.named(db, request.business_id, request.from_number_id)
              if request.from_number_id is not None else await senders.choose(db, request.business_id, phone))
    cost = segments.count * config.price_per_segment_minor
    wallet = await ledger.get_wallet(db, request.business_id, currency)
    if cost and (wallet is None or wallet.available < cost):
        raise InsufficientBalance("the wallet can't pay for this message")
    not_before = now
    if request.category == "marketing":
        profile = await profiles.profile(db, request.business_id, config)
        zones = recipient_zones(contact.timezone if contact else None, phone, profile.timezone)
        verdict = check(now, zones, profile.window)
        not_before = verdict.opens_at or now
    new = NewMessage(request.business_id, contact.id if contact else None, sender.number_id, sender.phone_number,
                     phone, request.body, request.category, segments.count, segments.encoding.value,
                     request.idempotency_key, not_before)
    message, created = await enqueue(db, new, now=now)
    return Queued(message, created)

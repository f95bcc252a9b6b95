"""Stripe event payloads as typed dataclasses, and the one transaction that applies an event's effect.

Parsing happens in one place (`StripeEvent.parse`, with `to_dict` as its reverse); a payload
that doesn't fit raises `ValueError` naming the field. Applying an event records its id and
books its effect in the same transaction: the event-id primary key stops a redelivery, the
ledger's idempotency key (``stripe:checkout_session:{id}``, ``stripe:refund:{charge}:{total}``)
stops a second event about the same payment, and any failure rolls both back so Stripe's
retry applies the effect once.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from billing import disputes, ledger, refunds, topups
from billing.disputes import DISPUTE_EVENTS, DisputeObject
from billing.config import StripeConfig
from billing.errors import BillingError
from billing.ledger import EntryKind
from billing.money import Money, parse_currency
from billing.stripe_fields import field_of as _field
from billing.stripe_fields import id_of as _id
from billing.stripe_fields import metadata_of as _metadata
from storage.executor import Connection

log = structlog.get_logger(__name__)

SESSION_EVENTS = frozenset({
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
})
CHARGE_REFUNDED = "charge.refunded"
# Brings the charge's receipt_url (Stripe's receipt page), shown beside the top-up on statements.
CHARGE_SUCCEEDED = "charge.succeeded"


class RefundNotRoutable(BillingError):
    """A refund's or dispute's charge can't be tied to a business yet; answering 5xx makes Stripe retry later."""


@dataclass(frozen=True, slots=True)
class CheckoutSessionObject:
    """The fields of a Checkout Session we act on."""

    id: str
    amount_total: int | None
    currency: str | None
    payment_status: str
    status: str | None
    client_reference_id: str | None
    payment_intent: str | None
    metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> CheckoutSessionObject:
        where = "data.object"
        if data.get("object") != "checkout.session":
            raise ValueError(f"{where}.object must be 'checkout.session'")
        return cls(
            id=_field(data, "id", str, where),
            amount_total=_field(data, "amount_total", int, where, optional=True),
            currency=_field(data, "currency", str, where, optional=True),
            payment_status=_field(data, "payment_status", str, where),
            status=_field(data, "status", str, where, optional=True),
            client_reference_id=_field(data, "client_reference_id", str, where, optional=True),
            payment_intent=_id(data.get("payment_intent")),
            metadata=_metadata(data, where),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "object": "checkout.session", "amount_total": self.amount_total,
                "currency": self.currency, "payment_status": self.payment_status, "status": self.status,
                "client_reference_id": self.client_reference_id, "payment_intent": self.payment_intent,
                "metadata": dict(self.metadata)}

    def business_id(self) -> uuid.UUID | None:
        """The wallet's business: client_reference_id, else the metadata we set at creation."""
        for candidate in (self.client_reference_id, self.metadata.get("business_id")):
            try:
                return uuid.UUID(str(candidate))
            except ValueError:
                continue
        return None


@dataclass(frozen=True, slots=True)
class ChargeObject:
    """The fields of a Charge we act on; `amount_refunded` is cumulative over all its refunds.

    `receipt_url` is kept only when it is an https URL: it is shown to the business as a link.
    """

    id: str
    amount: int
    amount_refunded: int
    currency: str
    payment_intent: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    receipt_url: str | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> ChargeObject:
        where = "data.object"
        if data.get("object") != "charge":
            raise ValueError(f"{where}.object must be 'charge'")
        parsed = cls(
            id=_field(data, "id", str, where),
            amount=_field(data, "amount", int, where),
            amount_refunded=_field(data, "amount_refunded", int, where),
            currency=_field(data, "currency", str, where),
            payment_intent=_id(data.get("payment_intent")),
            metadata=_metadata(data, where),
            receipt_url=_receipt_url(_field(data, "receipt_url", str, where, optional=True)),
        )
        if not 0 <= parsed.amount_refunded <= parsed.amount:
            raise ValueError(f"{where}.amount_refunded must be between 0 and amount")
        return parsed

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "object": "charge", "amount": self.amount, "amount_refunded": self.amount_refunded,
                "currency": self.currency, "payment_intent": self.payment_intent, "metadata": dict(self.metadata),
                "receipt_url": self.receipt_url}


def _receipt_url(value: str | None) -> str | None:
    return value if value is not None and value.startswith("https://") and len(value) <= 2000 else None


@dataclass(frozen=True, slots=True)
class StripeEvent:
    """A webhook or List Events payload; `object` is parsed only for the types we act on."""

    id: str
    type: str
    created: int
    livemode: bool
    object: CheckoutSessionObject | ChargeObject | DisputeObject | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> StripeEvent:
        """Read an event payload (already authenticated).

        Raises:
            ValueError: naming the first field that doesn't fit.
        """
        if not isinstance(data, Mapping) or data.get("object") != "event":
            raise ValueError("object must be 'event'")
        type_ = _field(data, "type", str, "event")
        obj: CheckoutSessionObject | ChargeObject | DisputeObject | None = None
        parser = _PARSERS.get(type_)
        if parser is not None:
            inner = data.get("data")
            if not isinstance(inner, Mapping) or not isinstance(inner.get("object"), Mapping):
                raise ValueError("data.object must be an object")
            obj = parser(inner["object"])
        return cls(id=_field(data, "id", str, "event"), type=type_, created=_field(data, "created", int, "event"),
                   livemode=_field(data, "livemode", bool, "event"), object=obj)

    def to_dict(self) -> dict[str, Any]:
        """The payload `parse` reads back into an equal event."""
        body: dict[str, Any] = {"id": self.id, "object": "event", "type": self.type, "created": self.created,
                                "livemode": self.livemode}
        body["data"] = {"object": self.object.to_dict() if self.object is not None else {}}
        return body


_PARSERS: dict[str, Callable[[Mapping[str, Any]], CheckoutSessionObject | ChargeObject | DisputeObject]] = {
    **{t: CheckoutSessionObject.parse for t in SESSION_EVENTS}, CHARGE_REFUNDED: ChargeObject.parse,
    CHARGE_SUCCEEDED: ChargeObject.parse,
    **{t: DisputeObject.parse for t in DISPUTE_EVENTS},
}


class Outcome(enum.StrEnum):
    """What processing an event did; stored with the event id."""

    CREDITED = "credited"
    PENDING = "pending"
    STATUS = "status_recorded"
    REFUNDED = "refunded"
    DISPUTED = "dispute_recorded"
    RECEIPT = "receipt_recorded"
    IGNORED = "ignored"
    UNROUTABLE = "unroutable"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """Pure decision for a session event: the status it reports and whether it pays the wallet."""

    status: str
    credit: bool


def plan_session(event_type: str, session: CheckoutSessionObject) -> SessionPlan:
    """Which session events move money: a paid `completed`, or `async_payment_succeeded`.

    Both credit under the same key, so whichever arrives first pays and the other is a replay.
    """
    if event_type == "checkout.session.completed":
        if session.payment_status == "paid":
            return SessionPlan("paid", True)
        return SessionPlan("pending" if session.payment_status == "unpaid" else "paid", False)
    if event_type == "checkout.session.async_payment_succeeded":
        return SessionPlan("paid", True)
    if event_type == "checkout.session.async_payment_failed":
        return SessionPlan("failed", False)
    return SessionPlan("expired", False)


def topup_key(session_id: str) -> str:
    """The ledger key of a top-up: one credit per Checkout Session, whatever event reports it."""
    return f"stripe:checkout_session:{session_id}"


def refund_key(charge_id: str, refunded_total: int) -> str:
    """The ledger key of the refund that brought a charge's refunded total to `refunded_total`.

    Charge events of current API versions no longer embed the refunds list, so a refund is
    named by the cumulative total it produced, which is unique per refund of the charge.
    """
    return f"stripe:refund:{charge_id}:{refunded_total}"


async def apply_event(pool: asyncpg.Pool, event: StripeEvent, *,
                      dispute_fee_minor: int = StripeConfig().dispute_fee_minor) -> Outcome:
    """Record `event` and apply its effect in one transaction; a repeat returns `DUPLICATE`.

    Args:
        dispute_fee_minor: what a lost dispute costs on top of its amount (``[stripe]``).

    Raises:
        RefundNotRoutable: a refund or dispute for a charge we can't place yet (answer 5xx, Stripe retries).
        Any database error: nothing was recorded, so the retry starts afresh.
    """
    async with pool.acquire() as conn, conn.transaction():
        if isinstance(event.object, CheckoutSessionObject):
            return await _apply_session(conn, event, event.object)
        if isinstance(event.object, ChargeObject) and event.type == CHARGE_SUCCEEDED:
            return await _apply_receipt(conn, event, event.object)
        if isinstance(event.object, ChargeObject):
            return await _apply_refund(conn, event, event.object)
        if isinstance(event.object, DisputeObject):
            return await _apply_dispute(conn, event, event.object, dispute_fee_minor)
        return await _record(conn, event, Outcome.IGNORED)


async def _record(conn: Connection, event: StripeEvent, outcome: Outcome) -> Outcome:
    fresh = await topups.record_event(conn, event_id=event.id, type_=event.type, created=event.created,
                                      livemode=event.livemode, outcome=outcome.value)
    return outcome if fresh else Outcome.DUPLICATE


def _money(amount: int | None, currency: str | None) -> Money | None:
    if amount is None or amount <= 0 or currency is None:
        return None
    try:
        return Money(amount, parse_currency(currency))
    except ValueError:
        return None


async def _apply_session(conn: Connection, event: StripeEvent, session: CheckoutSessionObject) -> Outcome:
    plan = plan_session(event.type, session)
    business_id = session.business_id()
    amount = _money(session.amount_total, session.currency)
    if business_id is None or amount is None or not await topups.business_exists(conn, business_id):
        log.error("stripe_event_unroutable", event_id=event.id, session_id=session.id)
        return await _record(conn, event, Outcome.UNROUTABLE)
    outcome = Outcome.CREDITED if plan.credit else Outcome.PENDING if plan.status == "pending" else Outcome.STATUS
    if await _record(conn, event, outcome) is Outcome.DUPLICATE:
        return Outcome.DUPLICATE
    await topups.advance(conn, session_id=session.id, business_id=business_id, amount=amount,
                         status=plan.status, payment_intent=session.payment_intent)
    if plan.credit:
        await ledger.credit(conn, business_id=business_id, amount=amount, kind=EntryKind.TOPUP,
                            idempotency_key=topup_key(session.id), reference=topup_key(session.id),
                            actor="stripe")
    log.info("stripe_event_applied", event_id=event.id, type=event.type, outcome=outcome.value)
    return outcome


async def _apply_receipt(conn: Connection, event: StripeEvent, charge: ChargeObject) -> Outcome:
    """Keep the charge's receipt page by its PaymentIntent (the top-up finds it there, whichever came first)."""
    if await _record(conn, event, Outcome.RECEIPT) is Outcome.DUPLICATE:
        return Outcome.DUPLICATE
    if charge.receipt_url and charge.payment_intent:
        await topups.record_receipt(conn, payment_intent=charge.payment_intent, charge_id=charge.id,
                                    receipt_url=charge.receipt_url)
    return Outcome.RECEIPT


async def _apply_refund(conn: Connection, event: StripeEvent, charge: ChargeObject) -> Outcome:
    refunded = _money(charge.amount_refunded, charge.currency)
    if refunded is None:
        return await _record(conn, event, Outcome.IGNORED)
    business_id = await _charge_business(conn, charge)
    if await _record(conn, event, Outcome.REFUNDED) is Outcome.DUPLICATE:
        return Outcome.DUPLICATE
    if charge.receipt_url and charge.payment_intent:
        await topups.record_receipt(conn, payment_intent=charge.payment_intent, charge_id=charge.id,
                                    receipt_url=charge.receipt_url)
    await refunds.refund_up_to(conn, business_id=business_id, refunded=refunded,
                              charge_reference=f"stripe:charge:{charge.id}",
                              idempotency_key=refund_key(charge.id, refunded.amount), actor="stripe")
    log.info("stripe_event_applied", event_id=event.id, type=event.type, refunded_total=refunded.amount)
    return Outcome.REFUNDED


async def _apply_dispute(conn: Connection, event: StripeEvent, dispute: DisputeObject, fee_minor: int) -> Outcome:
    disputed = _money(dispute.amount, dispute.currency)
    if disputed is None:
        return await _record(conn, event, Outcome.IGNORED)
    business_id = await _charge_business(conn, dispute)
    if await _record(conn, event, Outcome.DISPUTED) is Outcome.DUPLICATE:
        return Outcome.DUPLICATE
    await disputes.book(conn, business_id=business_id, dispute_id=dispute.id, status=dispute.status,
                        disputed=disputed, fee_minor=fee_minor)
    log.info("stripe_event_applied", event_id=event.id, type=event.type, dispute=dispute.id, status=dispute.status)
    return Outcome.DISPUTED


async def _charge_business(conn: Connection, charge: ChargeObject | DisputeObject) -> uuid.UUID:
    """The business a charge paid: the metadata we put on its PaymentIntent, else our top-up record."""
    try:
        candidate = uuid.UUID(charge.metadata.get("business_id", ""))
        if await topups.business_exists(conn, candidate):
            return candidate
    except ValueError:
        pass
    if charge.payment_intent:
        found = await topups.business_of_payment_intent(conn, charge.payment_intent)
        if found is not None:
            return found
    raise RefundNotRoutable(f"{type(charge).__name__} {charge.id} is not tied to a business yet")

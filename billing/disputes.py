"""Stripe disputes (chargebacks) in the wallet: the dispute payload, which steps a status implies, and their entries.

A dispute takes its amount out of the wallet the moment it opens: Stripe has already
withdrawn it, so the entry may take the balance below zero, and a wallet below zero pays for
no call or reply, like an empty one. A won dispute gives the amount back; a lost one keeps
it and also takes the dispute fee (``[stripe] dispute_fee_minor``). All three are entries
against the ``disputes`` platform account, so the business sees each step in its
transactions.

Stripe sends ``charge.dispute.created``, ``.updated`` and ``.closed`` at least once and in
any order. Every event about a dispute implies the steps of its status (`steps_for`): any
status implies the hold, ``won`` adds the release, ``lost`` adds the fee. Each step has its
own idempotency key, so applying the steps of every event received, in any order and any
number of times, books the same entries as applying them once in order.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from billing import ledger
from billing.ledger import Entry, EntryKind
from billing.money import Money
from billing.stripe_fields import field_of, id_of, metadata_of
from storage.executor import Connection

DISPUTE_EVENTS = frozenset({"charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed"})
# Stripe's closing statuses: `warning_closed` ends an inquiry that never became a chargeback.
RETURNED = frozenset({"won", "warning_closed"})
LOST = "lost"


class Step(enum.StrEnum):
    """One effect of a dispute on the wallet; each is booked at most once."""

    HOLD = "hold"
    RELEASE = "release"
    FEE = "fee"


@dataclass(frozen=True, slots=True)
class DisputeObject:
    """The fields of a Dispute we act on; `amount` is what the cardholder disputes (the money withdrawn)."""

    id: str
    amount: int
    currency: str
    status: str
    charge: str | None
    payment_intent: str | None
    metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> DisputeObject:
        where = "data.object"
        if data.get("object") != "dispute":
            raise ValueError(f"{where}.object must be 'dispute'")
        parsed = cls(id=field_of(data, "id", str, where), amount=field_of(data, "amount", int, where),
                     currency=field_of(data, "currency", str, where), status=field_of(data, "status", str, where),
                     charge=id_of(data.get("charge")), payment_intent=id_of(data.get("payment_intent")),
                     metadata=metadata_of(data, where))
        if parsed.amount <= 0:
            raise ValueError(f"{where}.amount must be positive")
        return parsed

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "object": "dispute", "amount": self.amount, "currency": self.currency,
                "status": self.status, "charge": self.charge, "payment_intent": self.payment_intent,
                "metadata": dict(self.metadata)}


def steps_for(status: str) -> tuple[Step, ...]:
    """The steps a dispute in `status` has been through; pure, so order never matters."""
    if status in RETURNED:
        return (Step.HOLD, Step.RELEASE)
    if status == LOST:
        return (Step.HOLD, Step.FEE)
    return (Step.HOLD,)


def step_key(dispute_id: str, step: Step) -> str:
    """The ledger key of one step of one dispute."""
    return f"stripe:dispute:{dispute_id}:{step.value}"


def reference(dispute_id: str) -> str:
    """The reference every entry of a dispute carries, as shown in the business's transactions."""
    return f"stripe:dispute:{dispute_id}"


_KIND = {Step.HOLD: EntryKind.DISPUTE_HOLD, Step.RELEASE: EntryKind.DISPUTE_RELEASE, Step.FEE: EntryKind.DISPUTE_FEE}


def step_amount(step: Step, disputed: Money, fee_minor: int) -> Money:
    """Signed: the hold and the fee take money out, the release gives the disputed amount back."""
    if step is Step.HOLD:
        return -disputed
    if step is Step.RELEASE:
        return disputed
    return Money(-fee_minor, disputed.currency)


async def book(conn: Connection, *, business_id: uuid.UUID, dispute_id: str, status: str, disputed: Money,
               fee_minor: int) -> list[Entry]:
    """Book every step `status` implies that isn't booked yet; returns the entries (new or replayed).

    All steps may overdraw: the money already left through Stripe. A fee of 0 books no fee.
    """
    booked = []
    for step in steps_for(status):
        amount = step_amount(step, disputed, fee_minor)
        if amount.amount == 0:
            continue
        booked.append(await ledger.post_entry(
            conn, business_id=business_id, amount=amount, kind=_KIND[step], idempotency_key=step_key(dispute_id, step),
            reference=reference(dispute_id), actor="stripe", may_overdraw=True))
    return booked

"""Reconciliation: book the Stripe events whose webhook never arrived (property 15).

Stripe retries webhooks for days, but an endpoint can still miss one (misconfigured secret,
a long outage). This job lists recent events through the API and runs each one we have no
record of through the same `apply_event` transaction the webhook uses, so an event applied
here and later delivered (or the reverse) still has one effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import structlog

from billing import topups
from billing.payments import PaymentsProvider
from billing.disputes import DISPUTE_EVENTS
from billing.stripe_events import (
    CHARGE_REFUNDED,
    CHARGE_SUCCEEDED,
    SESSION_EVENTS,
    Outcome,
    RefundNotRoutable,
    StripeEvent,
    apply_event,
)

log = structlog.get_logger(__name__)

ACTED_ON = sorted(SESSION_EVENTS | {CHARGE_REFUNDED, CHARGE_SUCCEEDED} | DISPUTE_EVENTS)


@dataclass(frozen=True, slots=True)
class AppliedEvent:
    """An event this run applied: its webhook never arrived (or never succeeded)."""

    id: str
    type: str
    created: int
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What one run found: events listed, applied now (and which), and left for a later run."""

    listed: int
    applied: int
    deferred: int
    events: tuple[AppliedEvent, ...] = ()


async def reconcile(pool: asyncpg.Pool, payments: PaymentsProvider, *, since: int,
                    dispute_fee_minor: int) -> ReconcileReport:
    """Apply every event of a type we act on, created at or after `since` (unix seconds), not yet processed.

    Events are applied oldest first, the order Stripe would have delivered them; a refund
    that can't be routed yet is left for the next run, like a webhook answered 5xx.
    """
    listed = await payments.list_events(types=ACTED_ON, created_gte=since)
    known = await topups.processed_event_ids(pool, [str(e.get("id")) for e in listed])
    applied: list[AppliedEvent] = []
    deferred = 0
    for raw in sorted(listed, key=lambda e: (e.get("created", 0), str(e.get("id")))):
        if raw.get("id") in known:
            continue
        try:
            outcome = await apply_event(pool, StripeEvent.parse(raw), dispute_fee_minor=dispute_fee_minor)
        except (ValueError, RefundNotRoutable) as exc:
            log.warning("reconcile_deferred", event_id=raw.get("id"), reason=str(exc))
            deferred += 1
            continue
        if outcome is not Outcome.DUPLICATE:
            applied.append(AppliedEvent(str(raw.get("id")), str(raw.get("type")), int(raw.get("created") or 0),
                                        outcome))
            log.info("reconcile_applied", event_id=raw.get("id"), outcome=outcome.value)
    return ReconcileReport(listed=len(listed), applied=len(applied), deferred=deferred, events=tuple(applied))

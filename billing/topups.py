"""Stripe-side records (SQL lives here): top-up sessions we created and the events we processed."""

from __future__ import annotations

import uuid

from billing.money import Money
from storage.executor import Connection, Executor

# Statuses only move forward along this order, so events arriving in any order (a late
# `completed` after `async_payment_succeeded`, `expired` after `paid`) end in the same state.
STATUS_ORDER = ("open", "pending", "expired", "failed", "paid")


def later_status(current: str, incoming: str) -> str:
    """The status a top-up ends in after `incoming` is reported (pure mirror of the SQL)."""
    return max(current, incoming, key=STATUS_ORDER.index)


async def record_session(db: Executor, *, session_id: str, business_id: uuid.UUID, amount: Money,
                         created_by: str) -> None:
    """Remember a Checkout Session we created (a retried create returns the same id: no-op)."""
    await db.execute(
        "INSERT INTO topups (checkout_session_id, business_id, amount, currency, created_by)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (checkout_session_id) DO NOTHING",
        session_id, business_id, amount.amount, amount.currency.value, created_by)


async def advance(conn: Connection, *, session_id: str, business_id: uuid.UUID, amount: Money,
                  status: str, payment_intent: str | None) -> None:
    """Record what Stripe reported about a session, never moving its status backwards.

    A session created outside this server (or before its row was written) is inserted, so
    the payment_intent -> business mapping used by refunds exists either way.

    Two events of one session (completed and its async twin) can arrive at once in two
    processes. Their inserts would then meet on the payment_intent index, which is not the
    ON CONFLICT arbiter, and the second would fail; a lock per session in the event's
    transaction makes the second wait and take the DO UPDATE path.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('topup:' || $1, 0))", session_id)
    await conn.execute(
        "INSERT INTO topups (checkout_session_id, business_id, amount, currency, status, payment_intent, created_by)"
        " VALUES ($1, $2, $3, $4, $5, $6, 'stripe')"
        " ON CONFLICT (checkout_session_id) DO UPDATE SET"
        "  status = CASE WHEN array_position($7::text[], EXCLUDED.status) > array_position($7::text[], topups.status)"
        "           THEN EXCLUDED.status ELSE topups.status END,"
        "  payment_intent = coalesce(topups.payment_intent, EXCLUDED.payment_intent), updated_at = now()",
        session_id, business_id, amount.amount, amount.currency.value, status, payment_intent, list(STATUS_ORDER))


async def record_receipt(db: Executor, *, payment_intent: str, charge_id: str, receipt_url: str) -> None:
    """Keep Stripe's receipt page of the charge that paid `payment_intent` (the latest one reported wins)."""
    await db.execute(
        "INSERT INTO charge_receipts (payment_intent, charge_id, receipt_url) VALUES ($1, $2, $3)"
        " ON CONFLICT (payment_intent) DO UPDATE SET charge_id = EXCLUDED.charge_id,"
        " receipt_url = EXCLUDED.receipt_url, recorded_at = now()", payment_intent, charge_id, receipt_url)


async def topup_status(db: Executor, session_id: str) -> str | None:
    """The recorded status of a session, if we know it."""
    status: str | None = await db.fetchval("SELECT status FROM topups WHERE checkout_session_id = $1", session_id)
    return status


async def business_of_payment_intent(db: Executor, payment_intent: str) -> uuid.UUID | None:
    """The business a PaymentIntent paid into, from the session that created it."""
    found: uuid.UUID | None = await db.fetchval("SELECT business_id FROM topups WHERE payment_intent = $1",
                                                payment_intent)
    return found


async def business_exists(db: Executor, business_id: uuid.UUID) -> bool:
    """Whether money can be routed to this business at all."""
    exists: bool = await db.fetchval("SELECT EXISTS (SELECT 1 FROM businesses WHERE id = $1)", business_id)
    return exists


async def record_event(conn: Connection, *, event_id: str, type_: str, created: int, livemode: bool,
                       outcome: str) -> bool:
    """Insert an event id; False when it was already processed (the event-id dedupe).

    A concurrent delivery of the same id waits here on the unique index until the first
    transaction ends: it then sees the committed row (False) or, if that one rolled back,
    takes over.
    """
    inserted = await conn.fetchval(
        "INSERT INTO stripe_events (id, type, created, livemode, outcome) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (id) DO NOTHING RETURNING true", event_id, type_, created, livemode, outcome)
    return bool(inserted)


async def event_outcome(db: Executor, event_id: str) -> str | None:
    """What processing an event did, if it was processed."""
    outcome: str | None = await db.fetchval("SELECT outcome FROM stripe_events WHERE id = $1", event_id)
    return outcome


async def processed_event_ids(db: Executor, event_ids: list[str]) -> set[str]:
    """Which of `event_ids` are already processed (reconciliation)."""
    rows = await db.fetch("SELECT id FROM stripe_events WHERE id = ANY($1::text[])", event_ids)
    return {r["id"] for r in rows}

"""Refunds of a Stripe charge, booked from Stripe's cumulative total (its events repeat and reorder)."""

from __future__ import annotations

import uuid

from billing.ledger import Entry, EntryKind, Wallet, lock_wallet, post_entry
from billing.money import Money
from storage.executor import Connection, Executor
from storage.transactions import transaction


async def refunded_total(conn: Connection, wallet: Wallet, reference: str) -> int:
    """Money already refunded against `reference` (a Stripe charge) in this wallet, as a positive sum."""
    total: int = await conn.fetchval(
        "SELECT coalesce(-sum(amount), 0)::bigint FROM ledger_entries"
        " WHERE wallet_id = $1 AND reference = $2 AND kind = 'refund'", wallet.id, reference)
    return total


async def refund_up_to(db: Executor, *, business_id: uuid.UUID, refunded: Money, charge_reference: str,
                       idempotency_key: str, actor: str) -> Entry | None:
    """Debit what a charge has had refunded in total beyond what the ledger already took back.

    Stripe reports refunds cumulatively (``charge.amount_refunded``), and its events may
    repeat or arrive out of order; comparing the total with the refund entries already
    booked against the charge (under the wallet lock) books each new refund once and an
    older, smaller total not at all. Refunds may overdraw: the money has already left.

    Returns:
        The new refund entry, or None when nothing new was refunded.
    """
    async with transaction(db) as conn:
        wallet = await lock_wallet(conn, business_id, refunded.currency)
        delta = refunded.amount - await refunded_total(conn, wallet, charge_reference)
        if delta <= 0:
            return None
        return await post_entry(conn, business_id=business_id, amount=Money(-delta, refunded.currency),
                                kind=EntryKind.REFUND, idempotency_key=idempotency_key,
                                reference=charge_reference, actor=actor, may_overdraw=True)

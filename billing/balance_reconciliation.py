"""The daily reconciliation: Stripe's balance transactions of a day against the ledger's Stripe-facing entries.

Both sides are summed per subject: a top-up by its PaymentIntent (``payment_intent:pi_…``),
refunds by the charge they return (``refunds_of:ch_…``), a dispute by its id
(``dispute:dp_…``; its withdrawal and any reversal, fees apart). A subject on one side only
is missing on the other; on both, the currencies and then the amounts must agree. Every
Stripe fee is reported too: the platform pays it, no wallet does. Findings are stored
under a key naming the day, kind and subject, so running a day again reports nothing new;
nothing is ever booked from here.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from billing.payments import PaymentsProvider
from storage.executor import Executor


@dataclass(frozen=True, slots=True)
class Side:
    """One subject's total on one side, in one currency (upper-case ISO)."""

    currency: str
    amount: int


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    subject: str
    currency: str | None
    stripe_amount: int | None
    ledger_amount: int | None


def _add(totals: dict[str, Side], subject: str, currency: str, amount: int) -> None:
    known = totals.get(subject)
    if known is not None and known.currency != currency:
        currency = f"{known.currency},{currency}"
    totals[subject] = Side(currency, amount + (known.amount if known else 0))


def stripe_side(transactions: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Side], list[Finding]]:
    """Subjects of Stripe's balance transactions (sources expanded), and a fee finding per fee charged."""
    totals: dict[str, Side] = {}
    fees = []
    for txn in transactions:
        raw = txn.get("source")
        source: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        currency = str(txn.get("currency", "")).upper()
        subject = _subject(str(txn.get("type")), source)
        if subject is not None:
            _add(totals, subject, currency, int(txn["amount"]))
        if int(txn.get("fee") or 0):
            fees.append(Finding("fee", f"txn:{txn['id']}", currency, int(txn["fee"]), None))
    return totals, fees


def _subject(type_: str, source: Mapping[str, Any]) -> str | None:
    if type_ == "charge" and source.get("payment_intent"):
        return f"payment_intent:{source['payment_intent']}"
    if type_ == "refund" and source.get("charge"):
        return f"refunds_of:{source['charge']}"
    if source.get("object") == "dispute":
        return f"dispute:{source['id']}"
    return None  # payouts, transfers, ...: not wallet money


def compare(stripe: Mapping[str, Side], ledger: Mapping[str, Side]) -> list[Finding]:
    """Pure: every subject where the two sides disagree, in subject order."""
    found = []
    for subject in sorted(stripe.keys() | ledger.keys()):
        ours, theirs = ledger.get(subject), stripe.get(subject)
        if ours is None and theirs is not None:
            found.append(Finding("missing_in_ledger", subject, theirs.currency, theirs.amount, None))
        elif theirs is None and ours is not None:
            found.append(Finding("missing_at_stripe", subject, ours.currency, None, ours.amount))
        elif ours is not None and theirs is not None and ours.currency != theirs.currency:
            found.append(Finding("currency_mismatch", subject, f"{theirs.currency}/{ours.currency}",
                                 theirs.amount, ours.amount))
        elif ours is not None and theirs is not None and ours.amount != theirs.amount:
            found.append(Finding("amount_mismatch", subject, ours.currency, theirs.amount, ours.amount))
    return found


_LEDGER_SIDE = """
SELECT CASE WHEN e.kind = 'topup' THEN coalesce('payment_intent:' || t.payment_intent, 'session:' || t.checkout_session_id,
                                              e.reference)
            WHEN e.kind = 'refund' THEN 'refunds_of:' || substr(e.reference, length('stripe:charge:') + 1)
            ELSE 'dispute:' || substr(e.reference, length('stripe:dispute:') + 1) END AS subject,
       w.currency, e.amount
  FROM ledger_entries e JOIN wallets w ON w.id = e.wallet_id
  LEFT JOIN topups t ON e.kind = 'topup' AND e.reference = 'stripe:checkout_session:' || t.checkout_session_id
 WHERE e.created_at >= $1 AND e.created_at < $2 AND e.actor = 'stripe'
   AND e.kind IN ('topup', 'refund', 'dispute_hold', 'dispute_release')
"""


async def ledger_side(db: Executor, start: datetime.datetime, end: datetime.datetime) -> dict[str, Side]:
    """The ledger's Stripe-booked entries of [start, end) by subject (dispute fees apart: Stripe's show as fees)."""
    totals: dict[str, Side] = {}
    for row in await db.fetch(_LEDGER_SIDE, start, end):
        _add(totals, row["subject"], row["currency"], row["amount"])
    return totals


@dataclass(frozen=True, slots=True)
class DayReport:
    day: datetime.date
    listed: int
    new: list[Finding]


def day_bounds(day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    start = datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC)
    return start, start + datetime.timedelta(days=1)


async def record_findings(db: Executor, day: datetime.date, findings: Iterable[Finding]) -> list[Finding]:
    """Store each finding under its day, kind and subject; returns those not stored before."""
    new = []
    for f in findings:
        fresh = await db.fetchval(
            "INSERT INTO reconciliation_findings (key, day, kind, subject, currency, stripe_amount, ledger_amount)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key) DO NOTHING RETURNING true",
            f"{day}:{f.kind}:{f.subject}", day, f.kind, f.subject, f.currency, f.stripe_amount, f.ledger_amount)
        if fresh:
            new.append(f)
    return new


async def reconcile_day(pool: asyncpg.Pool, payments: PaymentsProvider, day: datetime.date) -> DayReport:
    """Match one UTC day; returns the findings not reported before (a rerun of a day returns none)."""
    start, end = day_bounds(day)
    listed = await payments.list_balance_transactions(created_gte=int(start.timestamp()),
                                                      created_lt=int(end.timestamp()))
    stripe, fees = stripe_side(listed)
    findings = compare(stripe, await ledger_side(pool, start, end)) + fees
    return DayReport(day, len(listed), await record_findings(pool, day, findings))

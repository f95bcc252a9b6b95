"""A wallet's monthly statement: opening balance, the month's lines by section, closing balance.

Everything comes from the ledger, so the statement can't disagree with the transactions:
opening is Σ entries before the month, each section sums the month's entries of its kinds,
and closing = opening + Σ lines (asserted here, and equal to Σ entries before the month's
end). Months are calendar months in UTC (businesses carry no timezone yet). A month not yet
over is marked partial and runs to now.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime
import re
import uuid
from dataclasses import dataclass, field

import asyncpg

from billing.ledger import EntryKind
from billing.money import Currency
from storage.executor import Executor

_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")

# Usage kinds -> (product, unit of its quantity).
PRODUCTS: dict[str, tuple[str, str]] = {
    EntryKind.CALL_USAGE: ("call", "seconds"),
    EntryKind.SMS_USAGE: ("sms", "replies"),
    EntryKind.CHAT_USAGE: ("chat", "replies"),
    EntryKind.NUMBER_PURCHASE: ("number_purchase", "numbers"),
    EntryKind.NUMBER_RENT: ("number_rent", "months"),
}
SECTIONS: dict[str, tuple[str, ...]] = {
    "refunds": (EntryKind.REFUND,),
    "disputes": (EntryKind.DISPUTE_HOLD, EntryKind.DISPUTE_RELEASE, EntryKind.DISPUTE_FEE),
    "adjustments": (EntryKind.ADJUSTMENT,),
}


def month_bounds(month: str) -> tuple[datetime.datetime, datetime.datetime]:
    """``YYYY-MM`` -> [first instant, first instant of the next month), UTC.

    Raises:
        ValueError: not a month in that form.
    """
    found = _MONTH.fullmatch(month)
    if found is None:
        raise ValueError("must be a month as YYYY-MM")
    year, number = int(found[1]), int(found[2])
    start = datetime.datetime(year, number, 1, tzinfo=datetime.UTC)
    days = calendar.monthrange(year, number)[1]
    return start, start + datetime.timedelta(days=days)


@dataclass(frozen=True, slots=True)
class TopupLine:
    entry_id: int
    amount: int
    reference: str
    receipt_url: str | None
    created_at: datetime.datetime


@dataclass(frozen=True, slots=True)
class UsageLine:
    """One product's month: what it cost, how many entries, and its quantity in `unit`."""

    product: str
    amount: int
    entries: int
    quantity: int
    unit: str


@dataclass(frozen=True, slots=True)
class SectionTotal:
    amount: int
    entries: int


@dataclass(frozen=True, slots=True)
class Statement:
    business_id: uuid.UUID
    currency: Currency
    month: str
    start: datetime.datetime
    end: datetime.datetime
    partial: bool
    opening: int
    closing: int
    topups: list[TopupLine] = field(default_factory=list)
    usage: list[UsageLine] = field(default_factory=list)
    sections: dict[str, SectionTotal] = field(default_factory=dict)

    def lines_total(self) -> int:
        """Σ of every line: closing - opening."""
        return (sum(t.amount for t in self.topups) + sum(u.amount for u in self.usage)
                + sum(s.amount for s in self.sections.values()))


async def statement(db: Executor, business_id: uuid.UUID, currency: Currency, month: str, *,
                    now: datetime.datetime | None = None) -> Statement:
    """The business's statement of `month` in `currency` (all zero when it has no such wallet).

    Raises:
        ValueError: `month` is malformed or hasn't begun.
    """
    start, end = month_bounds(month)
    moment = now or datetime.datetime.now(datetime.UTC)
    if start > moment:
        raise ValueError("that month hasn't begun")
    wallet_id = await db.fetchval("SELECT id FROM wallets WHERE business_id = $1 AND currency = $2",
                                  business_id, currency.value)
    opening: int = await db.fetchval("SELECT coalesce(sum(amount), 0)::bigint FROM ledger_entries"
                                     " WHERE wallet_id = $1 AND created_at < $2", wallet_id, start)
    rows = await db.fetch("SELECT id, kind, amount, reference, created_at FROM ledger_entries"
                          " WHERE wallet_id = $1 AND created_at >= $2 AND created_at < $3 ORDER BY id",
                          wallet_id, start, end)
    topups = [TopupLine(r["id"], r["amount"], r["reference"], None, r["created_at"])
              for r in rows if r["kind"] == EntryKind.TOPUP]
    sections = {name: SectionTotal(sum(r["amount"] for r in rows if r["kind"] in kinds),
                                   sum(1 for r in rows if r["kind"] in kinds)) for name, kinds in SECTIONS.items()}
    usage = [await _usage_line(db, kind, [r for r in rows if r["kind"] == kind]) for kind in PRODUCTS]
    result = Statement(business_id, currency, month, start, end, end > moment, opening, 0, topups,
                       [u for u in usage if u.entries], sections)
    closing = opening + result.lines_total()
    after: int = await db.fetchval("SELECT coalesce(sum(amount), 0)::bigint FROM ledger_entries"
                                   " WHERE wallet_id = $1 AND created_at < $2", wallet_id, end)
    assert closing == after, "every entry of the month is on exactly one line"
    return dataclasses.replace(result, closing=closing)


async def _usage_line(db: Executor, kind: str, rows: list[asyncpg.Record]) -> UsageLine:
    product, unit = PRODUCTS[kind]
    references = sorted({r["reference"] for r in rows})
    amount = sum(r["amount"] for r in rows)
    if kind == EntryKind.CALL_USAGE:
        # Billed seconds of the calls charged this month (a call over midnight of the 1st counts in both).
        quantity = await db.fetchval(
            "SELECT coalesce(sum(coalesce(settled_seconds, charged_seconds)), 0)::bigint FROM call_meters"
            " WHERE 'call:' || call_sid = ANY($1::text[])", references)
    elif kind in (EntryKind.SMS_USAGE, EntryKind.CHAT_USAGE):
        quantity = len(rows)
    else:
        quantity = len(references)
    return UsageLine(product, amount, len(rows), int(quantity), unit)

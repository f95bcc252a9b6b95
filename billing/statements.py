"""A wallet's monthly statement: opening balance, the month's lines by section, closing balance.

Everything comes from the ledger, so the statement can't disagree with the transactions:
opening is Σ entries before the month, each section sums the month's entries of its kinds,
and closing = opening + Σ lines (asserted here, and equal to Σ entries before the month's
end). Months are calendar months in the business's timezone (``businesses.timezone``; an
unknown name reads as UTC). A month not yet over is marked partial and runs to now.

Usage lines are per product and unit: a usage entry that recorded what it paid for
(`billing.usage_details`: texts sent in segments, chat replies in tokens) counts in that
unit; older entries count in replies (SMS, chat), calls in the billed seconds of their
meters. A top-up shows Stripe's receipt page when ``charge.succeeded`` brought one.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime
import re
import uuid
import zoneinfo
from dataclasses import dataclass, field

import asyncpg

from billing.ledger import EntryKind
from billing.money import Currency
from billing.usage_details import Unit
from storage.executor import Executor

_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")

# Usage kinds -> (product, unit of an entry that recorded no quantity).
PRODUCTS: dict[str, tuple[str, Unit]] = {
    EntryKind.CALL_USAGE: ("call", Unit.SECONDS),
    EntryKind.SMS_USAGE: ("sms", Unit.REPLIES),
    EntryKind.CHAT_USAGE: ("chat", Unit.REPLIES),
    EntryKind.NUMBER_PURCHASE: ("number_purchase", Unit.NUMBERS),
    EntryKind.NUMBER_RENT: ("number_rent", Unit.MONTHS),
}
SECTIONS: dict[str, tuple[str, ...]] = {
    "refunds": (EntryKind.REFUND,),
    "disputes": (EntryKind.DISPUTE_HOLD, EntryKind.DISPUTE_RELEASE, EntryKind.DISPUTE_FEE),
    "adjustments": (EntryKind.ADJUSTMENT,),
}


def zone(name: str) -> datetime.tzinfo:
    """The IANA zone `name`, or UTC when the name is unknown."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return datetime.UTC


def month_bounds(month: str, tz: datetime.tzinfo = datetime.UTC) -> tuple[datetime.datetime, datetime.datetime]:
    """``YYYY-MM`` -> [first instant, first instant of the next month), local midnights in `tz`.

    Raises:
        ValueError: not a month in that form.
    """
    found = _MONTH.fullmatch(month)
    if found is None:
        raise ValueError("must be a month as YYYY-MM")
    year, number = int(found[1]), int(found[2])
    following = datetime.date(year, number, 1) + datetime.timedelta(days=calendar.monthrange(year, number)[1])
    return (datetime.datetime(year, number, 1, tzinfo=tz),
            datetime.datetime(following.year, following.month, 1, tzinfo=tz))


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
    timezone: str
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


_ROWS = (
    "SELECT e.id, e.kind, e.amount, e.reference, e.created_at, d.quantity, d.unit, r.receipt_url"
    "  FROM ledger_entries e LEFT JOIN usage_details d ON d.entry_id = e.id"
    "  LEFT JOIN topups t ON e.kind = 'topup' AND e.reference = 'stripe:checkout_session:' || t.checkout_session_id"
    "  LEFT JOIN charge_receipts r ON r.payment_intent = t.payment_intent"
    " WHERE e.wallet_id = $1 AND e.created_at >= $2 AND e.created_at < $3 ORDER BY e.id")


async def statement(db: Executor, business_id: uuid.UUID, currency: Currency, month: str, *,
                    now: datetime.datetime | None = None) -> Statement:
    """The business's statement of `month` (in its timezone) in `currency` (all zero when it has no such wallet).

    Raises:
        ValueError: `month` is malformed or hasn't begun.
    """
    tz = zone(await db.fetchval("SELECT timezone FROM businesses WHERE id = $1", business_id) or "UTC")
    start, end = month_bounds(month, tz)
    moment = now or datetime.datetime.now(datetime.UTC)
    if start > moment:
        raise ValueError("that month hasn't begun")
    wallet_id = await db.fetchval("SELECT id FROM wallets WHERE business_id = $1 AND currency = $2",
                                  business_id, currency.value)
    opening: int = await db.fetchval("SELECT coalesce(sum(amount), 0)::bigint FROM ledger_entries"
                                     " WHERE wallet_id = $1 AND created_at < $2", wallet_id, start)
    rows = await db.fetch(_ROWS, wallet_id, start, end)
    topups = [TopupLine(r["id"], r["amount"], r["reference"], r["receipt_url"], r["created_at"])
              for r in rows if r["kind"] == EntryKind.TOPUP]
    sections = {name: SectionTotal(sum(r["amount"] for r in rows if r["kind"] in kinds),
                                   sum(1 for r in rows if r["kind"] in kinds)) for name, kinds in SECTIONS.items()}
    usage = [line for kind in PRODUCTS
             for line in await _usage_lines(db, kind, [r for r in rows if r["kind"] == kind])]
    result = Statement(business_id, currency, month, str(tz), start, end, end > moment, opening, 0, topups, usage,
                       sections)
    closing = opening + result.lines_total()
    after: int = await db.fetchval("SELECT coalesce(sum(amount), 0)::bigint FROM ledger_entries"
                                   " WHERE wallet_id = $1 AND created_at < $2", wallet_id, end)
    assert closing == after, "every entry of the month is on exactly one line"
    return dataclasses.replace(result, closing=closing)


async def _usage_lines(db: Executor, kind: str, rows: list[asyncpg.Record]) -> list[UsageLine]:
    """One line per unit the kind's entries are counted in (calls always in seconds, from their meters)."""
    product, fallback = PRODUCTS[kind]
    if kind == EntryKind.CALL_USAGE:
        by_unit = {fallback: rows} if rows else {}
    else:
        by_unit = {}
        for r in rows:
            by_unit.setdefault(Unit(r["unit"]) if r["unit"] else fallback, []).append(r)
    lines = []
    for unit, group in sorted(by_unit.items()):
        amount = sum(r["amount"] for r in group)
        lines.append(UsageLine(product, amount, len(group), await _quantity(db, kind, group), unit.value))
    return lines


async def _quantity(db: Executor, kind: str, rows: list[asyncpg.Record]) -> int:
    """The recorded quantities; an entry that recorded none is one reply, number or month."""
    if kind == EntryKind.CALL_USAGE:
        # Billed seconds of the calls charged this month (a call over midnight of the 1st counts in both).
        seconds: int = await db.fetchval(
            "SELECT coalesce(sum(coalesce(settled_seconds, charged_seconds)), 0)::bigint FROM call_meters"
            " WHERE 'call:' || call_sid = ANY($1::text[])", sorted({r["reference"] for r in rows}))
        return seconds
    return sum(1 if r["quantity"] is None else r["quantity"] for r in rows)

"""`GET /api/wallet/statement`: a wallet's month as JSON, or as CSV for a spreadsheet (``Accept: text/csv``)."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

import msgspec
from aiohttp import web

from agent_server import auth
from agent_server.api.decoding import read_query
from agent_server.api.route import Reply, Route
from agent_server.api.shapes import Instant, Query, Uuid
from agent_server.errors import ValidationError
from agent_server.state import POOL
from billing.money import Currency, parse_currency
from billing.statements import Statement, statement


class StatementQuery(Query, kw_only=True):
    business_id: Uuid | None = None
    month: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}$",
                                       description="calendar month, YYYY-MM, in the business's timezone")]
    currency: Annotated[str, msgspec.Meta(description="ISO 4217 code (USD, INR); default USD")] | None = None


class TopupOut(msgspec.Struct, rename="camel", kw_only=True):
    """`receiptUrl` is Stripe's receipt page of the paying charge, when Stripe reported one."""

    entry_id: str
    amount: int
    reference: str
    receipt_url: str | None
    created_at: Instant


class UsageOut(msgspec.Struct, rename="camel", kw_only=True):
    """One product in one unit: texts sent in segments, SMS replies in replies, chat in tokens (replies before
    tokens were recorded), calls in billed seconds, numbers, rent months; a product may have a line per unit."""

    product: str
    amount: int
    entries: int
    quantity: int
    unit: str


class SectionOut(msgspec.Struct, kw_only=True):
    amount: int
    entries: int


class StatementOut(msgspec.Struct, rename="camel", kw_only=True):
    """closingBalance = openingBalance + Σ topups + Σ usage + refunds + disputes + adjustments (minor units)."""

    business_id: Uuid
    currency: str
    month: str
    timezone: str
    period_start: Instant
    period_end: Instant
    partial: bool
    opening_balance: int
    topups: list[TopupOut]
    usage: list[UsageOut]
    refunds: SectionOut
    disputes: SectionOut
    adjustments: SectionOut
    closing_balance: int


def statement_json(s: Statement) -> dict[str, Any]:
    return {
        "businessId": str(s.business_id), "currency": s.currency.value, "month": s.month, "timezone": s.timezone,
        "periodStart": s.start.isoformat(), "periodEnd": s.end.isoformat(), "partial": s.partial,
        "openingBalance": s.opening,
        "topups": [{"entryId": str(t.entry_id), "amount": t.amount, "reference": t.reference,
                    "receiptUrl": t.receipt_url, "createdAt": t.created_at.isoformat()} for t in s.topups],
        "usage": [{"product": u.product, "amount": u.amount, "entries": u.entries, "quantity": u.quantity,
                   "unit": u.unit} for u in s.usage],
        **{name: {"amount": t.amount, "entries": t.entries} for name, t in s.sections.items()},
        "closingBalance": s.closing,
    }


CSV_HEADER = ("section", "item", "reference", "entries", "quantity", "unit", "amount", "currency")


def statement_csv(s: Statement) -> str:
    """One row per line, between an opening and a closing row; Σ of the line rows' amounts = closing - opening."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    cur = s.currency.value
    writer.writerow(CSV_HEADER)
    writer.writerow(("opening", s.month, "", "", "", "", s.opening, cur))
    writer.writerows(("topup", t.created_at.isoformat(), t.reference, 1, "", "", t.amount, cur) for t in s.topups)
    writer.writerows(("usage", u.product, "", u.entries, u.quantity, u.unit, u.amount, cur) for u in s.usage)
    writer.writerows((name, name, "", t.entries, "", "", t.amount, cur) for name, t in s.sections.items())
    writer.writerow(("closing", s.month + (" (partial)" if s.partial else ""), "", "", "", "", s.closing, cur))
    return out.getvalue()


async def get_statement(request: web.Request) -> web.Response:
    """The month's statement; ``Accept: text/csv`` answers the same lines as CSV."""
    query = read_query(request, StatementQuery)
    membership = await auth.business_for(request, query.business_id)
    try:
        currency = parse_currency(query.currency or Currency.USD.value)
    except ValueError as exc:
        raise ValidationError("currency", str(exc)) from None
    try:
        found = await statement(request.app[POOL], membership.business_id, currency, query.month)
    except ValueError as exc:
        raise ValidationError("month", str(exc)) from None
    if "text/csv" in request.headers.get("Accept", ""):
        return web.Response(text=statement_csv(found), content_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="statement-{found.month}-{currency.value}.csv"'})
    return web.json_response(statement_json(found))


ROUTES = (
    Route("GET", "/api/wallet/statement", get_statement,
          "A wallet's monthly statement (JSON, or CSV with Accept: text/csv)", "billing", "jwt",
          (Reply(200, StatementOut),), errors=(403, 404, 422), query=StatementQuery),
)

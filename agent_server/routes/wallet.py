"""Wallet routes for the dashboard's funds page: balance and the ledger, per business and currency."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from aiohttp import web

from agent_server import auth
from agent_server.api.decoding import read_query
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import Instant, Query, Uuid
from agent_server.errors import ValidationError, register_error
from agent_server.routes import wallet_statement
from agent_server.state import POOL
from agent_server.validation import get_instant
from billing import ledger
from billing.errors import (
    AmountOutOfBounds,
    CurrencyMismatch,
    HoldNotActive,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidEntry,
    PaymentProviderError,
    PaymentsNotConfigured,
)
from billing.ledger import Entry, EntryKind
from billing.money import Currency, parse_currency

MAX_PAGE = 200

CurrencyParam = Annotated[str, msgspec.Meta(description="ISO 4217 code of a supported currency (USD, INR)")]
InstantParam = Annotated[str, msgspec.Meta(description="ISO 8601 date or date-time; without an offset, UTC")]


class BalanceQuery(Query):
    business_id: Uuid | None = None
    currency: CurrencyParam | None = None


class TransactionsQuery(Query, kw_only=True):
    business_id: Uuid | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE)] = 50
    cursor: Annotated[str, msgspec.Meta(description="`nextCursor` of the previous page")] | None = None
    type: Annotated[str, msgspec.Meta(description="entry kinds, comma separated")] | None = None
    currency: CurrencyParam | None = None
    from_: InstantParam | None = msgspec.field(default=None, name="from")
    to: InstantParam | None = None


class Balance(msgspec.Struct, rename="camel", kw_only=True):
    """Balance, held and available in minor units, read from one row (balance - held == available)."""

    business_id: Uuid
    currency: str
    balance: int
    held: int
    available: int
    updated_at: Instant | None = msgspec.field(name="updated_at")


class EntryOut(msgspec.Struct, rename="camel", kw_only=True):
    id: str
    type: str
    amount: int
    currency: str
    reference: str | None
    actor: str | None
    balance_after: int
    hold_id: Uuid | None
    created_at: Instant


class TransactionPage(msgspec.Struct, rename="camel"):
    transactions: list[EntryOut]
    next_cursor: str | None


def register_billing_errors() -> None:
    """Map billing's typed errors to statuses and codes once (other areas reuse the mapping)."""
    register_error(InsufficientFunds, 402, "INSUFFICIENT_BALANCE")
    register_error(IdempotencyConflict, 409, "IDEMPOTENCY_CONFLICT")
    register_error(CurrencyMismatch, 422, "CURRENCY_MISMATCH")
    register_error(InvalidEntry, 422, "VALIDATION_ERROR")
    register_error(AmountOutOfBounds, 422, "VALIDATION_ERROR")
    register_error(HoldNotFound, 404, "NOT_FOUND")
    register_error(HoldNotActive, 409, "HOLD_NOT_ACTIVE")
    register_error(PaymentsNotConfigured, 503, "STRIPE_NOT_CONFIGURED")
    register_error(PaymentProviderError, 502, "PAYMENT_PROVIDER_ERROR")


def currency_param(value: Any, name: str = "currency") -> Currency:
    """A currency from a query or body, defaulting to USD (422 naming the field otherwise)."""
    try:
        return parse_currency(value if value not in (None, "") else "USD")
    except ValueError as exc:
        raise ValidationError(name, str(exc)) from None


def _kinds_param(raw: str | None) -> list[EntryKind]:
    if not raw:
        return []
    try:
        return [EntryKind(part.strip()) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise ValidationError("type", f"must be one or more of {', '.join(k.value for k in EntryKind)}") from None


def entry_json(entry: Entry) -> dict[str, Any]:
    return {"id": str(entry.id), "type": entry.kind.value, "amount": entry.amount, "currency": entry.currency.value,
            "reference": entry.reference, "actor": entry.actor, "balanceAfter": entry.balance_after,
            "holdId": None if entry.hold_id is None else str(entry.hold_id),
            "createdAt": entry.created_at.isoformat()}


async def get_balance(request: web.Request) -> web.Response:
    """Balance, held and available from one row read, so balance - held == available always."""
    query = read_query(request, BalanceQuery)
    membership = await auth.business_for(request, query.business_id)
    currency = currency_param(query.currency)
    wallet = await ledger.get_wallet(request.app[POOL], membership.business_id, currency)
    body: dict[str, Any]
    if wallet is None:
        body = {"balance": 0, "held": 0, "available": 0, "updated_at": None}
    else:
        body = {"balance": wallet.balance, "held": wallet.held, "available": wallet.available,
                "updated_at": wallet.updated_at.isoformat()}
    return web.json_response({"businessId": str(membership.business_id), "currency": currency.value, **body})


async def list_transactions(request: web.Request) -> web.Response:
    """Ledger entries newest first; `nextCursor` continues after the last one returned."""
    query = read_query(request, TransactionsQuery)
    membership = await auth.business_for(request, query.business_id)
    limit = query.limit
    before_id = None
    if query.cursor:
        try:
            before_id = ledger.decode_cursor(query.cursor)
        except ValueError:
            raise ValidationError("cursor", "is not a cursor from this API") from None
    currency = currency_param(query.currency) if query.currency else None
    entries = await ledger.list_entries(
        request.app[POOL], membership.business_id, limit=limit + 1, before_id=before_id,
        kinds=_kinds_param(query.type), created_from=get_instant({"from": query.from_}, "from"),
        created_to=get_instant({"to": query.to}, "to"), currency=currency)
    page, more = entries[:limit], len(entries) > limit
    return web.json_response({
        "transactions": [entry_json(e) for e in page],
        "nextCursor": ledger.encode_cursor(page[-1].id) if more else None,
    })


ROUTES = (
    Route("GET", "/api/wallet/balance", get_balance, "The wallet's balance, held and available", "billing", "jwt",
          (Reply(200, Balance),), errors=(403, 404), query=BalanceQuery),
    Route("GET", "/api/wallet/transactions", list_transactions, "Ledger entries, newest first", "billing", "jwt",
          (Reply(200, TransactionPage),), errors=(403, 404), query=TransactionsQuery),
    *wallet_statement.ROUTES,
)


def setup(app: web.Application) -> None:
    register_billing_errors()
    register(app, ROUTES)

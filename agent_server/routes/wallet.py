"""Wallet routes for the dashboard's funds page: balance and the ledger, per business and currency."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent_server import auth
from agent_server.errors import ValidationError, register_error
from agent_server.state import POOL
from agent_server.validation import get_instant, get_int
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
    membership = await auth.business_for(request, request.query.get("businessId"))
    currency = currency_param(request.query.get("currency"))
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
    query = request.query
    membership = await auth.business_for(request, query.get("businessId"))
    limit = get_int(query, "limit", default=50, minimum=1, maximum=MAX_PAGE)
    before_id = None
    if query.get("cursor"):
        try:
            before_id = ledger.decode_cursor(query["cursor"])
        except ValueError:
            raise ValidationError("cursor", "is not a cursor from this API") from None
    currency = currency_param(query.get("currency")) if query.get("currency") else None
    entries = await ledger.list_entries(
        request.app[POOL], membership.business_id, limit=limit + 1, before_id=before_id,
        kinds=_kinds_param(query.get("type")), created_from=get_instant(query, "from"),
        created_to=get_instant(query, "to"), currency=currency)
    page, more = entries[:limit], len(entries) > limit
    return web.json_response({
        "transactions": [entry_json(e) for e in page],
        "nextCursor": ledger.encode_cursor(page[-1].id) if more else None,
    })


def setup(app: web.Application) -> None:
    register_billing_errors()
    app.router.add_get("/api/wallet/balance", get_balance)
    app.router.add_get("/api/wallet/transactions", list_transactions)

"""Top-ups: `POST /api/payment/create-checkout-session`, and the Stripe client's lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import msgspec
import structlog
from aiohttp import web

from agent_server import auth
from agent_server.api.decoding import read_body
from agent_server.api.route import Header, Reply, Route, register
from agent_server.api.shapes import Body, Uuid
from agent_server.errors import ValidationError
from agent_server.routes.wallet import CurrencyParam, currency_param, register_billing_errors
from agent_server.state import POOL, SETTINGS
from billing import checkout
from billing.errors import AmountOutOfBounds, PaymentsNotConfigured
from billing.money import MAX_AMOUNT, Money
from billing.payments import PaymentsProvider, StripePayments

log = structlog.get_logger(__name__)

# The process's payments provider; absent when STRIPE_SECRET_KEY is not set.
PAYMENTS = web.AppKey("payments", PaymentsProvider)


class TopupBody(Body):
    """A top-up of `amount` minor units (within the configured bounds; a numeric string is read as its number)."""

    amount: Annotated[int, msgspec.Meta(ge=1, le=MAX_AMOUNT)]
    currency: CurrencyParam | None = None
    business_id: Uuid | None = None


class CheckoutSession(msgspec.Struct, rename="camel"):
    """Where to send the user to pay."""

    session_id: str
    url: str


async def _payments_client(app: web.Application) -> AsyncIterator[None]:
    """Build the Stripe client once per process and close its HTTP session at shutdown."""
    config = app[SETTINGS].stripe
    if not config.secret_key:
        log.warning("stripe_not_configured")
        yield
        return
    client = StripePayments(config)
    app[PAYMENTS] = client
    try:
        yield
    finally:
        await client.close()


def payments_of(app: web.Application) -> PaymentsProvider:
    """The configured provider, or 503 STRIPE_NOT_CONFIGURED."""
    provider = app.get(PAYMENTS)
    if provider is None:
        raise PaymentsNotConfigured("payments are not configured on this server (STRIPE_SECRET_KEY)")
    return provider


async def create_checkout_session(request: web.Request) -> web.Response:
    """Start a top-up; a retry with the same `Idempotency-Key` header returns the same session."""
    user_id = await auth.current_user(request)
    payments = payments_of(request.app)
    body = await read_body(request, TopupBody)
    membership = await auth.business_for(request, body.business_id)
    amount = Money(body.amount, currency_param(body.currency))
    config = request.app[SETTINGS].stripe
    try:
        checkout.check_bounds(amount, config.min_topup_minor, config.max_topup_minor)
    except AmountOutOfBounds as exc:
        raise ValidationError("amount", str(exc)) from None
    session = await checkout.start_topup(
        request.app[POOL], payments, config, public_url=request.app[SETTINGS].server.public_url,
        business_id=membership.business_id, amount=amount,
        actor=f"user:{user_id}", client_key=request.headers.get("Idempotency-Key", "")[:200] or None)
    return web.json_response({"sessionId": session.id, "url": session.url})


ROUTES = (
    Route("POST", "/api/payment/create-checkout-session", create_checkout_session, "Start a wallet top-up",
          "billing", "jwt", (Reply(200, CheckoutSession),), errors=(403, 404, 409, 502, 503), body=TopupBody,
          headers=(Header("Idempotency-Key", "a retry with the same key returns the same session"),)),
)


def setup(app: web.Application) -> None:
    register_billing_errors()
    app.cleanup_ctx.append(_payments_client)
    register(app, ROUTES)

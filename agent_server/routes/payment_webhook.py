"""`POST /api/payment/webhook`: Stripe events, authenticated by signature before anything is written."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
import stripe
import structlog
from aiohttp import web

from agent_server.api.route import Header, Reply, Route, register
from agent_server.errors import ApiError
from agent_server.routes.wallet import register_billing_errors
from agent_server.state import POOL, SETTINGS
from billing.errors import PaymentsNotConfigured
from billing.stripe_events import RefundNotRoutable, StripeEvent, apply_event

log = structlog.get_logger(__name__)


class StripeEventBody(msgspec.Struct, kw_only=True):
    """A Stripe event as posted (only the fields read here; the signature covers the exact bytes)."""

    id: str
    type: str
    data: dict[str, Any]


class WebhookReceipt(msgspec.Struct):
    """The event was recorded; `outcome` says what it did (applied, duplicate, ignored, ...)."""

    received: bool
    outcome: str


def verified_event(raw: bytes, signature: str | None, secret: str, tolerance: int) -> StripeEvent:
    """Check `Stripe-Signature` over the exact bytes received, then parse the event.

    `construct_event` rejects a missing, malformed, wrong-secret or altered signature and,
    with a positive tolerance, a timestamp older than `tolerance` seconds (a replay).

    Raises:
        ApiError: 400 INVALID_SIGNATURE or INVALID_PAYLOAD.
    """
    try:
        stripe.Webhook.construct_event(raw, signature, secret, tolerance=tolerance)
    except stripe.SignatureVerificationError as exc:
        raise ApiError(400, "INVALID_SIGNATURE", f"Stripe signature rejected: {exc.user_message or exc}") from None
    except ValueError:
        raise ApiError(400, "INVALID_PAYLOAD", "body is not JSON") from None
    try:
        return StripeEvent.parse(orjson.loads(raw))
    except ValueError as exc:
        raise ApiError(400, "INVALID_PAYLOAD", f"not a Stripe event: {exc}") from None


async def stripe_webhook(request: web.Request) -> web.Response:
    """Verify, then record the event and book its effect in one transaction; 2xx only after commit.

    A failure after the dedupe insert rolls everything back and answers 5xx, so Stripe's
    retry applies the effect exactly once.
    """
    config = request.app[SETTINGS].stripe
    if not config.webhook_secret:
        raise PaymentsNotConfigured("payments are not configured on this server (STRIPE_WEBHOOK_SECRET)")
    raw = await request.read()
    event = verified_event(raw, request.headers.get("Stripe-Signature"), config.webhook_secret,
                           config.webhook_tolerance_seconds)
    structlog.contextvars.bind_contextvars(stripe_event=event.id)
    try:
        outcome = await apply_event(request.app[POOL], event, dispute_fee_minor=config.dispute_fee_minor)
    except RefundNotRoutable as exc:
        log.warning("stripe_refund_not_routable", event_id=event.id, reason=str(exc))
        raise ApiError(503, "RETRY_LATER", str(exc)) from None
    return web.json_response({"received": True, "outcome": outcome.value})


ROUTES = (
    Route("POST", "/api/payment/webhook", stripe_webhook, "Stripe webhook: top-ups and refunds", "stripe", "stripe",
          (Reply(200, WebhookReceipt),), errors=(400, 503), body=StripeEventBody,
          headers=(Header("Stripe-Signature", "`t=...,v1=...` over the exact body with the webhook secret; "
                          "refused (400) when absent, wrong or older than the tolerance", required=True),)),
)


def setup(app: web.Application) -> None:
    register_billing_errors()
    register(app, ROUTES)

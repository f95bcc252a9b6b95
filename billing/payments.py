"""The payments-provider interface and its Stripe implementation (Checkout Sessions, events, balance transactions).

Handlers and jobs depend on `PaymentsProvider`, not on the SDK, so tests can point the real
client at a local fake and nothing else changes. The Stripe client is built once per
process from the secret key and the configured API base, uses the SDK's aiohttp transport
(no thread, no blocking call on the event loop) and is closed on shutdown.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import stripe

from billing.config import StripeConfig
from billing.errors import PaymentProviderError, PaymentsNotConfigured
from billing.money import Money


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    """Everything a hosted payment page for one wallet top-up needs."""

    business_id: uuid.UUID
    topup_id: uuid.UUID
    amount: Money
    success_url: str
    cancel_url: str
    product_name: str = "Wallet top-up"

    @property
    def idempotency_key(self) -> str:
        """Stable per top-up, so a retried request gets the same session instead of a second one."""
        return f"topup:{self.topup_id}"


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    """The provider's answer: where to send the customer."""

    id: str
    url: str


class PaymentsProvider(Protocol):
    """What billing needs from a payment provider."""

    async def create_checkout_session(self, request: CheckoutRequest) -> CheckoutSession:
        """Create a one-off payment page for `request`.

        Raises:
            PaymentProviderError: the provider refused or was unreachable.
        """

    async def list_events(self, *, types: list[str], created_gte: int) -> list[dict[str, Any]]:
        """Events of `types` created at or after `created_gte` (unix seconds), for reconciliation."""

    async def list_balance_transactions(self, *, created_gte: int, created_lt: int) -> list[dict[str, Any]]:
        """Balance transactions created in [created_gte, created_lt), each with its `source` expanded."""

    async def close(self) -> None:
        """Release network resources at shutdown."""


def checkout_params(request: CheckoutRequest) -> dict[str, Any]:
    """The Checkout Session parameters for a top-up (pure, so the wire shape is testable).

    The business id travels three ways: `client_reference_id` and the session's metadata
    for session events, and the PaymentIntent's metadata so a later charge (and its refund)
    can be routed back to the wallet without our database.
    """
    metadata = {"business_id": str(request.business_id), "topup_id": str(request.topup_id),
                "currency": request.amount.currency.value}
    return {
        "mode": "payment",
        "line_items": [{"quantity": 1, "price_data": {
            "currency": request.amount.currency.stripe_code,
            "unit_amount": request.amount.amount,
            "product_data": {"name": request.product_name},
        }}],
        "client_reference_id": str(request.business_id),
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
    }


class StripePayments:
    """`PaymentsProvider` over stripe-python's `StripeClient` with the aiohttp transport."""

    def __init__(self, config: StripeConfig, *, max_network_retries: int = 2) -> None:
        if not config.secret_key:
            raise PaymentsNotConfigured("payments are not configured (STRIPE_SECRET_KEY)")
        self._http = stripe.AIOHTTPClient()
        self._client = stripe.StripeClient(
            config.secret_key,
            base_addresses={"api": config.api_base},
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    async def create_checkout_session(self, request: CheckoutRequest) -> CheckoutSession:
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                checkout_params(request),  # type: ignore[arg-type]  # the SDK's TypedDict is stricter than JSON
                {"idempotency_key": request.idempotency_key},
            )
        except stripe.StripeError as exc:
            raise PaymentProviderError(f"Stripe refused the checkout session: {exc.user_message or exc}") from exc
        if not session.url:
            raise PaymentProviderError("Stripe returned a checkout session without a URL")
        return CheckoutSession(id=session.id, url=session.url)

    async def list_events(self, *, types: list[str], created_gte: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"types": types, "created": {"gte": created_gte}, "limit": 100}
        events: list[dict[str, Any]] = []
        try:
            while True:
                page = await self._client.v1.events.list_async(params)  # type: ignore[arg-type]
                events.extend(_plain(e) for e in page.data)
                if not page.has_more or not page.data:
                    return events
                params["starting_after"] = page.data[-1].id
        except stripe.StripeError as exc:
            raise PaymentProviderError(f"Stripe refused the event listing: {exc}") from exc

    async def list_balance_transactions(self, *, created_gte: int, created_lt: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"created": {"gte": created_gte, "lt": created_lt}, "limit": 100,
                                  "expand": ["data.source"]}
        found: list[dict[str, Any]] = []
        try:
            while True:
                page = await self._client.v1.balance_transactions.list_async(params)  # type: ignore[arg-type]
                found.extend(_plain(t) for t in page.data)
                if not page.has_more or not page.data:
                    return found
                params["starting_after"] = page.data[-1].id
        except stripe.StripeError as exc:
            raise PaymentProviderError(f"Stripe refused the balance transaction listing: {exc}") from exc

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]  # untyped in stripe 16.1


def _plain(obj: Any) -> dict[str, Any]:
    """A StripeObject as plain dicts and lists, the same shape a webhook body parses to."""
    result: Mapping[str, Any] = obj.to_dict()
    return dict(result)

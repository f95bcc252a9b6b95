"""Starting a wallet top-up: bounds, a stable idempotency key, the hosted page, and our record of it."""

from __future__ import annotations

import uuid

from billing import topups
from billing.config import StripeConfig
from billing.errors import AmountOutOfBounds
from billing.money import Money, format_minor
from billing.payments import CheckoutRequest, CheckoutSession, PaymentsProvider
from storage.executor import Executor

# Namespace for top-up ids derived from a client's Idempotency-Key header.
_TOPUP_NAMESPACE = uuid.UUID("6f1c2b1e-5d0c-4a55-9b7e-0c6c1d1b7a11")


def check_bounds(amount: Money, minimum: int, maximum: int) -> None:
    """Refuse top-ups outside the configured range (minor units of the chosen currency).

    Raises:
        AmountOutOfBounds: naming the allowed range.
    """
    if not minimum <= amount.amount <= maximum:
        raise AmountOutOfBounds(f"amount must be between {format_minor(minimum, amount.currency)}"
                                f" and {format_minor(maximum, amount.currency)}")


def topup_id_for(business_id: uuid.UUID, client_key: str | None) -> uuid.UUID:
    """A new top-up id, or the same one for a retried request carrying the same client key.

    The id names the Stripe idempotency key, so a double-clicked "Pay" button sending one
    Idempotency-Key gets the same Checkout Session instead of two.
    """
    if client_key:
        return uuid.uuid5(_TOPUP_NAMESPACE, f"{business_id}:{client_key}")
    return uuid.uuid4()


def return_urls(public_url: str, success_path: str, cancel_path: str) -> tuple[str, str]:
    """Success and cancel URLs under PUBLIC_URL; `{CHECKOUT_SESSION_ID}` is Stripe's placeholder."""
    base = public_url.rstrip("/")
    return base + success_path, base + cancel_path


async def start_topup(db: Executor, payments: PaymentsProvider, config: StripeConfig, *,
                      public_url: str, business_id: uuid.UUID,
                      amount: Money, actor: str, client_key: str | None = None) -> CheckoutSession:
    """Create (or, on a retry, fetch again) the Checkout Session for a top-up and record it.

    The wallet is credited only by the webhook: reaching the success URL proves nothing.

    Raises:
        AmountOutOfBounds: outside `[stripe] min_topup_minor..max_topup_minor`.
        PaymentProviderError: Stripe refused or was unreachable.
    """
    check_bounds(amount, config.min_topup_minor, config.max_topup_minor)
    success_url, cancel_url = return_urls(public_url, config.checkout_success_path,
                                          config.checkout_cancel_path)
    request = CheckoutRequest(business_id=business_id, topup_id=topup_id_for(business_id, client_key),
                              amount=amount, success_url=success_url, cancel_url=cancel_url)
    session = await payments.create_checkout_session(request)
    await topups.record_session(db, session_id=session.id, business_id=business_id, amount=amount,
                                created_by=actor)
    return session

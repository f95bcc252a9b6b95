"""Typed errors of the billing package; routes map each to an HTTP status and code once."""

from __future__ import annotations


class BillingError(Exception):
    """Base of every error billing raises on purpose, so callers can catch the family."""


class InsufficientFunds(BillingError):
    """A debit, hold or extension would take the wallet's available amount below its limit."""

    def __init__(self, *, available: int, requested: int, currency: str) -> None:
        super().__init__(f"insufficient funds: {requested} requested, {available} available ({currency})")
        self.available = available
        self.requested = requested
        self.currency = currency


class IdempotencyConflict(BillingError):
    """An idempotency key was reused for a different operation; nothing was written."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used with a different payload")
        self.key = key


class CurrencyMismatch(BillingError):
    """An amount's currency differs from the wallet's or hold's; we never convert."""

    def __init__(self, *, expected: str, got: str) -> None:
        super().__init__(f"currency mismatch: expected {expected}, got {got}")
        self.expected = expected
        self.got = got


class InvalidEntry(BillingError, ValueError):
    """An entry's sign does not fit its kind (e.g. a positive usage charge)."""


class HoldNotFound(BillingError):
    """No hold with that id (or not in the caller's business)."""

    def __init__(self, hold_id: int) -> None:
        super().__init__(f"hold {hold_id} not found")
        self.hold_id = hold_id


class HoldNotActive(BillingError):
    """The hold was already settled or released, so it can't be extended, captured or settled."""

    def __init__(self, hold_id: int, status: str) -> None:
        super().__init__(f"hold {hold_id} is {status}")
        self.hold_id = hold_id
        self.status = status


class PaymentsNotConfigured(BillingError):
    """No Stripe secret key (or webhook secret) is configured, so payments can't be taken."""


class PaymentProviderError(BillingError):
    """Stripe refused or could not be reached; the message is safe to show."""


class AmountOutOfBounds(BillingError, ValueError):
    """A top-up amount is outside the configured minimum and maximum."""


class UnroutablePayment(BillingError):
    """A payment event names no business we know; it is recorded and left for an operator."""

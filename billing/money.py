"""Amounts of money as integer minor units of an ISO currency, and the pure arithmetic on them.

Nothing here touches floats: every amount on the money path is an ``int`` of the
currency's minor unit (US cents, Indian paise), so sums are exact and a value
read back from the database or the JSON API is the value that was written.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# Largest amount accepted anywhere: 2**53 - 1 is the largest integer a JavaScript
# client (the dashboard) can hold exactly, so every amount survives a JSON round trip.
MAX_AMOUNT = 2**53 - 1


class Currency(enum.StrEnum):
    """The currencies a wallet can hold; Stripe wants them in lower case, we store upper case."""

    USD = "USD"
    INR = "INR"

    @property
    def exponent(self) -> int:
        """Digits after the decimal point of the minor unit (both supported currencies use 2)."""
        return _EXPONENTS[self]

    @property
    def stripe_code(self) -> str:
        """The lower-case code Stripe's API uses for this currency."""
        return self.value.lower()


_EXPONENTS: dict[Currency, int] = {Currency.USD: 2, Currency.INR: 2}


def parse_currency(value: object) -> Currency:
    """Read an ISO 4217 code (any case) into a supported `Currency`.

    Raises:
        ValueError: the value is not a string naming a supported currency.
    """
    if not isinstance(value, str):
        raise ValueError("currency must be a string")
    try:
        return Currency(value.strip().upper())
    except ValueError:
        supported = ", ".join(c.value for c in Currency)
        raise ValueError(f"unsupported currency {value!r}; supported: {supported}") from None


def parse_amount(value: object, *, allow_zero: bool = False) -> int:
    """Check an amount of minor units from JSON, the CLI or a provider payload.

    Booleans and floats are refused outright (``True`` is an ``int`` in Python and
    ``5.0`` would silently round), so only exact integers reach the ledger.

    Raises:
        ValueError: not an ``int``, negative, zero when not allowed, or above `MAX_AMOUNT`.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("amount must be an integer number of minor units")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError("amount must be positive" if not allow_zero else "amount must not be negative")
    if value > MAX_AMOUNT:
        raise ValueError(f"amount must be at most {MAX_AMOUNT}")
    return value


@dataclass(frozen=True, slots=True)
class Money:
    """A signed amount of minor units in one currency; mixing currencies is an error, not a conversion."""

    amount: int
    currency: Currency

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError("Money.amount must be an int of minor units")
        if abs(self.amount) > MAX_AMOUNT:
            raise ValueError(f"Money.amount must be within ±{MAX_AMOUNT}")
        if not isinstance(self.currency, Currency):
            raise TypeError("Money.currency must be a Currency")

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def format(self) -> str:
        """Human form for operators and logs, e.g. ``-12.05 USD``; never parsed back."""
        return format_minor(self.amount, self.currency)


def format_minor(amount: int, currency: Currency) -> str:
    """Render minor units as a decimal string with integer arithmetic only."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**currency.exponent)
    return f"{sign}{whole}.{frac:0{currency.exponent}d} {currency.value}"


def available(balance: int, held: int) -> int:
    """Money a wallet can still spend or reserve: its balance less what active holds reserve."""
    return balance - held


def keeps_available(balance: int, held: int, d_balance: int, d_held: int, credit_limit: int = 0) -> bool:
    """Whether applying the deltas is allowed by the no-overdraft rule.

    A change that does not lower `available` (credits, releases, settling inside a
    hold) is always allowed, even on a wallet a refund already pushed below zero;
    a change that lowers it must leave ``available >= -credit_limit``. The same rule
    is the ``WHERE`` guard of the wallet ``UPDATE`` in `billing.ledger`.
    """
    if d_balance - d_held >= 0:
        return True
    return available(balance + d_balance, held + d_held) >= -credit_limit

"""What a phone number costs a month, from the configured price table (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping

from billing.money import Money, parse_currency
from phone_numbers.errors import PriceNotConfigured


def monthly_price(prices: Mapping[str, Mapping[str, int]], country: str, number_type: str) -> int:
    """Minor units a month for a number of this country (ISO alpha-2) and type.

    Raises:
        PriceNotConfigured: the table has no price for it, so we don't sell it (selling at 0 would
            give numbers away; guessing a price would invent money).
    """
    price = prices.get(country.upper(), {}).get(number_type)
    if price is None:
        raise PriceNotConfigured(country.upper(), number_type)
    return price


def monthly_money(prices: Mapping[str, Mapping[str, int]], currency: str, country: str, number_type: str) -> Money:
    """`monthly_price` as `Money` in the configured currency."""
    return Money(monthly_price(prices, country, number_type), parse_currency(currency))

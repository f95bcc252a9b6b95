"""The `[numbers]` config section: monthly prices per country and number type, and the rent job."""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping

from billing.config import currency_code
from config_fields import check, non_negative, positive

NUMBER_TYPES = ("local", "toll_free", "mobile")
DEFAULT_PRICES = {
    "US": {"local": 150, "toll_free": 300, "mobile": 200},
    "CA": {"local": 150, "toll_free": 300, "mobile": 200},
    "GB": {"local": 225, "toll_free": 400, "mobile": 300},
}


def number_prices(value: Mapping[str, Mapping[str, int]]) -> Mapping[str, Mapping[str, int]]:
    for country, prices in value.items():
        if len(country) != 2 or not country.isalpha() or not country.isupper():
            raise ValueError(f"{country!r} is not an ISO 3166 alpha-2 country code")
        for number_type, price in prices.items():
            if number_type not in NUMBER_TYPES:
                raise ValueError(f"{country}.{number_type}: type must be one of {', '.join(NUMBER_TYPES)}")
            if price < 0:
                raise ValueError(f"{country}.{number_type}: a price can't be negative")
    return value


@dataclasses.dataclass(frozen=True)
class NumbersConfig:
    """Phone numbers: monthly prices per country and type, and the rent job."""

    currency: str = check(currency_code, "USD")
    # {"US": {"local": 150, "toll_free": 300, "mobile": 200}, ...}: minor units of `currency` a month.
    monthly_prices: Mapping[str, Mapping[str, int]] = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({
            country: types.MappingProxyType(prices) for country, prices in DEFAULT_PRICES.items()}),
        metadata={"check": number_prices})
    rent_grace_days: int = check(non_negative, 7)
    rent_job_interval_seconds: float = check(positive, 900.0)

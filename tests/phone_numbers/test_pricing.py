"""Number prices: the issue's defaults, integer minor units, refusals for what we don't sell."""

from __future__ import annotations

import pytest

from agent_server.config import ConfigError, settings_from
from billing.money import Currency, Money
from phone_numbers.config import NumbersConfig
from phone_numbers.errors import PriceNotConfigured
from phone_numbers.pricing import monthly_money, monthly_price


def test_default_prices_are_the_issues_in_cents() -> None:
    prices = NumbersConfig().monthly_prices
    assert {c: dict(p) for c, p in prices.items()} == {
        "US": {"local": 150, "toll_free": 300, "mobile": 200},
        "CA": {"local": 150, "toll_free": 300, "mobile": 200},
        "GB": {"local": 225, "toll_free": 400, "mobile": 300},
    }


def test_config_toml_carries_the_same_defaults() -> None:
    from agent_server.config import load_settings

    assert load_settings(env={}).numbers == NumbersConfig()


def test_price_is_an_exact_int_in_the_configured_currency() -> None:
    config = NumbersConfig()
    assert monthly_price(config.monthly_prices, "gb", "toll_free") == 400
    money = monthly_money(config.monthly_prices, config.currency, "CA", "mobile")
    assert money == Money(200, Currency.USD) and type(money.amount) is int


@pytest.mark.parametrize(("country", "number_type"), [("FR", "local"), ("US", "satellite")])
def test_a_country_or_type_without_a_price_is_not_sold(country: str, number_type: str) -> None:
    with pytest.raises(PriceNotConfigured):
        monthly_price(NumbersConfig().monthly_prices, country, number_type)


@pytest.mark.parametrize("table", [
    {"us": {"local": 100}}, {"US": {"landline": 100}}, {"US": {"local": -1}}, {"US": {"local": 1.5}}])
def test_bad_price_tables_stop_start_up(table: object) -> None:
    with pytest.raises(ConfigError, match="numbers.monthly_prices"):
        settings_from({"numbers": {"monthly_prices": table}}, {})

"""Pure money arithmetic: integer minor units, currencies, the no-overdraft rule and hold splits."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.holds import split_charge
from billing.money import MAX_AMOUNT, Currency, Money, available, format_minor, keeps_available, parse_amount, parse_currency

amounts = st.integers(min_value=0, max_value=MAX_AMOUNT)


@pytest.mark.parametrize("value", [0, 1, 499, MAX_AMOUNT])
def test_parse_amount_accepts_integers_in_range(value: int) -> None:
    assert parse_amount(value, allow_zero=True) == value


@pytest.mark.parametrize("value", [1.0, 0.5, "10", True, False, None, -1, MAX_AMOUNT + 1, [1]])
def test_parse_amount_refuses_anything_but_exact_integers(value: object) -> None:
    """Floats, strings and booleans never reach the ledger (property 6)."""
    with pytest.raises(ValueError):
        parse_amount(value)


def test_zero_is_refused_unless_allowed() -> None:
    with pytest.raises(ValueError, match="positive"):
        parse_amount(0)


@pytest.mark.parametrize(("text", "currency"), [("USD", Currency.USD), ("usd", Currency.USD), (" inr ", Currency.INR)])
def test_parse_currency_any_case(text: str, currency: Currency) -> None:
    assert parse_currency(text) is currency
    assert currency.stripe_code == currency.value.lower()


@pytest.mark.parametrize("text", ["EUR", "", "US", 840, None])
def test_unsupported_currency_is_refused(text: object) -> None:
    with pytest.raises(ValueError):
        parse_currency(text)


def test_money_refuses_floats_and_bools() -> None:
    with pytest.raises(TypeError):
        Money(1.5, Currency.USD)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(True, Currency.USD)
    with pytest.raises(ValueError):
        Money(MAX_AMOUNT + 1, Currency.USD)


@given(st.integers(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT), st.sampled_from(list(Currency)))
def test_format_minor_is_exact(amount: int, currency: Currency) -> None:
    """The operator display equals the exact decimal value (Fraction oracle), with no float in between."""
    text, code = format_minor(amount, currency).split(" ")
    assert code == currency.value
    assert Fraction(text) == Fraction(amount, 10**currency.exponent)


@given(amounts, amounts, st.integers(-MAX_AMOUNT, MAX_AMOUNT), st.integers(-MAX_AMOUNT, MAX_AMOUNT))
def test_keeps_available_never_allows_a_new_overdraft(balance: int, held: int, d_balance: int, d_held: int) -> None:
    """Property 2 in its pure form: an allowed change either doesn't lower available or leaves it ≥ 0."""
    if keeps_available(balance, held, d_balance, d_held):
        after = available(balance + d_balance, held + d_held)
        assert after >= 0 or after >= available(balance, held)


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.booleans())
def test_split_charge_conserves_money(reserved: int, charge: int, final: bool) -> None:
    """The hold covers what it can; only the excess lowers available; a settle frees the rest."""
    split = split_charge(reserved, charge, final=final)
    assert split.from_hold + split.beyond_hold == charge
    assert split.d_balance == -charge
    assert 0 <= split.from_hold <= reserved
    assert split.d_balance - split.d_held == (reserved - charge if final else -split.beyond_hold)
    assert all(isinstance(v, int) for v in (split.d_balance, split.d_held, split.from_hold, split.beyond_hold))


def test_split_charge_refuses_negative_amounts() -> None:
    with pytest.raises(ValueError):
        split_charge(10, -1, final=True)

"""Per-second pricing: exact, never rounding up cumulatively across checkpoints."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.money import Currency
from billing.pricing import (Prices, affordable_seconds, billable_seconds, chat_charge, checkpoint_charge,
                             grant_seconds, voice_charge)

rates = st.integers(min_value=0, max_value=100_000)


@given(st.integers(min_value=0, max_value=10**7), rates)
def test_voice_charge_matches_the_fraction_oracle(seconds: int, rate: int) -> None:
    charge = voice_charge(seconds, rate)
    assert isinstance(charge, int)
    assert charge == math.ceil(Fraction(seconds * rate, 60))


@given(rates, st.lists(st.integers(min_value=0, max_value=600), max_size=30))
def test_checkpoints_sum_to_the_price_of_the_total(rate: int, steps: list[int]) -> None:
    charged, total = 0, 0
    for step in steps:
        charged += checkpoint_charge(total, total + step, rate)
        total += step
    assert charged == voice_charge(total, rate)


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=1, max_value=100_000))
def test_affordable_seconds_is_the_largest_that_fits(available: int, rate: int) -> None:
    seconds = affordable_seconds(available, rate)
    assert voice_charge(seconds, rate) <= available
    assert voice_charge(seconds + 1, rate) > available


def test_billable_seconds_counts_a_started_second() -> None:
    assert [billable_seconds(ms) for ms in (0, 1, 999, 1000, 1001, 60_000)] == [0, 1, 1, 1, 2, 60]


def test_worked_example_from_the_readme() -> None:
    # 2.00 USD per minute, a 37.2 s call: 38 s -> ceil(38 * 200 / 60) = 127 cents.
    assert voice_charge(billable_seconds(37_200), 200) == 127


def test_grant_is_capped_by_wallet_and_refused_under_the_minimum() -> None:
    assert grant_seconds(1000, 120, wanted=60, minimum=10) == 60
    assert grant_seconds(74, 120, wanted=60, minimum=10) == 37
    assert grant_seconds(19, 120, wanted=60, minimum=10) == 0
    assert grant_seconds(0, 0, wanted=60, minimum=10) == 60


@given(st.integers(min_value=0, max_value=10**7), st.integers(min_value=0, max_value=10**5))
def test_chat_charge_rounds_up_to_the_minor_unit(tokens: int, rate: int) -> None:
    assert chat_charge(tokens, rate) == math.ceil(Fraction(tokens * rate, 1000))


def test_prices_refuse_floats_and_negatives() -> None:
    with pytest.raises(ValueError):
        Prices(Currency.USD, 1.5, 1, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Prices(Currency.USD, 1, -1, 1)

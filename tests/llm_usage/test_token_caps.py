"""The pure arithmetic of token caps: need, cut, refusal and period boundaries."""

from __future__ import annotations

import datetime

from llm_usage.token_caps import Fit, fit, period_start, prompt_estimate, remaining, resets_at


def test_prompt_estimate_is_three_characters_a_token_rounded_up() -> None:
    assert [prompt_estimate(n) for n in (0, 1, 3, 4, 300)] == [0, 1, 1, 2, 100]


def test_fit_serves_whole_cuts_output_or_refuses() -> None:
    assert fit(100, 100, 200, None) == Fit(200, 100)
    assert fit(100, 100, 199, 10_000) == Fit(199, 99)
    assert fit(100, 100, 164, 10_000) == Fit(164, 64)
    assert fit(100, 100, 163, 10_000) == "day"
    assert fit(100, 100, 10_000, 163) == "month"
    assert fit(100, 100, 0, 0) == "month"  # both spent: tomorrow would not help
    assert fit(100, 100, None, None) == Fit(200, 100)


def test_remaining_never_goes_negative() -> None:
    assert remaining(None, 5, 5) is None
    assert remaining(100, 90, 20) == 0
    assert remaining(100, 50, 20) == 30


def test_periods_are_utc_days_and_months() -> None:
    late = datetime.datetime(2026, 12, 31, 23, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=-5)))
    assert period_start("day", late) == datetime.date(2027, 1, 1)
    assert resets_at("day", late) == datetime.datetime(2027, 1, 2, tzinfo=datetime.UTC)
    assert resets_at("month", late) == datetime.datetime(2027, 2, 1, tzinfo=datetime.UTC)
    feb = datetime.datetime(2028, 2, 29, 8, tzinfo=datetime.UTC)
    assert period_start("month", feb) == datetime.date(2028, 2, 1)
    assert resets_at("month", feb) == datetime.datetime(2028, 3, 1, tzinfo=datetime.UTC)

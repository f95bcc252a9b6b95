"""Usage prices and the pure arithmetic that turns usage into minor units.

Voice is priced per minute and billed per second: a call of `s` whole seconds (a started
second counts) costs ceil(s × per_minute / 60). Checkpoints during a call charge the
difference between the price of the seconds used so far and the price already charged,
so the sum of all checkpoint charges plus the final settle is exactly the price of the
total: rounding never accumulates across checkpoints. Chat is priced per 1,000 LLM tokens,
rounded up; an SMS reply has a flat price.
"""

from __future__ import annotations

import dataclasses

from billing.money import Currency


@dataclasses.dataclass(frozen=True, slots=True)
class Prices:
    """What a business pays, in minor units of `currency`."""

    currency: Currency
    voice_per_minute: int
    sms_per_reply: int
    chat_per_1k_tokens: int

    def __post_init__(self) -> None:
        for name in ("voice_per_minute", "sms_per_reply", "chat_per_1k_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer of minor units")


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def billable_seconds(duration_ms: int) -> int:
    """Whole seconds to bill for a duration: a started second counts."""
    if duration_ms < 0:
        raise ValueError("a duration can't be negative")
    return _ceil_div(duration_ms, 1000)


def voice_charge(seconds: int, per_minute: int) -> int:
    """Price of `seconds` whole seconds of voice: ceil(seconds × per_minute / 60)."""
    if seconds < 0 or per_minute < 0:
        raise ValueError("seconds and rate must not be negative")
    return _ceil_div(seconds * per_minute, 60)


def checkpoint_charge(charged_seconds: int, used_seconds: int, per_minute: int) -> int:
    """What to charge now when usage moves from `charged_seconds` to `used_seconds`."""
    if used_seconds < charged_seconds:
        raise ValueError("usage can't go backwards")
    return voice_charge(used_seconds, per_minute) - voice_charge(charged_seconds, per_minute)


def affordable_seconds(available: int, per_minute: int) -> int:
    """The most whole seconds whose price fits in `available` (unbounded rates excluded)."""
    if per_minute <= 0:
        raise ValueError("a free rate has no affordability bound")
    return max(0, available) * 60 // per_minute


def grant_seconds(available: int, per_minute: int, *, wanted: int, minimum: int) -> int:
    """Seconds to grant a call: up to `wanted`, or 0 when even `minimum` isn't covered."""
    if per_minute == 0:
        return wanted
    granted = min(wanted, affordable_seconds(available, per_minute))
    return granted if granted >= minimum else 0


def chat_charge(tokens: int, per_1k_tokens: int) -> int:
    """Price of a chat reply that used `tokens` LLM tokens (prompt + completion), rounded up."""
    if tokens < 0 or per_1k_tokens < 0:
        raise ValueError("tokens and rate must not be negative")
    return _ceil_div(tokens * per_1k_tokens, 1000)

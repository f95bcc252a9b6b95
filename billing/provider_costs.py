"""What a usage entry cost the platform, from the `[provider_costs]` price table: pure integer arithmetic.

Costs are micros of the entry's currency (millionths of a unit), each part rounded up, so a
cost is never understated by rounding. A cost is flagged `estimated` when it rests on a
quantity no provider reported to us (a call's LLM tokens and speech, an SMS reply's
segments and recipient's country) or on a default row of the table (a model or country it
doesn't list); tokens reported by the model's stream and segments counted from the text
we sent are measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from billing.cost_config import DEFAULT, ProviderCostsConfig
from billing.money import Currency

MICROS = 1_000_000
# An SMS reply pays the text that asked (inbound) and the reply (outbound), one segment each
# as far as the payment knows.
SMS_REPLY_SEGMENTS = 2


@dataclass(frozen=True, slots=True)
class Cost:
    """`micros` (millionths of the currency's unit) the platform paid its providers for one entry."""

    micros: int
    estimated: bool

    def __post_init__(self) -> None:
        if self.micros < 0:
            raise ValueError("a cost can't be negative")


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _model(costs: ProviderCostsConfig, model: str) -> tuple[Mapping[str, int], bool]:
    """The model's token prices, and whether the table lists it (else its default row)."""
    listed = costs.llm.get(model)
    return (listed, True) if listed is not None else (costs.llm[DEFAULT], False)


def tokens_micros(prompt_tokens: int, completion_tokens: int, prices: Mapping[str, int]) -> int:
    return (_ceil_div(prompt_tokens * prices["input_per_1k_micros"], 1000)
            + _ceil_div(completion_tokens * prices["output_per_1k_micros"], 1000))


def call_per_minute(costs: ProviderCostsConfig, model: str) -> int:
    """Micros a minute of an answered call costs: carrier, speech-to-text, and the estimated LLM and speech."""
    prices, _ = _model(costs, model)
    estimate = costs.call_llm_tokens_per_minute
    return (costs.voice_per_minute_micros["inbound"] + costs.stt_per_minute_micros
            + _ceil_div(costs.call_tts_chars_per_minute * costs.tts_per_1k_chars_micros, 1000)
            + tokens_micros(estimate["input"], estimate["output"], prices))


def call_cost(charged_seconds: int, used_seconds: int, per_minute: int) -> Cost:
    """Seconds (charged, used] of a call: the difference of the cumulative cost, so checkpoints add up exactly."""
    return Cost(_ceil_div(used_seconds * per_minute, 60) - _ceil_div(charged_seconds * per_minute, 60), True)


def reply_cost(channel: str, prompt_tokens: int, completion_tokens: int, model: str,
               costs: ProviderCostsConfig) -> Cost:
    """A chat reply's tokens; an SMS reply's tokens plus its texts at the default SMS price."""
    prices, listed = _model(costs, model)
    llm = tokens_micros(prompt_tokens, completion_tokens, prices)
    if channel == "sms":
        return Cost(llm + SMS_REPLY_SEGMENTS * costs.sms_per_segment_micros[DEFAULT], True)
    return Cost(llm, not listed)


def sms_cost(segments: int, country: str | None, costs: ProviderCostsConfig) -> Cost:
    """Segments sent to a recipient in `country` (ISO code; None when unknown)."""
    listed = costs.sms_per_segment_micros.get(country or "")
    price = costs.sms_per_segment_micros[DEFAULT] if listed is None else listed
    return Cost(segments * price, listed is None)


def number_cost(country: str, number_type: str, costs: ProviderCostsConfig) -> Cost | None:
    """A month of a number (its purchase pays the first); None when the table has no price for it."""
    price = costs.number_monthly_micros.get(country.upper(), {}).get(number_type)
    return None if price is None else Cost(price, False)


def minor_to_micros(amount: int, currency: Currency) -> int:
    """Minor units (cents) as micros of the same currency, exactly."""
    return amount * int(10 ** (6 - currency.exponent))


def format_micros(micros: int, currency: Currency) -> str:
    """Micros as the currency's units with six decimals (``0.008500 USD``)."""
    whole, frac = divmod(abs(micros), MICROS)
    return f"{'-' if micros < 0 else ''}{whole}.{frac:06d} {currency.value}"

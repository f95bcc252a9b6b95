"""The `[provider_costs]` config section: what usage costs the platform, the other half of each product's margin.

Prices are integer micros: millionths of one unit of the `[billing]` currency (8500 = 0.0085
USD), because most provider prices are fractions of a cent and money is never a float. The
defaults are list prices in USD for the services this server uses (Twilio US voice and SMS,
Deepgram Nova-3 and Aura-2, OpenAI gpt-4o-mini); set yours, converted into your billing
currency, in `config.toml`. A table replaces the default table whole.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any

from config_fields import check, non_negative

DEFAULT = "default"
TOKEN_SIDES = ("input", "output")
LLM_REQUIRED = ("input_per_1k_micros", "output_per_1k_micros")
LLM_CACHED = "cached_input_per_1k_micros"
NUMBER_TYPES = ("local", "toll_free", "mobile")


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return types.MappingProxyType({k: _frozen(v) if isinstance(v, Mapping) else v for k, v in value.items()})


def _table(checker: Any, value: Mapping[str, Any]) -> Any:
    """A checked table field; its default is built per instance (a mapping is not a valid dataclass default)."""
    return dataclasses.field(default_factory=lambda: _frozen(value), metadata={"check": checker})


def _prices(value: Mapping[str, Any], where: str = "") -> None:
    for key, price in value.items():
        if isinstance(price, Mapping):
            _prices(price, f"{where}{key}.")
        elif price < 0:
            raise ValueError(f"{where}{key}: a cost can't be negative")


def with_default(value: Mapping[str, Any]) -> Mapping[str, Any]:
    """A table keyed by country or model must say what an unlisted key costs."""
    if DEFAULT not in value:
        raise ValueError(f"needs a {DEFAULT!r} entry (used for anything not listed)")
    _prices(value)
    return value


def token_sides(value: Mapping[str, int]) -> Mapping[str, int]:
    """{"input": …, "output": …}, neither negative."""
    if sorted(value) != sorted(TOKEN_SIDES):
        raise ValueError("needs exactly input and output")
    _prices(value)
    return value


def model_prices(value: Mapping[str, Mapping[str, int]]) -> Mapping[str, Mapping[str, int]]:
    """Per model: `input_per_1k_micros` and `output_per_1k_micros`, optionally `cached_input_per_1k_micros`
    (prompt tokens the provider served from its cache; the input price when absent), micros per 1,000 tokens."""
    with_default(value)
    for model, sides in value.items():
        if missing := set(LLM_REQUIRED) - set(sides):
            raise ValueError(f"{model}: needs {', '.join(sorted(missing))}")
        if unknown := set(sides) - set(LLM_REQUIRED) - {LLM_CACHED}:
            raise ValueError(f"{model}: prices are {', '.join((*LLM_REQUIRED, LLM_CACHED))}, not "
                             f"{', '.join(sorted(unknown))}")
    return value


def model_row(input_micros: int, output_micros: int) -> Mapping[str, int]:
    return {LLM_REQUIRED[0]: input_micros, LLM_REQUIRED[1]: output_micros}


def number_prices(value: Mapping[str, Mapping[str, int]]) -> Mapping[str, Mapping[str, int]]:
    """Per ISO country: {"local": …, "toll_free": …, "mobile": …} micros a month (any subset)."""
    _prices(value)
    for country, types_ in value.items():
        if len(country) != 2 or not country.isalpha() or not country.isupper():
            raise ValueError(f"{country!r} is not an ISO 3166 alpha-2 country code")
        if unknown := set(types_) - set(NUMBER_TYPES):
            raise ValueError(f"{country}: number types are {', '.join(NUMBER_TYPES)}, not {', '.join(sorted(unknown))}")
    return value


def voice_prices(value: Mapping[str, int]) -> Mapping[str, int]:
    """Per call direction; the agent answers calls, so ``inbound`` is the one every metered call uses."""
    _prices(value)
    if "inbound" not in value:
        raise ValueError("needs an 'inbound' price")
    return value


@dataclasses.dataclass(frozen=True)
class ProviderCostsConfig:
    """What a unit of each provider's service costs the platform, in micros of the billing currency."""

    # Twilio Programmable Voice per minute, by direction (US local number, inbound: 0.0085 USD).
    voice_per_minute_micros: Mapping[str, int] = _table(voice_prices, {"inbound": 8500})
    # Twilio SMS per segment, by the recipient's ISO country; `default` for any other (and for
    # SMS replies, whose recipient's country the payment doesn't see).
    sms_per_segment_micros: Mapping[str, int] = _table(with_default, {
        "US": 8300, "CA": 8300, "GB": 40000, DEFAULT: 8300})
    # LLM per 1,000 tokens by model (`[provider_costs.llm."MODEL"]`): list prices of the models the
    # service offered. `default` prices the books' estimates (a call minute's tokens, a reply by
    # a model not listed, flagged as estimated); an `llm_requests` row of a model not listed is
    # left unpriced instead, since no one said what that model costs.
    llm: Mapping[str, Mapping[str, int]] = _table(model_prices, {
        "gpt-4o-mini": model_row(150, 600), "gpt-4o": model_row(2500, 10000), "gpt-4": model_row(30000, 60000),
        "gpt-3.5-turbo": model_row(1500, 2000), DEFAULT: model_row(150, 600)})
    # Deepgram streaming speech-to-text per minute of call (Nova-3).
    stt_per_minute_micros: int = check(non_negative, 7700)
    # Deepgram text-to-speech per 1,000 characters (Aura-2).
    tts_per_1k_chars_micros: int = check(non_negative, 30000)
    # A number's monthly rent at Twilio, by country and type (the purchase pays the first month).
    number_monthly_micros: Mapping[str, Mapping[str, int]] = _table(number_prices, {
        "US": {"local": 1150000, "toll_free": 2150000, "mobile": 1150000},
        "CA": {"local": 1150000, "toll_free": 2150000},
        "GB": {"local": 1150000, "toll_free": 2150000, "mobile": 1150000}})
    # A call's LLM tokens and speech characters are not metered per checkpoint: a minute of
    # call is estimated to use this many (its cost is flagged as estimated).
    call_llm_tokens_per_minute: Mapping[str, int] = _table(token_sides, {"input": 6000, "output": 150})
    call_tts_chars_per_minute: int = check(non_negative, 400)

"""Provider prices per model: each LLM attempt's cost in micro-USD from `[provider_costs.llm]`, rounded up once."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent_server.config import settings_from
from billing.cost_config import ProviderCostsConfig
from llm_usage.prices import attempt_cost_micros

TABLE = ProviderCostsConfig().llm


def cost(model: str, input_tokens: int = 0, cached: int = 0, output: int = 0) -> int | None:
    return attempt_cost_micros(model, input_tokens=input_tokens, cached_tokens=cached, output_tokens=output,
                               table=TABLE)


def test_1234_gpt_4o_mini_input_tokens_cost_186_micros() -> None:
    assert cost("gpt-4o-mini", 1234) == 186


def test_the_default_table_holds_the_original_services_prices() -> None:
    assert [cost(m, 1000, 0, 1000) for m in ("gpt-4o-mini", "gpt-4o", "gpt-4", "gpt-3.5-turbo")] == [
        150 + 600, 2500 + 10000, 30000 + 60000, 1500 + 2000]


def test_a_model_not_listed_is_unpriced_not_priced_at_the_default_row() -> None:
    assert cost("o9-preview", 1000, 0, 10) is None
    assert cost("default", 1000) is None


def test_cached_prompt_tokens_cost_the_cached_price_or_the_input_price() -> None:
    settings = settings_from({"provider_costs": {"llm": {
        "default": {"input_per_1k_micros": 1, "output_per_1k_micros": 1},
        "m": {"input_per_1k_micros": 1000, "cached_input_per_1k_micros": 500, "output_per_1k_micros": 4000}}}}, {})
    table = settings.provider_costs.llm
    assert attempt_cost_micros("m", input_tokens=10, cached_tokens=4, output_tokens=1, table=table) == 6 + 2 + 4
    assert cost("gpt-4o-mini", 1000, 1000) == cost("gpt-4o-mini", 1000) == 150


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_an_attempt_is_rounded_up_once_never_below_exact(input_tokens: int, cached: int, output: int) -> None:
    micros = cost("gpt-4o", input_tokens, cached, output)
    exact_thousandths = (input_tokens * 2500 + output * 10000)
    assert micros is not None and micros * 1000 - 1000 < exact_thousandths <= micros * 1000

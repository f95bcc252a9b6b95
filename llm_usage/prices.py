"""What one LLM attempt cost its provider, from the `[provider_costs.llm]` price table: pure integer arithmetic.

Prompt tokens the provider served from its prompt cache are part of the reported prompt
tokens and cost the model's cached-input price (its input price when the table names none).
The three parts are summed before one rounding up, so an attempt is never understated and
costs at most one micro more than exact. A model the table doesn't list (its `default` row
is for the books' estimates only) leaves the attempt unpriced: None, never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping

from billing.cost_config import DEFAULT, LLM_CACHED

PER = 1000


def attempt_cost_micros(model: str, *, input_tokens: int, cached_tokens: int, output_tokens: int,
                        table: Mapping[str, Mapping[str, int]]) -> int | None:
    """Micro-USD one attempt of `model` cost (rounded up), or None when the table doesn't list the model.

    Args:
        model: the model that served the attempt, as the provider named it.
        input_tokens: prompt tokens, the cached ones included (as providers report them).
        cached_tokens: how many of them the provider's prompt cache served (capped at `input_tokens`).
        output_tokens: completion tokens.
        table: `ProviderCostsConfig.llm`.
    """
    prices = table.get(model) if model != DEFAULT else None
    if prices is None:
        return None
    cached = max(0, min(cached_tokens, input_tokens))
    input_price = prices["input_per_1k_micros"]
    numerator = ((input_tokens - cached) * input_price + cached * prices.get(LLM_CACHED, input_price)
                 + output_tokens * prices["output_per_1k_micros"])
    return -(-numerator // PER)


"""The `[outcomes]` config section: the analysis's budget and model, the sweeps' sizes, the contact inbox."""

from __future__ import annotations

import dataclasses

from config_fields import check, non_negative, positive


def _region(value: str) -> str:
    if len(value) != 2 or not value.isalpha() or not value.isupper():
        raise ValueError("must be an ISO 3166 alpha-2 country code such as US")
    return value


@dataclasses.dataclass(frozen=True)
class OutcomesConfig:
    # The transcript sent for analysis is cut from the middle to this many estimated tokens.
    transcript_budget_tokens: int = check(positive, 6000)
    # The model and temperature of the analysis when the agent names no model of its own.
    model: str = "gpt-4o-mini"
    temperature: float = check(non_negative, 0.0)
    # The lead sweep: at most this many conversations per run, this many LLM requests at once.
    sweep_batch: int = check(positive, 200)
    sweep_concurrency: int = check(positive, 5)
    # A claimed analysis is the claimant's for this long (a runner that died loses it after).
    claim_seconds: float = check(positive, 300.0)
    # Phone numbers in leads without a country prefix are read in the business's country, or this one.
    default_region: str = check(_region, "US")
    # CONTACT_INBOX: where the public contact form is delivered; empty turns the form off (503).
    contact_inbox: str = ""
    # Contact form messages per IP per hour.
    contact_per_ip_per_hour: int = check(positive, 5)

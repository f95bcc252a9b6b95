"""The `[billing]` and `[stripe]` config sections: usage prices, call grants, and the Stripe account."""

from __future__ import annotations

import dataclasses

from billing.money import parse_currency
from config_fields import check, non_negative, path, positive, secret, url


def currency_code(value: str) -> str:
    """A config currency, normalised to its ISO code; unknown ones stop start-up."""
    return parse_currency(value).value


@dataclasses.dataclass(frozen=True)
class StripeConfig:
    secret_key: str = secret()
    webhook_secret: str = secret()
    api_base: str = check(url, "https://api.stripe.com")
    webhook_tolerance_seconds: int = check(positive, 300)
    min_topup_minor: int = check(positive, 500)
    max_topup_minor: int = check(positive, 1_000_000)
    # Where Checkout sends the customer back, appended to server.public_url.
    checkout_success_path: str = check(path, "/funds?topup=success&session_id={CHECKOUT_SESSION_ID}")
    checkout_cancel_path: str = check(path, "/funds?topup=cancelled")
    # What a lost dispute costs on top of the disputed amount, in the charge's minor units
    # (Stripe's fee is 15.00 USD); taken from the wallet with the loss.
    dispute_fee_minor: int = check(non_negative, 1500)


@dataclasses.dataclass(frozen=True)
class BillingConfig:
    """Usage prices (defaults; a business may have overrides) and how calls draw on the wallet."""

    currency: str = check(currency_code, "USD")
    voice_per_minute_minor: int = check(non_negative, 12)
    sms_per_reply_minor: int = check(non_negative, 2)
    chat_per_1k_tokens_minor: int = check(non_negative, 1)
    # A reply served from the answer cache (no model call), SMS or chat.
    answer_cache_hit_minor: int = check(non_negative, 0)
    call_grant_seconds: int = check(positive, 60)
    call_minimum_seconds: int = check(positive, 10)
    call_checkpoint_seconds: int = check(positive, 15)
    # Kept back from the last grant for the goodbye (the rest of the sentence being heard, then
    # the goodbye text spoken), so the call ends inside what was paid for; see agent_server.metering.
    call_goodbye_reserve_seconds: float = check(non_negative, 3.0)
    call_end_grace_seconds: int = check(non_negative, 5)
    hold_lease_seconds: int = check(positive, 120)
    sweeper_interval_seconds: float = check(positive, 30.0)
    insufficient_funds_text: str = "Sorry, this line can't take calls right now. Please try again later. Goodbye."

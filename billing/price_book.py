"""Which prices a business pays: config defaults, overridden per business in the database."""

from __future__ import annotations

import dataclasses
import uuid

from billing.config import BillingConfig
from billing.money import parse_currency
from billing.pricing import Prices
from storage.executor import Executor


async def prices_for(db: Executor, business_id: uuid.UUID, defaults: Prices) -> Prices:
    """The business's prices: each override where set, the default elsewhere."""
    row = await db.fetchrow(
        "SELECT voice_per_minute, sms_per_reply, chat_per_1k_tokens FROM business_prices WHERE business_id = $1",
        business_id)
    if row is None:
        return defaults
    return dataclasses.replace(
        defaults,
        voice_per_minute=defaults.voice_per_minute if row["voice_per_minute"] is None else row["voice_per_minute"],
        sms_per_reply=defaults.sms_per_reply if row["sms_per_reply"] is None else row["sms_per_reply"],
        chat_per_1k_tokens=(defaults.chat_per_1k_tokens if row["chat_per_1k_tokens"] is None
                            else row["chat_per_1k_tokens"]),
    )


async def set_prices(db: Executor, business_id: uuid.UUID, *, voice_per_minute: int | None = None,
                     sms_per_reply: int | None = None, chat_per_1k_tokens: int | None = None) -> None:
    """Override some of a business's prices; prices not given keep their current override."""
    for name, value in (("voice_per_minute", voice_per_minute), ("sms_per_reply", sms_per_reply),
                        ("chat_per_1k_tokens", chat_per_1k_tokens)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"{name} must be a non-negative integer of minor units")
    await db.execute(
        "INSERT INTO business_prices (business_id, voice_per_minute, sms_per_reply, chat_per_1k_tokens)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (business_id) DO UPDATE SET"
        " voice_per_minute = coalesce(EXCLUDED.voice_per_minute, business_prices.voice_per_minute),"
        " sms_per_reply = coalesce(EXCLUDED.sms_per_reply, business_prices.sms_per_reply),"
        " chat_per_1k_tokens = coalesce(EXCLUDED.chat_per_1k_tokens, business_prices.chat_per_1k_tokens),"
        " updated_at = now()",
        business_id, voice_per_minute, sms_per_reply, chat_per_1k_tokens)



def default_prices(config: BillingConfig) -> Prices:
    """The configured defaults (config.toml [billing]) as Prices."""
    return Prices(parse_currency(config.currency), config.voice_per_minute_minor, config.sms_per_reply_minor,
                  config.chat_per_1k_tokens_minor)

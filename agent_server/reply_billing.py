"""The wallet-backed `ReplyPayment`: SMS per reply, chat per 1,000 LLM tokens, reserved first.

A chat reply's token count is known only after it streamed, so its reservation is the
price of `CHAT_RESERVE_TOKENS` (or of what its token cap reserved); the charge is the price of the tokens the stream reported
(never more than the wallet can pay). FAQ answers use no tokens and cost nothing. A reply
served from the answer cache costs `[billing] answer_cache_hit_minor` on either channel (0 by
default: nothing is reserved or charged, and an empty wallet still gets it), recorded as one
reply whose provider cost is an SMS reply's texts, or nothing for chat. Each
charge records what the reply cost the platform (`billing.provider_costs`), its tokens at
`model`'s row of the price table: the payment interface doesn't see an agent's own model.
The reply's LLM attempts (`llm_requests`) are written in the charge's transaction, pointing
at its ledger entry, so the token report's `charged` is exactly what the ledger holds.
"""

from __future__ import annotations

import uuid

import asyncpg

from billing import price_book, usage
from billing.config import BillingConfig
from billing.cost_config import DEFAULT, ProviderCostsConfig
from billing.errors import InsufficientFunds
from billing.ledger import EntryKind
from billing.money import Money
from billing.pricing import Prices, chat_charge
from billing.provider_costs import reply_cost
from billing.usage_details import Unit, UsageDetail
from conversations.payment import CannotPay, Channel
from llm_usage import requests as llm_requests
from llm_usage.requests import RequestLog
from storage.transactions import transaction

# Tokens a chat reply is assumed to use when its price is reserved (prompt included).
CHAT_RESERVE_TOKENS = 4000
_KINDS = {"sms": EntryKind.SMS_USAGE, "chat": EntryKind.CHAT_USAGE}


class WalletReplyPayment:
    def __init__(self, pool: asyncpg.Pool, config: BillingConfig, *,
                 costs: ProviderCostsConfig = ProviderCostsConfig(), model: str = DEFAULT) -> None:
        self._pool = pool
        self._defaults = price_book.default_prices(config)
        self._costs = costs
        self._model = model
        self._cache_hit = config.answer_cache_hit_minor

    async def _prices(self, business_id: uuid.UUID) -> Prices:
        return await price_book.prices_for(self._pool, business_id, self._defaults)

    async def reserve(self, business_id: uuid.UUID, channel: Channel, key: str, *, cached: bool = False,
                      tokens: int | None = None) -> object:
        if cached and self._cache_hit == 0:
            return usage.Reservation(business_id, self._defaults.currency, 0, None)
        prices = await self._prices(business_id)
        if cached:
            amount = self._cache_hit
        else:
            amount = (prices.sms_per_reply if channel == "sms"
                      else chat_charge(CHAT_RESERVE_TOKENS if tokens is None else tokens, prices.chat_per_1k_tokens))
        try:
            return await usage.reserve(self._pool, business_id=business_id, amount=Money(amount, prices.currency),
                                       key=key, reference=key)
        except InsufficientFunds:
            raise CannotPay(f"wallet of {business_id} can't pay for this {channel} reply") from None

    async def charge(self, handle: object, *, channel: Channel, key: str, prompt_tokens: int,
                     completion_tokens: int, cached: bool = False, requests: RequestLog | None = None) -> int:
        assert isinstance(handle, usage.Reservation)
        if handle.hold_id is None:
            if requests is not None:
                await llm_requests.insert(self._pool, requests, ledger_key=None, prices=self._costs.llm)
            return 0
        cost, detail = await self._price(handle.business_id, channel, prompt_tokens, completion_tokens, cached)
        async with transaction(self._pool) as conn:
            charged = await usage.charge(conn, handle, cost=cost, kind=_KINDS[channel], key=key, detail=detail)
            if requests is not None:
                await llm_requests.insert(conn, requests, ledger_key=key, prices=self._costs.llm)
            return charged

    async def _price(self, business_id: uuid.UUID, channel: Channel, prompt_tokens: int, completion_tokens: int,
                     cached: bool) -> tuple[int, UsageDetail]:
        """What the reply costs the business, and what it cost us."""
        ours = reply_cost(channel, prompt_tokens, completion_tokens, self._model, self._costs)
        if cached:
            return self._cache_hit, UsageDetail(1, Unit.REPLIES, ours)
        prices = await self._prices(business_id)
        tokens = prompt_tokens + completion_tokens
        if channel == "sms":
            return prices.sms_per_reply, UsageDetail(1, Unit.REPLIES, ours)
        return chat_charge(tokens, prices.chat_per_1k_tokens), UsageDetail(tokens, Unit.TOKENS, ours)

    async def cancel(self, handle: object, *, requests: RequestLog | None = None) -> None:
        assert isinstance(handle, usage.Reservation)
        await usage.cancel(self._pool, handle)
        if requests is not None:
            await llm_requests.insert(self._pool, requests, ledger_key=None, prices=self._costs.llm)

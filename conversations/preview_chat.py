"""A reply from an agent's unsaved configuration (the dashboard's preview): nothing kept but its bill.

The preview answers exactly as the widget would (same system prompt, FAQ short-cut and fallback
models) from a configuration the owner is still editing, with the history the dashboard sends.
No conversation or message is stored, the answer cache is neither read nor filled, and the
agent's token caps are left alone: a preview must work while the owner fixes an agent that
spent its tokens. It still asks a real model, so the wallet pays: the hold is sized from the
request's need (its prompt at three characters a token plus `max_tokens`), as a capped reply's
is, and the charge is written with the reply's `llm_requests` rows. An FAQ answer asks no model
and, as on every channel, is free and leaves no row.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from conversations.conversation import AgentProfile, ModelDefaults, Reply, Turn, answer
from conversations.payment import ReplyPayment
from llm_usage.requests import Attempt, RequestContext, RequestLog
from llm_usage.token_caps import prompt_estimate
from llm_usage.token_gate import prompt_chars
from media.llm.base import LlmProvider, Message


@dataclass(frozen=True, slots=True)
class PreviewReply:
    reply: Reply
    # Of the attempt that answered: prompt tokens served from the provider's cache, and whether the
    # counts are estimates (the server reported no usage).
    cached_tokens: int
    estimated: bool


async def preview_reply(llm: LlmProvider, agent: AgentProfile, history: Sequence[Turn], text: str, *,
                        defaults: ModelDefaults, payment: ReplyPayment, requests: RequestContext, max_tokens: int,
                        fallbacks: Sequence[str] = ()) -> PreviewReply:
    """Answer `text` after `history` as `agent` (the unsaved configuration), paid through `payment`.

    Raises:
        CannotPay: the wallet can't hold the request's price; the model was not asked.
        LlmError: every model tried failed; the hold is released and the failed attempts recorded.
    """
    key = f"preview:{uuid.uuid4()}"
    handle: object | None = None

    async def admit(messages: Sequence[Message]) -> int:
        nonlocal handle
        need = prompt_estimate(prompt_chars(messages)) + max_tokens
        handle = await payment.reserve(agent.business_id, "chat", key, tokens=need)
        return max_tokens

    attempts: list[Attempt] = []
    log = RequestLog(requests, attempts)
    try:
        reply = await answer(llm, agent, history, text, channel="widget", defaults=defaults, admit=admit,
                             attempts=attempts, fallbacks=lambda: fallbacks)
    except BaseException:
        if handle is not None:
            await asyncio.shield(payment.cancel(handle, requests=log))
        raise
    if handle is None:  # an FAQ answer: no model, no hold, no row
        return PreviewReply(reply, 0, False)
    await payment.charge(handle, channel="chat", key=key, prompt_tokens=reply.prompt_tokens,
                         completion_tokens=reply.completion_tokens, requests=log)
    served = attempts[-1]
    return PreviewReply(reply, min(served.cached_tokens, served.input_tokens), served.estimated)

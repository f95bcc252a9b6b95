"""One website-chat turn: store the visitor's message, answer it, store the answer with its usage.

The widget socket, the widget's plain POST and the dashboard's test chat all go through
`take_turn`, so storage, history, the answer cache and (with metering) charging happen in one
place. A conversation's first message may be answered from the cache (`answer_cache`): no
model call, the cache-hit price.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from conversations import answer_cache, records
from conversations.answer_cache import CacheScope
from conversations.conversation import AgentProfile, ModelDefaults, OnDelta, Reply, answer
from conversations.payment import ReplyPayment
from conversations.tool_rounds import RoundMeter, ToolRounds
from knowledge.grounding import Grounding
from llm_usage.requests import Attempt, RequestContext, RequestLog, cache_hit
from llm_usage.token_gate import TokenGate
from media.llm.base import LlmProvider
from media.llm.toolbox import ToolBox


@dataclass(frozen=True, slots=True)
class TurnResult:
    """The stored assistant message and the reply it holds."""

    message_id: uuid.UUID
    reply: Reply


async def take_turn(pool: asyncpg.Pool, llm: LlmProvider, agent: AgentProfile, conversation_id: uuid.UUID,
                    text: str, *, history_length: int, defaults: ModelDefaults,
                    payment: ReplyPayment, on_delta: OnDelta | None = None, requests: RequestContext | None = None,
                    grounding: Grounding | None = None, cache: CacheScope | None = None,
                    agent_version: int | None = None, tokens: TokenGate | None = None,
                    toolbox: ToolBox | None = None,
                    open_conversation: Callable[[], Awaitable[None]] | None = None) -> TurnResult:
    """Answer one visitor message, paid through `payment`.

    The visitor's message is stored once the turn is admitted (the token cap and the wallet
    granted the first request, or an FAQ or cached answer needs neither), before the model is
    asked, so it is kept even when the answer fails; a turn refused at the cap or by the wallet
    stores nothing. `open_conversation` (None: the conversation exists) creates the conversation
    this message starts, at that same moment, so a refused first message leaves no conversation
    behind either. The answer is stored only once complete, with its token usage. `cache`
    (None: off) serves and keeps the answer to a conversation's first message. Before the model is
    asked, the agent's token cap (`tokens`) reserves the request's need, then the wallet holds that
    need's price; an FAQ answer touches neither and is free. `agent_version` is kept
    with the answer: the agent configuration that wrote it.

    `requests` (None: not recorded) is where the turn's LLM attempts are recorded as `llm_requests`
    rows, with the charge or, when the reply failed, on their own.

    `toolbox` (None: no tools) is offered to the model; its calls run in rounds (`tool_rounds`), each
    request before the answer charged as a chat request of its own under `chat:<message>:round<n>`.

    Raises:
        CannotPay: the wallet can't pay; the model was not asked.
        TokenLimitReached: the agent's tokens (`tokens`) are spent; the model was not asked, nothing charged.
        LlmError: the model failed; nothing is stored for the assistant and nothing charged.
    """
    history = await records.widget_history(pool, conversation_id, history_length)
    user_message = uuid.uuid4()
    key = f"chat:{user_message}"
    stored = False

    async def store_message() -> None:
        nonlocal stored
        if not stored:
            if open_conversation is not None:
                await open_conversation()
            await records.add_widget_message(pool, conversation_id, "user", text, message_id=user_message)
            stored = True

    first = cache if not history else None
    producer = answer_cache.producer(llm, agent, defaults)
    cached = None if first is None else await answer_cache.lookup(pool, first, "widget", text, producer=producer)
    cache_handle = None if cached is None else await payment.reserve(agent.business_id, "chat", key, cached=True)
    context = None if requests is None else requests.about(conversation_id=conversation_id, message_id=user_message)
    meter = RoundMeter(payment, agent.business_id, key, tokens=tokens,
                       requests=lambda rows: None if context is None else RequestLog(context, rows),
                       admitted=store_message)
    rounds = None if toolbox is None else ToolRounds(toolbox, str(conversation_id), meter)

    attempts: list[Attempt] = []
    log = None if context is None else RequestLog(context, attempts)
    try:
        if cached is not None:
            await store_message()
            attempts.append(cache_hit(agent.model or defaults.model))
            reply = Reply(cached.text, "cache", 0, 0, cached.sources)
            if on_delta is not None:
                await on_delta(cached.text)
        else:
            reply = await answer(llm, agent, history, text, channel="widget", defaults=defaults,
                                 admit=meter.admit, on_delta=on_delta, grounding=grounding, attempts=attempts,
                                 fallbacks=None if tokens is None else tokens.fallback_models, tools=rounds)
    except BaseException:
        if cache_handle is not None:
            await asyncio.shield(payment.cancel(cache_handle, requests=log))
        else:
            await meter.cancel(attempts if rounds is None else rounds.in_flight)
        raise
    await store_message()  # an FAQ answer: no request was admitted
    if tokens is not None and cached is None:
        await tokens.settle(reply.prompt_tokens + reply.completion_tokens)
    message_id = await records.add_widget_message(
        pool, conversation_id, "assistant", reply.text, answered_by=reply.answered_by,
        prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens, agent_version=agent_version)
    handle = cache_handle if cached is not None else meter.handle
    if handle is not None:  # an FAQ answer asked no model and held nothing: it is free
        await payment.charge(handle, channel="chat", key=key if cached is not None else meter.key,
                             prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
                             cached=cached is not None, requests=log)
    if first is not None and answer_cache.cacheable(reply):
        await answer_cache.store(pool, first, "widget", text, reply.text, producer=producer, sources=reply.sources,
                                 tokens=reply.prompt_tokens + reply.completion_tokens)
    return TurnResult(message_id, reply)

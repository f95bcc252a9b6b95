"""Composing the agent's reply to one inbound text, with the thread as memory.

The reply is only composed here; how it is delivered (TwiML in time, or the REST API when
late) is the webhook's business. A model failure becomes the configured "unavailable" text
rather than silence, so the sender knows to try another way.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import asyncpg
import structlog

from conversations import answer_cache, records
from conversations.answer_cache import CacheScope
from conversations.conversation import AgentProfile, ModelDefaults, Reply, answer
from conversations.payment import CannotPay, ReplyPayment
from conversations.tool_rounds import RoundMeter, ToolRounds
from knowledge.grounding import Grounding
from llm_usage.requests import Attempt, RequestContext, RequestLog, cache_hit
from llm_usage.token_gate import TokenGate
from media.llm.base import LlmError, LlmProvider
from media.llm.toolbox import ToolBox

log = structlog.get_logger(__name__)

_ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class InboundText:
    """An accepted inbound message (`sender` and `our_number` as Twilio sent them, `whatsapp:` included)."""

    message_id: uuid.UUID
    business_id: uuid.UUID
    sender: str
    our_number: str
    body: str


@dataclass(frozen=True, slots=True)
class SmsLimits:
    history_length: int
    max_reply_chars: int
    unavailable_text: str


def fit_sms(text: str, max_chars: int) -> str:
    """`text` cut to `max_chars` at a word boundary where possible, marked with an ellipsis."""
    text = text.strip()
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - len(_ELLIPSIS)]
    space = cut.rfind(" ")
    if space > max_chars // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + _ELLIPSIS


async def compose_reply(pool: asyncpg.Pool, llm: LlmProvider, agent: AgentProfile, inbound: InboundText, *,
                        limits: SmsLimits, defaults: ModelDefaults, payment: ReplyPayment,
                        grounding: Grounding | None = None, cache: CacheScope | None = None,
                        tokens: TokenGate | None = None, requests: RequestContext | None = None,
                        toolbox: ToolBox | None = None, conversation: str | None = None, greeting: str = "") -> Reply:
    """The agent's answer to `inbound`, given the thread's earlier messages, paid through `payment`.

    `greeting` (the channel's own) opens the first reply of a thread, a paragraph before the answer,
    which is cut to leave it room; a refused or failed reply goes without it.

    The price is reserved before the model is asked; a wallet that can't pay gets the
    unavailable text and no model call. A failed reply is not charged. The first text of a
    thread may be answered from `cache` (None: off) at the cache-hit price, and its answer kept.
    The model's attempts are recorded as `llm_requests` rows in `requests` (None: not recorded).

    With `toolbox`, the model may call the agent's tools (`tool_rounds`; their keys name `conversation`): the
    reply's price pays for the first request, and each later one (after a tool round) is held and charged as a
    chat request under `sms:<message>:chat:round<n>`, the answer's included.

    Returns:
        The reply, cut to fit one SMS body; the unavailable text when the model failed (with its `failure`).

    Raises:
        TokenLimitReached: the agent's tokens (`tokens`) are spent: the model was not asked, nothing charged.
    """
    key = f"sms:{inbound.message_id}"
    history = await records.sms_thread(pool, business_id=inbound.business_id, our_number=inbound.our_number,
                                       sender=inbound.sender, limit=limits.history_length, before=inbound.message_id)
    first = cache if not history else None
    producer = answer_cache.producer(llm, agent, defaults)
    cached = None if first is None else await answer_cache.lookup(pool, first, "sms", inbound.body, producer=producer)
    try:
        handle = await payment.reserve(inbound.business_id, "sms", key, cached=cached is not None)
    except CannotPay:
        log.info("sms_not_answered", reason="wallet can't pay")
        return Reply(limits.unavailable_text, "fallback", 0, 0)
    attempts: list[Attempt] = [] if cached is None else [cache_hit(agent.model or defaults.model)]
    rows = None if requests is None else RequestLog(requests.about(message_id=inbound.message_id), attempts)
    context = None if requests is None else requests.about(message_id=inbound.message_id)
    meter = RoundMeter(payment, inbound.business_id, f"{key}:chat", tokens=tokens, first_paid=True,
                       requests=lambda done: None if context is None else RequestLog(context, done))
    rounds = None if toolbox is None else ToolRounds(toolbox, conversation or key, meter)
    try:
        reply = (Reply(cached.text, "cache", 0, 0) if cached is not None
                 else await answer(llm, agent, history, inbound.body, channel="sms", defaults=defaults,
                                   admit=meter.admit, grounding=grounding, attempts=attempts,
                                   fallbacks=None if tokens is None else tokens.fallback_models, tools=rounds))
    except (LlmError, CannotPay) as exc:  # CannotPay: a tool round's chat hold was refused
        log.warning("sms_reply_failed", error=str(exc), status=getattr(exc, "status", None))
        await meter.cancel([] if rounds is None else rounds.in_flight)
        attempts[:0] = meter.first_attempts
        await payment.cancel(handle, requests=rows)
        return Reply(limits.unavailable_text, "fallback", 0, 0, failure=str(exc))
    except BaseException:
        await meter.cancel([] if rounds is None else rounds.in_flight)
        attempts[:0] = meter.first_attempts
        await asyncio.shield(payment.cancel(handle, requests=rows))
        raise
    attempts[:0] = meter.first_attempts  # the first request's rows go with the reply's charge
    if meter.handle is not None:  # the answer came after a tool round: a chat request of its own
        await payment.charge(meter.handle, channel="chat", key=meter.key, prompt_tokens=reply.prompt_tokens,
                             completion_tokens=reply.completion_tokens)
    if tokens is not None:
        await tokens.settle(reply.prompt_tokens + reply.completion_tokens)
    await payment.charge(handle, channel="sms", key=key, prompt_tokens=reply.prompt_tokens,
                         completion_tokens=reply.completion_tokens, cached=cached is not None, requests=rows)
    if first is not None and answer_cache.cacheable(reply):
        await answer_cache.store(pool, first, "sms", inbound.body, reply.text, producer=producer,
                                 sources=reply.sources, tokens=reply.prompt_tokens + reply.completion_tokens)
    return Reply(_greeted(reply.text, greeting.strip() if not history else "", limits.max_reply_chars),
                 reply.answered_by, reply.prompt_tokens, reply.completion_tokens)


def _greeted(answer: str, greeting: str, max_chars: int) -> str:
    """The answer fit to one reply, after the greeting when there is one (the whole cut to fit if it is long)."""
    if not greeting:
        return fit_sms(answer, max_chars)
    room = max_chars - len(greeting) - 2
    if room < max_chars // 4:
        return fit_sms(f"{greeting}\n\n{answer}", max_chars)
    return f"{greeting}\n\n{fit_sms(answer, room)}"

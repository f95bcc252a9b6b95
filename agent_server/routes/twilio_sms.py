"""`POST /api/voice-agent/handle-sms`: Twilio's messaging webhook (SMS and WhatsApp).

Signature first, then number → business → agent. Carrier keywords (STOP/START/HELP and
synonyms) are never answered by the AI: STOP and START go into the business's consent log
(a STOP to any of its numbers suppresses the sender for all of them); HELP gets the
business's help text when it has one, else Twilio's own auto-reply.
Twilio waits about 15 s for the webhook, so the reply gets `messaging.sms_reply_budget_seconds`:
ready in time, it goes back as TwiML `<Message>`; late, the webhook answers empty TwiML at
once and the reply is sent through the REST API when it is ready. A retried webhook (same
MessageSid) is answered empty, so one text never gets two replies. Each text can cost an LLM
call, so texts beyond the shared limits (per sender and our number, then per our number;
`[messaging] sms_*`) are stored but answered with empty TwiML and no model call. A reply to a
recent campaign (`messaging.campaign_replies`) is counted for it and answered by the agent only
when the campaign has aiReplies. A number with no agent stores its texts and honours keywords,
and answers nothing; so does an agent whose `sms` (or `whatsapp`) channel is `enabled: false`
(the owner may still answer by hand, so the text is stored and its notice queued). A reply
uses the channel's effective model and temperature (`agents.on_channel`). A text (not a
keyword) that opens a new stretch of its thread queues the `conversation_started` emails in
the transaction that stores it; a reply that is the unavailable text of a failed model queues
the agent's `agent_error` emails in the transaction that stores the reply.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import AsyncIterator
from typing import Literal

import structlog
from aiohttp import web
from twilio.twiml.messaging_response import MessagingResponse

from agent_server import agents, conversation_notices
from agent_server.api.route import Reply as Documented
from agent_server.agent_tools import sms_conversation, toolbox_for
from agent_server.api.route import Route, register
from agent_server.knowledge_embeddings import grounding_for
from agent_server.message_limits import within_limits
from agent_server.state import CARRIER, POOL, PROVIDERS, REPLY_PAYMENT, SETTINGS
from agent_server.token_pool import TOKEN_POOL
from agent_server.routes.twilio_shapes import SIGNATURE, SmsWebhookForm
from agent_server.twilio_signature import verified_form
from conversations import records
from conversations.conversation import ModelDefaults, Reply
from conversations.opt_out import Keyword, classify
from conversations.rate_limits import Scope
from conversations.sms_reply import InboundText, SmsLimits, compose_reply
from llm_usage.requests import RequestContext
from llm_usage import token_notices
from llm_usage.token_caps import TokenLimitReached
from llm_usage.token_gate import TokenGate
from messaging import campaign_replies, consent, profiles
from phone_numbers import registry
from outcomes import notices
from phone_numbers.carrier import CarrierError
from storage.transactions import transaction

log = structlog.get_logger(__name__)

WHATSAPP = "whatsapp:"


class LateReplies:
    """Replies that missed the webhook's budget and are still being composed or sent."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()


LATE_REPLIES = web.AppKey("late_sms_replies", LateReplies)


def twiml(reply: str | None = None) -> web.Response:
    response = MessagingResponse()
    if reply is not None:
        response.message(reply)
    return web.Response(text=str(response), content_type="text/xml")


def bare_number(address: str) -> str:
    """The E.164 number of an SMS or WhatsApp address (`whatsapp:+1415…` → `+1415…`)."""
    return address[len(WHATSAPP):] if address.startswith(WHATSAPP) else address


async def handle_sms(request: web.Request) -> web.Response:
    form = await verified_form(request)
    sender, our_number = form.get("From", ""), form.get("To", "")
    body, message_sid = form.get("Body", ""), form.get("MessageSid", "")
    structlog.contextvars.bind_contextvars(message_sid=message_sid)
    pool = request.app[POOL]
    route = await registry.route_for(pool, bare_number(our_number))
    if route is None or route.status != "active" or not message_sid or not sender:
        log.info("sms_not_answered", reason="no live number", to=our_number)
        return twiml()
    structlog.contextvars.bind_contextvars(business_id=str(route.business_id))
    agent = await agents.get_agent(pool, route.agent_id) if route.agent_id is not None else None
    keyword = classify(body, form.get("OptOutType", ""))
    async with transaction(pool) as conn:
        message_id = await records.insert_inbound_sms(
            conn, business_id=route.business_id, number_id=route.number_id, agent_id=route.agent_id,
            message_sid=message_sid, sender=sender, our_number=our_number, body=body)
        if message_id is not None and keyword is None and agent is not None and agent.active:
            await conversation_notices.sms_received(request.app, conn, message_id)
    if message_id is None:
        log.info("sms_duplicate")
        return twiml()
    phone = bare_number(sender)
    if keyword is Keyword.STOP:
        await records.set_opted_out(pool, business_id=route.business_id, our_number=our_number,
                                    sender=sender, keyword=body.strip()[:40])
        await consent.opt_out(pool, route.business_id, phone, source=consent.Source.KEYWORD,
                              detail=body.strip()[:40], number_id=route.number_id)
    elif keyword is Keyword.START:
        await records.clear_opt_out(pool, our_number=our_number, sender=sender)
        await consent.opt_in(pool, route.business_id, phone, source=consent.Source.KEYWORD,
                             detail=body.strip()[:40], number_id=route.number_id)
    elif keyword is Keyword.HELP:
        help_text = (await profiles.profile(pool, route.business_id, request.app[SETTINGS].sms)).help_text
        if help_text:
            log.info("sms_not_answered", reason="HELP: the business's help text")
            return twiml(help_text)
    campaign = None
    if keyword is None:
        campaign = await campaign_replies.attribute(
            pool, route.business_id, message_id, phone=phone, our_number=bare_number(our_number),
            window=request.app[SETTINGS].sms.reply_window(), now=datetime.datetime.now(datetime.UTC))
    if keyword is not None or agent is None or not agent.active:
        log.info("sms_not_answered", reason=keyword.value if keyword else "no active agent")
        return twiml()
    channel: Literal["sms", "whatsapp"] = "whatsapp" if sender.startswith(WHATSAPP) else "sms"
    settings = agents.effective(agent)
    if not (settings.sms if channel == "sms" else settings.whatsapp).enabled:
        log.info("sms_not_answered", reason=f"the agent's {channel} channel is off")
        return twiml()
    if campaign is not None and not campaign.ai_replies:
        log.info("sms_not_answered", reason="campaign reply without aiReplies", campaign_id=str(campaign.campaign_id))
        return twiml()
    if (await records.is_opted_out(pool, our_number=our_number, sender=sender)
            or await consent.is_suppressed(pool, route.business_id, phone)):
        log.info("sms_not_answered", reason="sender opted out")
        return twiml()
    number = bare_number(our_number)
    if not await within_limits(request.app, [(Scope.SMS_SENDER, f"{number}:{bare_number(sender)}"),
                                             (Scope.SMS_NUMBER, number)]):
        log.info("sms_not_answered", reason="rate limited")
        return twiml()
    inbound = InboundText(message_id, route.business_id, sender, our_number, body)
    return await _reply_within_budget(request.app, agents.on_channel(agent, channel), inbound, route.number_id)


async def _reply_within_budget(app: web.Application, agent: agents.Agent, inbound: InboundText,
                               number_id: uuid.UUID) -> web.Response:
    settings = app[SETTINGS]
    messaging = settings.messaging
    limits = SmsLimits(messaging.thread_length, messaging.sms_max_reply_chars, messaging.unavailable_text)
    defaults = ModelDefaults(settings.openai.model, settings.openai.temperature, settings.llm.first_token_timeout_seconds)
    composing = asyncio.ensure_future(_compose(app, agent, inbound, limits, defaults))
    try:
        done, _ = await asyncio.wait({composing}, timeout=messaging.sms_reply_budget_seconds)
    except asyncio.CancelledError:
        composing.cancel()
        raise
    if done:
        try:
            reply = composing.result()
        except TokenLimitReached as exc:
            limited = await _limit_reply(app, agent, inbound, exc)
            if limited is None:
                return twiml()
            reply = limited
        await _store_reply(app, agent, inbound, number_id, reply, status="replied")
        log.info("sms_replied", via="twiml", answered_by=reply.answered_by)
        return twiml(reply.text)
    late = asyncio.create_task(_send_late(app, agent, inbound, number_id, composing))
    app[LATE_REPLIES].tasks.add(late)
    late.add_done_callback(app[LATE_REPLIES].tasks.discard)
    log.info("sms_reply_late", budget_seconds=messaging.sms_reply_budget_seconds)
    return twiml()


async def _compose(app: web.Application, agent: agents.Agent, inbound: InboundText, limits: SmsLimits,
                   defaults: ModelDefaults) -> Reply:
    """The reply, with the agent's tools for the text's conversation (its stretch).

    A thread's first reply opens with the channel's greeting only when the channel sets one of its
    own (`channels.sms.greeting`, `channels.whatsapp.greeting`): the agent's general greeting is
    written to be spoken when a call is answered or shown when the chat panel opens, and a text
    thread is opened by the customer, so it is not inherited here.
    """
    channel: Literal["sms", "whatsapp"] = "whatsapp" if inbound.sender.startswith("whatsapp:") else "sms"
    own = agent.channels.whatsapp if channel == "whatsapp" else agent.channels.sms
    conversation = await sms_conversation(app[POOL], inbound.business_id, inbound.message_id,
                                          ours=inbound.our_number, contact=inbound.sender)
    toolbox = await toolbox_for(app, agent, conversation, channel, phone=inbound.sender)
    return await compose_reply(app[POOL], app[PROVIDERS].llm, agent, inbound, limits=limits, defaults=defaults,
                               payment=app[REPLY_PAYMENT],
                               requests=RequestContext(agent.business_id, agent.id, agent.version or None, channel),
                               grounding=grounding_for(app, agent),
                               cache=agents.cache_scope(agent), tokens=TokenGate(app[TOKEN_POOL], agent.id),
                               toolbox=toolbox or None, conversation=str(conversation),
                               greeting=(own.greeting if own is not None else None) or "")


async def _limit_reply(app: web.Application, agent: agents.Agent, inbound: InboundText,
                       exc: TokenLimitReached) -> Reply | None:
    """The limit text for the sender's first text in the spent period; None (no reply at all) after that."""
    log.info("sms_not_answered", reason=f"{exc.period}ly token limit")
    if not await token_notices.first_notice(app[POOL], agent.id, inbound.sender, exc.period):
        return None
    return Reply(app[SETTINGS].limits.text(exc.period), "fallback", 0, 0)


async def _store_reply(app: web.Application, agent: agents.Agent, inbound: InboundText, number_id: uuid.UUID,
                       reply: Reply, *, status: str) -> uuid.UUID:
    """Store the reply; when it is the unavailable text of a failed model, queue the agent's error emails with it."""
    async with transaction(app[POOL]) as conn:
        stored = await records.insert_outbound_sms(
            conn, business_id=inbound.business_id, number_id=number_id,
            agent_id=agent.id, our_number=inbound.our_number, recipient=inbound.sender, reply=reply, status=status,
            agent_version=agent.version or None)
        if reply.failure is not None:
            await conversation_notices.agent_failed(app, agent, channel=notices.channel_of(inbound.sender),
                                                    problem=reply.failure, db=conn, contact=inbound.sender)
        return stored


async def _send_late(app: web.Application, agent: agents.Agent, inbound: InboundText, number_id: uuid.UUID,
                     composing: asyncio.Future[Reply]) -> None:
    """Wait for the reply that missed the webhook, then send it through the carrier's REST API."""
    try:
        reply = await composing
    except asyncio.CancelledError:
        composing.cancel()
        raise
    except TokenLimitReached as exc:
        limited = await _limit_reply(app, agent, inbound, exc)
        if limited is None:
            return
        reply = limited
    stored = await _store_reply(app, agent, inbound, number_id, reply, status="sending")
    carrier = app[CARRIER]
    if carrier is None:
        log.error("sms_late_reply_unsent", reason="Twilio is not configured")
        await records.mark_sms(app[POOL], stored, status="failed")
        return
    try:
        sid = await carrier.send_sms(inbound.our_number, inbound.sender, reply.text)
    except CarrierError as exc:
        log.error("sms_late_reply_unsent", error=str(exc), code=exc.code, status=exc.status)
        await records.mark_sms(app[POOL], stored, status="failed")
        return
    await records.mark_sms(app[POOL], stored, status="sent", message_sid=sid)
    log.info("sms_replied", via="rest", answered_by=reply.answered_by, reply_sid=sid)


async def _late_replies(app: web.Application) -> AsyncIterator[None]:
    """Give late replies the shutdown grace to go out, then cancel the rest."""
    app[LATE_REPLIES] = LateReplies()
    yield
    pending = set(app[LATE_REPLIES].tasks)
    if pending:
        await asyncio.wait(pending, timeout=app[SETTINGS].server.shutdown_timeout_seconds)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


ROUTES = (
    Route("POST", "/api/voice-agent/handle-sms", handle_sms, "Twilio messaging webhook (SMS, WhatsApp)", "twilio",
          "twilio", (Documented(200, media_type="text/xml", description="TwiML, with the reply when it is ready"),),
          errors=(403,), body=SmsWebhookForm, body_media_type="application/x-www-form-urlencoded",
          headers=(SIGNATURE,)),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
    app.cleanup_ctx.append(_late_replies)

"""`POST /api/chatbot`: the dashboard's test chat with one of the business's agents, or a preview.

Authenticated and scoped to the agent's business (another business's agent answers 404).
Test chats are stored as widget conversations with origin `dashboard`, so the dashboard
can show them and metering treats them like any other chat. With `preview`, the message is
answered from the configuration being edited (`conversations.preview_chat`): fields left out
keep the saved values, `history` is the thread so far, nothing is stored but the bill, and a
user may preview 30 times a minute (every business's agents together).
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web

from agent_server import agents, auth
from agent_server.api.decoding import read_body
from agent_server.api.route import Reply, Route, register
from agent_server.agent_config import Short, Temperature
from agent_server.api.shapes import Body, Uuid, as_optional_uuid, as_uuid
from agent_server.errors import ApiError, NotFound, ValidationError
from agent_server.message_limits import LIMITS_POOL
from agent_server.metrics import METRICS
from agent_server.routes.agent_shapes import FaqList, Prompt
from agent_server.routes.token_settings import limit_reached
from agent_server.routes.widget import answer_turn
from agent_server.state import POOL, PROVIDERS, REPLY_PAYMENT, SETTINGS
from conversations import rate_limits, records
from conversations.conversation import ModelDefaults, Turn
from conversations.gcra import Limit
from conversations.payment import CannotPay
from conversations.preview_chat import preview_reply
from llm_usage import token_settings
from llm_usage.requests import RequestContext
from llm_usage.token_caps import TokenLimitReached
from llm_usage.token_settings import OutputTokens
from media.llm.base import LlmError

ORIGIN = "dashboard"
PREVIEWS_PER_MINUTE = 30
UNSET = msgspec.UNSET


class HistoryTurn(msgspec.Struct, forbid_unknown_fields=True):
    role: Literal["user", "assistant"]
    text: Annotated[str, msgspec.Meta(max_length=20_000)]


class PreviewConfig(Body, forbid_unknown_fields=True):
    """The configuration being edited, checked as the agent's own fields are; a field left out keeps the saved
    value, `""` or null clears the prompt or model (the server's default model), null the temperature."""

    system_prompt: Prompt | None | msgspec.UnsetType = UNSET
    model: Short | None | msgspec.UnsetType = UNSET
    temperature: Temperature | None | msgspec.UnsetType = UNSET
    max_output_tokens: OutputTokens | msgspec.UnsetType = UNSET
    faq: FaqList | msgspec.UnsetType = UNSET


class TestChatBody(Body):
    """One message to one of the business's agents; `conversationId` continues an earlier test chat, `preview`
    answers from an unsaved configuration after `history` (up to 20 turns, oldest first) and stores nothing."""

    chatbot_id: Uuid
    message: str
    conversation_id: Uuid | None = None
    preview: PreviewConfig | None = None
    history: Annotated[list[HistoryTurn], msgspec.Meta(max_length=20)] | None = None


class Usage(msgspec.Struct, rename="camel"):
    prompt_tokens: int
    completion_tokens: int
    # Previews only: prompt tokens the provider served from its cache, and whether the counts are estimates.
    cached_tokens: int | msgspec.UnsetType = UNSET
    estimated: bool | msgspec.UnsetType = UNSET


class TestChatReply(msgspec.Struct, rename="camel", kw_only=True):
    """A test chat's stored reply, or a preview's (`conversationId` null, no `messageId`)."""

    conversation_id: Uuid | None
    message_id: Uuid | msgspec.UnsetType = UNSET
    reply: str
    answered_by: str
    # The model that wrote the reply: a fallback when the agent's own failed; null for an FAQ or cached answer.
    model: str | None
    usage: Usage


async def test_chat(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_body(request, TestChatBody)
    max_chars = request.app[SETTINGS].messaging.max_message_chars
    if len(body.message) > max_chars:
        raise ValidationError("message", f"must be at most {max_chars} characters")
    pool = request.app[POOL]
    agent = await agents.get_agent(pool, as_uuid(body.chatbot_id, "chatbotId"))
    if agent is None:
        raise NotFound("no such chatbot")
    try:
        await auth.business_for(request, str(agent.business_id))
    except NotFound:
        # Another business's agent answers exactly as a missing one: nothing confirms it exists.
        raise NotFound("no such chatbot") from None
    if body.preview is not None:
        return await _preview(request, agent, body, body.preview)
    if body.history is not None:
        raise ValidationError("history", "is sent only with preview (a test chat's history is stored)")
    text = body.message
    conversation_id = as_optional_uuid(body.conversation_id, "conversationId")
    if conversation_id is not None and not await records.conversation_exists(pool, conversation_id, agent.id):
        raise NotFound("no such conversation for this chatbot")
    started = conversation_id is None
    conversation_id = conversation_id or uuid.uuid4()

    async def open_conversation() -> None:
        await records.create_conversation(pool, conversation_id, agent_id=agent.id, business_id=agent.business_id,
                                          origin=ORIGIN)

    try:
        # A turn refused at the cap or by the wallet stores nothing, not even the conversation it would start.
        turn = await answer_turn(request.app, agent, conversation_id, text, channel="dashboard",
                                 open_conversation=open_conversation if started else None)
    except (TokenLimitReached, CannotPay) as exc:
        if isinstance(exc, TokenLimitReached):
            raise limit_reached(request.app, exc) from None
        raise ApiError(402, "INSUFFICIENT_BALANCE", "the business's wallet can't pay for this reply") from None
    except LlmError:
        raise ApiError(503, "LLM_UNAVAILABLE", "the assistant can't answer right now") from None
    reply = turn.reply
    return web.json_response({
        "conversationId": str(conversation_id), "messageId": str(turn.message_id), "reply": reply.text,
        "answeredBy": reply.answered_by, "model": reply.model,
        "usage": {"promptTokens": reply.prompt_tokens, "completionTokens": reply.completion_tokens},
    })


async def _preview(request: web.Request, agent: agents.Agent, body: TestChatBody,
                   preview: PreviewConfig) -> web.Response:
    if body.conversation_id is not None:
        raise ValidationError("conversationId", "a preview belongs to no conversation")
    user = await auth.current_user(request)
    limit = Limit(per_minute=PREVIEWS_PER_MINUTE, burst=PREVIEWS_PER_MINUTE)
    if not await rate_limits.allow(request.app[LIMITS_POOL], rate_limits.Scope.PREVIEW_USER, str(user), limit):
        request.app[METRICS].rate_limited.labels(rate_limits.Scope.PREVIEW_USER.value).inc()
        raise ApiError(429, "RATE_LIMITED", f"at most {PREVIEWS_PER_MINUTE} previews a minute")
    edited = dataclasses.replace(agent, **{k: v for k, v in _overrides(preview).items() if v is not UNSET})
    settings, pool = request.app[SETTINGS], request.app[POOL]
    saved = await token_settings.settings_of(pool, agent.id)
    max_tokens = saved.max_output_tokens if preview.max_output_tokens is UNSET else preview.max_output_tokens
    history = [Turn(t.role, t.text) for t in body.history or ()]
    try:
        out = await preview_reply(
            request.app[PROVIDERS].llm, edited, history, body.message,
            defaults=ModelDefaults(settings.openai.model, settings.openai.temperature,
                                   settings.llm.first_token_timeout_seconds),
            payment=request.app[REPLY_PAYMENT], max_tokens=max_tokens, fallbacks=saved.fallback_models,
            requests=RequestContext(agent.business_id, agent.id, agent.version or None, "preview"))
    except CannotPay:
        raise ApiError(402, "INSUFFICIENT_BALANCE", "the business's wallet can't pay for this reply") from None
    except LlmError:
        raise ApiError(503, "LLM_UNAVAILABLE", "the assistant can't answer right now") from None
    reply = out.reply
    return web.json_response({
        "conversationId": None, "reply": reply.text, "answeredBy": reply.answered_by, "model": reply.model,
        "usage": {"promptTokens": reply.prompt_tokens, "completionTokens": reply.completion_tokens,
                  "cachedTokens": out.cached_tokens, "estimated": out.estimated},
    })


def _overrides(preview: PreviewConfig) -> dict[str, Any]:
    """The agent fields the preview sets (UNSET: keep the saved value)."""
    faq = UNSET if preview.faq is UNSET else tuple(agents.FaqEntry(e.question, e.answer) for e in preview.faq)
    return {"system_prompt": "" if preview.system_prompt is None else preview.system_prompt,
            "model": "" if preview.model is None else preview.model,
            "temperature": preview.temperature, "faq": faq}


ROUTES = (
    Route("POST", "/api/chatbot", test_chat, "Test chat with one of the business's agents", "agents", "jwt",
          (Reply(200, TestChatReply),), errors=(402, 404, 429, 503), body=TestChatBody),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)

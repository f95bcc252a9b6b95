"""`POST /api/chatbot`: the dashboard's test chat with one of the business's agents.

Authenticated and scoped to the agent's business (another business's agent answers 404).
Test chats are stored as widget conversations with origin `dashboard`, so the dashboard
can show them and metering treats them like any other chat.
"""

from __future__ import annotations

import uuid

import msgspec
from aiohttp import web

from agent_server import agents, auth
from agent_server.api.decoding import read_body
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import Body, Uuid, as_optional_uuid, as_uuid
from agent_server.errors import ApiError, NotFound, ValidationError
from agent_server.routes.token_settings import limit_reached
from agent_server.routes.widget import answer_turn
from agent_server.state import POOL, SETTINGS
from conversations import records
from conversations.payment import CannotPay
from llm_usage.token_caps import TokenLimitReached
from media.llm.base import LlmError

ORIGIN = "dashboard"


class TestChatBody(Body):
    """One message to one of the business's agents; `conversationId` continues an earlier test chat."""

    chatbot_id: Uuid
    message: str
    conversation_id: Uuid | None = None


class Usage(msgspec.Struct, rename="camel"):
    prompt_tokens: int
    completion_tokens: int


class TestChatReply(msgspec.Struct, rename="camel"):
    conversation_id: Uuid
    message_id: Uuid
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
    text = body.message
    conversation_id = as_optional_uuid(body.conversation_id, "conversationId")
    if conversation_id is None:
        conversation_id = uuid.uuid4()
        await records.create_conversation(pool, conversation_id, agent_id=agent.id,
                                          business_id=agent.business_id, origin=ORIGIN)
    elif not await records.conversation_exists(pool, conversation_id, agent.id):
        raise NotFound("no such conversation for this chatbot")
    try:
        turn = await answer_turn(request.app, agent, conversation_id, text, channel="dashboard")
    except TokenLimitReached as exc:
        raise limit_reached(request.app, exc) from None
    except CannotPay:
        raise ApiError(402, "INSUFFICIENT_BALANCE", "the business's wallet can't pay for this reply") from None
    except LlmError:
        raise ApiError(503, "LLM_UNAVAILABLE", "the assistant can't answer right now") from None
    reply = turn.reply
    return web.json_response({
        "conversationId": str(conversation_id), "messageId": str(turn.message_id), "reply": reply.text,
        "answeredBy": reply.answered_by, "model": reply.model,
        "usage": {"promptTokens": reply.prompt_tokens, "completionTokens": reply.completion_tokens},
    })


ROUTES = (
    Route("POST", "/api/chatbot", test_chat, "Test chat with one of the business's agents", "agents", "jwt",
          (Reply(200, TestChatReply),), errors=(402, 404, 429, 503), body=TestChatBody),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)

"""The public website widget: config, the embeddable script, the chat socket and a plain POST.

Every route is per agent (`chatbotId`) and public, so each checks the page's `Origin`
against the agent's allowed origins (only PUBLIC_URL's origin when none are set) before
doing any work; the socket is checked before the upgrade. Visitors are rate limited per
conversation and per IP (shared by every process, in PostgreSQL) and messages are size
limited, because each message can cost the business an LLM call. The config is the widget
channel's effective settings (issue 22); chat replies use the agent's own model and
temperature, since the widget channel has no model of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

import aiohttp
import msgspec
import structlog
from aiohttp import web

from agent_server import agents, conversation_notices
from agent_server.agent_tools import toolbox_for
from agent_server.api.decoding import read_body, read_query
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import Query, as_optional_uuid
from agent_server.errors import ApiError, NotFound
from agent_server.form_offers import form_frame, widget_forms
from agent_server.knowledge_embeddings import grounding_for
from agent_server.message_limits import within_limits
from agent_server.state import LIFECYCLE, POOL, PROVIDERS, REPLY_PAYMENT, SETTINGS, SOCKETS
from agent_server.token_pool import TOKEN_POOL
from agent_server.routes.token_settings import LIMIT_CODE, limit_reached
from agent_server.routes.widget_shapes import (
    OPTIONAL_ORIGIN,
    ORIGIN,
    ChatSocketQuery,
    WidgetConfig,
    WidgetMessage,
    WidgetReply,
)
from agent_server.validation import path_uuid
from agent_server.widget_access import allowed_origins, client_ip, origin_allowed, origin_of
from conversations import records
from conversations.conversation import ModelDefaults, OnDelta
from conversations.payment import CannotPay
from conversations.rate_limits import Scope
from conversations.widget_chat import TurnResult, take_turn
from conversations.widget_messages import Delta, Done, Error, UserMessage
from llm_usage.requests import Channel as LlmChannel
from llm_usage.requests import RequestContext
from llm_usage.token_caps import TokenLimitReached
from llm_usage.token_gate import TokenGate
from media.llm.base import LlmError

log = structlog.get_logger(__name__)
# The business's wallet can't pay for a reply: the widget shows this instead of an answer.
UNPAID_CODE = "INSUFFICIENT_BALANCE"
UNPAID_MESSAGE = "the assistant is unavailable right now"

STATIC = Path(__file__).resolve().parent.parent / "static"
# Pending visitor messages per socket while one is being answered.
SOCKET_QUEUE_SIZE = 4
class Refused(Exception):
    """A visitor message turned away before any work, with the code the widget shows."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


async def public_agent(request: web.Request) -> agents.Agent:
    agent = await agents.get_agent(request.app[POOL], path_uuid(request, "chatbotId"))
    if agent is None or not agent.active:
        raise NotFound("no such chatbot")
    return agent


def checked_origin(request: web.Request, agent: agents.Agent, *, required: bool) -> str | None:
    """The request's Origin when allowed (None when absent and not required).

    The server's own origin (PUBLIC_URL's) is allowed too while the widget channel's
    `messengerEnabled` is on: the hosted chat page (`/m/{chatbotId}`) is served from it.

    Raises:
        ApiError: 403 ORIGIN_NOT_ALLOWED.
    """
    origin = request.headers.get("Origin")
    if origin is None and not required:
        return None
    public_url = request.app[SETTINGS].server.public_url
    hosted = agents.effective(agent).widget.messenger_enabled and origin_of(origin or "") == origin_of(public_url)
    if not hosted and not origin_allowed(origin, agent.allowed_origins, public_url):
        raise ApiError(403, "ORIGIN_NOT_ALLOWED", "this site may not use this chatbot")
    return origin


def cors(response: web.StreamResponse, origin: str | None) -> web.StreamResponse:
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response


def visitor_ip(request: web.Request) -> str:
    hops = request.app[SETTINGS].messaging.forwarded_for_hops
    return client_ip(request.remote, request.headers.get("X-Forwarded-For", ""), hops)


async def check_message(app: web.Application, text: str, ip: str, conversation_key: str) -> None:
    """Size and rate limits for one visitor message.

    Raises:
        Refused: MESSAGE_TOO_LONG (413) or RATE_LIMITED (429).
    """
    messaging = app[SETTINGS].messaging
    if len(text) > messaging.max_message_chars:
        raise Refused(413, "MESSAGE_TOO_LONG", f"messages are limited to {messaging.max_message_chars} characters")
    if not await within_limits(app, [(Scope.WIDGET_CONVERSATION, conversation_key), (Scope.WIDGET_IP, ip)]):
        raise Refused(429, "RATE_LIMITED", "too many messages; please wait a moment")


async def answer_turn(app: web.Application, agent: agents.Agent, conversation_id: uuid.UUID, text: str,
                      on_delta: OnDelta | None = None, channel: LlmChannel = "widget",
                      open_conversation: Callable[[], Awaitable[None]] | None = None) -> TurnResult:
    """One turn of the widget (or, as `channel` says, the dashboard's test chat); `open_conversation` creates
    the conversation this message starts, once the turn is admitted (`take_turn`)."""
    settings = app[SETTINGS]
    toolbox = await toolbox_for(app, agent, conversation_id, "widget")
    return await take_turn(app[POOL], app[PROVIDERS].llm, agent, conversation_id, text,
                           history_length=settings.messaging.thread_length,
                           defaults=ModelDefaults(settings.openai.model, settings.openai.temperature,
                                                  settings.llm.first_token_timeout_seconds),
                           payment=app[REPLY_PAYMENT], on_delta=on_delta,
                           requests=RequestContext(agent.business_id, agent.id, agent.version or None, channel),
                           grounding=grounding_for(app, agent),
                           cache=agents.cache_scope(agent), agent_version=agent.version or None,
                           toolbox=toolbox or None, open_conversation=open_conversation,
                           tokens=TokenGate(app[TOKEN_POOL], agent.id))


async def get_config(request: web.Request) -> web.StreamResponse:
    agent = await public_agent(request)
    origin = checked_origin(request, agent, required=False)
    widget = agents.effective(agent).widget
    extra = {k: v for k, v in agent.widget_theme.items() if isinstance(v, str)}
    body = {"chatbotId": str(agent.id), "name": agent.name, "greeting": widget.greeting,
            "theme": {**extra, **msgspec.to_builtins(widget.theme)},
            "allowedOrigins": sorted(allowed_origins(agent.allowed_origins,
                                                     request.app[SETTINGS].server.public_url)),
            "maxMessageChars": request.app[SETTINGS].messaging.max_message_chars,
            "placeholder": widget.placeholder, "formatting": widget.formatting, "faqButtons": widget.faq_buttons,
            "voiceEnabled": widget.voice_enabled, "messengerEnabled": widget.messenger_enabled,
            "forms": await widget_forms(request.app[POOL], agent.id)}
    return cors(web.json_response(body), origin)


class ScriptQuery(Query):
    part: Literal["chat", "voice"] = "chat"


async def get_script(request: web.Request) -> web.StreamResponse:
    """The widget's script; `?part=voice` is its mic button's client (`voice.js`, loaded by the widget only with
    `voiceEnabled`), which is also the module of its AudioWorklet processors: a worklet module is fetched in
    CORS mode from the host page's origin, so that part is served to any origin (it holds nothing of any
    business)."""
    await public_agent(request)
    voice = read_query(request, ScriptQuery).part == "voice"
    headers = {"Cache-Control": "public, max-age=300", **({"Access-Control-Allow-Origin": "*"} if voice else {})}
    return web.Response(body=(STATIC / ("voice.js" if voice else "widget.js")).read_bytes(),
                        content_type="application/javascript", headers=headers)


async def preflight(request: web.Request) -> web.StreamResponse:
    agent = await public_agent(request)
    origin = checked_origin(request, agent, required=True)
    response = web.Response(status=204, headers={"Access-Control-Allow-Methods": "POST",
                                                 "Access-Control-Allow-Headers": "Content-Type",
                                                 "Access-Control-Max-Age": "600"})
    return cors(response, origin)


async def post_message(request: web.Request) -> web.StreamResponse:
    return await answer_message(request, await public_agent(request), WidgetMessage)


async def answer_message(request: web.Request, agent: agents.Agent, shape: type[WidgetMessage]) -> web.StreamResponse:
    """A visitor's message to `agent`, answered in full (the widget route and its aliases)."""
    origin = checked_origin(request, agent, required=True)
    body = await read_body(request, shape)
    text, resume = body.text, as_optional_uuid(body.conversation_id, "conversationId")
    pool = request.app[POOL]
    if resume is not None and not await records.conversation_exists(pool, resume, agent.id):
        raise ApiError(404, "CONVERSATION_NOT_FOUND", "no such conversation")
    conversation_id = resume or uuid.uuid4()
    try:
        await check_message(request.app, text, visitor_ip(request), str(conversation_id))
    except Refused as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None

    async def open_conversation() -> None:
        await conversation_notices.start_widget_conversation(request.app, conversation_id, agent, origin=origin or "",
                                                             first_message=text)

    try:
        turn = await answer_turn(request.app, agent, conversation_id, text,
                                 open_conversation=open_conversation if resume is None else None)
    except CannotPay:
        raise ApiError(402, UNPAID_CODE, UNPAID_MESSAGE) from None
    except TokenLimitReached as exc:
        raise limit_reached(request.app, exc) from None
    except LlmError as exc:
        log.warning("widget_reply_failed", error=str(exc))
        await conversation_notices.agent_failed(request.app, agent, channel="widget", problem=str(exc),
                                                conversation_id=conversation_id)
        raise ApiError(503, "LLM_UNAVAILABLE", "the assistant can't answer right now") from None
    return cors(web.json_response({"conversationId": str(conversation_id), "messageId": str(turn.message_id),
                                   "text": turn.reply.text, "answeredBy": turn.reply.answered_by,
                                   "sources": [{"title": s.title, "url": s.url} for s in turn.reply.sources]}),
                origin)


class WidgetSession:
    """One visitor's socket: a reader that checks and queues messages, a worker that answers them."""

    def __init__(self, app: web.Application, ws: web.WebSocketResponse, agent: agents.Agent, origin: str,
                 ip: str, resumed: uuid.UUID | None) -> None:
        self.app, self.ws, self.agent, self.origin, self.ip = app, ws, agent, origin, ip
        # A new conversation's id is chosen now and stored with its first admitted message.
        self.conversation_id = resumed or uuid.uuid4()
        self.stored = resumed is not None
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=SOCKET_QUEUE_SIZE)

    async def send(self, message: Delta | Done | Error) -> None:
        await self.ws.send_str(message.encode().decode())

    async def run(self) -> None:
        worker = asyncio.create_task(self._work())
        try:
            async for frame in self.ws:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    await self._receive(frame.data)
                elif frame.type == aiohttp.WSMsgType.BINARY:
                    await self.send(Error("INVALID_MESSAGE", "send JSON text frames"))
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await worker

    async def _receive(self, raw: str) -> None:
        try:
            message = UserMessage.parse(raw)
            await check_message(self.app, message.text, self.ip, str(self.conversation_id))
            self.queue.put_nowait(message.text)
        except ValueError as exc:
            await self.send(Error("INVALID_MESSAGE", str(exc)))
        except Refused as exc:
            await self.send(Error(exc.code, exc.message))
        except asyncio.QueueFull:
            await self.send(Error("BUSY", "please wait for the answer before sending more"))

    async def _work(self) -> None:
        try:
            await self._answer_queued()
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception:
            log.exception("widget_session_failed")
            await self.ws.close(code=aiohttp.WSCloseCode.INTERNAL_ERROR, message=b"internal error")

    def _opener(self, text: str) -> Callable[[], Awaitable[None]]:
        """Creates the conversation `text` starts (and its notice) when its turn is admitted."""
        async def open_conversation() -> None:
            await conversation_notices.start_widget_conversation(self.app, self.conversation_id, self.agent,
                                                                 origin=self.origin, first_message=text)
            self.stored = True
        return open_conversation

    async def _answer_queued(self) -> None:
        while True:
            text = await self.queue.get()
            try:
                turn = await answer_turn(self.app, self.agent, self.conversation_id, text,
                                         on_delta=lambda piece: self.send(Delta(piece)),
                                         open_conversation=None if self.stored else self._opener(text))
            except LlmError as exc:
                log.warning("widget_reply_failed", error=str(exc))
                await conversation_notices.agent_failed(self.app, self.agent, channel="widget", problem=str(exc),
                                                        conversation_id=self.conversation_id)
                await self.send(Error("LLM_UNAVAILABLE", "the assistant can't answer right now"))
                continue
            except CannotPay:
                await self.send(Error(UNPAID_CODE, UNPAID_MESSAGE))
                continue
            except TokenLimitReached as exc:
                await self.send(Error(LIMIT_CODE, self.app[SETTINGS].limits.text(exc.period)))
                continue
            await self.send(Done(self.conversation_id, turn.message_id,
                                 tuple((s.title, s.url) for s in turn.reply.sources)))
            frame = await form_frame(self.app[POOL], self.agent.id, text)
            if frame is not None:
                await self.ws.send_str(frame)


async def chat_socket(request: web.Request) -> web.StreamResponse:
    agent = await public_agent(request)
    origin = checked_origin(request, agent, required=True)
    if request.app[LIFECYCLE].draining:
        raise ApiError(503, "DRAINING", "server is restarting; reconnect shortly")
    resume = request.query.get("conversationId")
    settings = request.app[SETTINGS]
    ws = web.WebSocketResponse(heartbeat=settings.server.websocket_heartbeat_seconds,
                               max_msg_size=settings.messaging.max_message_chars * 4 + 1024)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    structlog.contextvars.bind_contextvars(chatbot_id=str(agent.id), business_id=str(agent.business_id))
    conversation_id = await _resumable(request.app, agent, resume)
    if resume and conversation_id is None:
        await ws.send_str(Error("CONVERSATION_NOT_FOUND", "start a new conversation").encode().decode())
        await ws.close(code=aiohttp.WSCloseCode.POLICY_VIOLATION, message=b"unknown conversation")
        return ws
    session = WidgetSession(request.app, ws, agent, origin or "", visitor_ip(request), conversation_id)
    log.info("widget_connected", resumed=session.stored)
    await session.run()
    log.info("widget_disconnected", close_code=ws.close_code)
    return ws


async def _resumable(app: web.Application, agent: agents.Agent, raw: str | None) -> uuid.UUID | None:
    if not raw:
        return None
    try:
        conversation_id = uuid.UUID(raw)
    except ValueError:
        return None
    return conversation_id if await records.conversation_exists(app[POOL], conversation_id, agent.id) else None


async def demo_page(request: web.Request) -> web.StreamResponse:
    """A page embedding the widget the way a business's site would (`?agent=` or the demo agent)."""
    pool = request.app[POOL]
    raw = request.query.get("agent")
    try:
        agent_id = uuid.UUID(raw) if raw else await records.demo_agent_id(pool)
    except ValueError:
        agent_id = None
    agent = None if agent_id is None else await agents.get_agent(pool, agent_id)
    if agent is None:
        raise NotFound("no demo agent: run `agent-server serve --demo` on an empty database, or pass ?agent=ID")
    page = (STATIC / "demo.html").read_text().replace("{{AGENT_ID}}", str(agent.id))
    script_url = f"{request.app[SETTINGS].server.public_url}/api/widget/{agent.id}/script.js"
    page = page.replace("{{AGENT_NAME}}", html.escape(agent.name)).replace("{{SCRIPT_URL}}", html.escape(script_url))
    return web.Response(text=page, content_type="text/html")


_WIDGET_ERRORS = (403, 404)
ROUTES = (
    Route("GET", "/api/widget/{chatbotId}/config", get_config, "The widget's name, greeting and theme", "widget",
          "public", (Reply(200, WidgetConfig),), errors=_WIDGET_ERRORS, headers=(OPTIONAL_ORIGIN,)),
    Route("GET", "/api/widget/{chatbotId}/script.js", get_script, "The embeddable widget script", "widget", "public",
          (Reply(200, media_type="application/javascript", description="JavaScript"),), errors=(404,),
          query=ScriptQuery),
    Route("GET", "/api/widget/{chatbotId}/ws", chat_socket, "The visitor's chat websocket", "widget", "public",
          (Reply(101, description="Switching Protocols: widget chat messages"),), errors=(*_WIDGET_ERRORS, 503),
          query=ChatSocketQuery, headers=(ORIGIN,), websocket=True),
    Route("POST", "/api/widget/{chatbotId}/message", post_message, "A visitor's message, answered in full",
          "widget", "public", (Reply(200, WidgetReply),), errors=(*_WIDGET_ERRORS, 402, 413, 429, 503),
          body=WidgetMessage, headers=(ORIGIN,)),
    Route("OPTIONS", "/api/widget/{chatbotId}/message", preflight, "CORS preflight of the message route", "widget",
          "public", (Reply(204, description="Allowed"),), errors=_WIDGET_ERRORS, headers=(ORIGIN,)),
    Route("GET", "/demo", demo_page, "A page embedding the demo agent's widget", "widget", "public",
          (Reply(200, media_type="text/html", description="HTML"),), errors=(404,)),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)

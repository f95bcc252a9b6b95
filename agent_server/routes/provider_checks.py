"""The provider check: real round trips to the model, voice, speech and phone providers an agent's channels use.

`POST /api/agents/{agentId}/validate` checks every channel's (each distinct model, the voice
channel's voice and language, Twilio's account and the webhooks of each number routed to the
agent); `POST /api/voice/validate` and `POST /api/whatsapp/validate` (body `{"agent_id": ...}`,
the dashboard's snake_case like its other alias calls) check one channel: the voice channel's
model, voice, language and numbers' voice webhooks; the WhatsApp channel's model and numbers'
SMS webhooks (WhatsApp texts arrive on the SMS webhook). All round trips run at once, each
within 5 s. A business may run 6 checks a minute (429 RATE_LIMITED beyond): each one spends
provider quota.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Literal

from aiohttp import web

from agent_server import agent_edits, agents
from agent_server.api.decoding import read_body
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.errors import ApiError, NotFound
from agent_server.message_limits import LIMITS_POOL
from agent_server.metrics import METRICS
from agent_server.routes.agents import own_agent
from agent_server.routes.check_shapes import ChannelCheck, CheckErrorOut, CheckOut, CheckReport
from agent_server.state import HTTP, POOL, PROVIDERS, SETTINGS
from agent_server.validation import path_uuid
from conversations import rate_limits
from conversations.gcra import Limit
from media.checks.probes import MediaAccounts, Targets, check_media
from media.checks.results import CheckResult
from phone_numbers.number_checks import Hook, TwilioAccount, check_twilio

CHECKS_PER_MINUTE = 6
Scope = Literal["all", "voice", "whatsapp"]


def targets(agent: agents.Agent, scope: Scope, default_model: str) -> tuple[Targets, list[Hook]]:
    """What `scope` of the agent uses (an empty model is the process default) and which webhooks to compare."""
    effective = agents.effective(agent)
    voice = effective.voice
    models: list[str]
    hooks: list[Hook]
    if scope == "voice":
        models, hooks = [voice.model], ["voice"]
    elif scope == "whatsapp":
        models, hooks = [effective.whatsapp.model], ["sms"]
    else:
        models, hooks = [voice.model, effective.sms.model, effective.whatsapp.model, agent.model], ["voice", "sms"]
    speech = scope != "whatsapp"
    return Targets(models=tuple(m or default_model for m in models), voices=(voice.voice,) if speech else (),
                   languages=(voice.language,) if speech else ()), hooks


def _out(result: CheckResult) -> CheckOut:
    error = None if result.error is None else CheckErrorOut(code=result.error.code, message=result.error.message)
    return CheckOut(provider=result.provider, kind=result.kind, target=result.target or "default", ok=result.ok,
                    latency_ms=result.latency_ms, error=error, local=result.local)


async def _within_limit(request: web.Request, business_id: uuid.UUID) -> None:
    limit = Limit(per_minute=CHECKS_PER_MINUTE, burst=CHECKS_PER_MINUTE)
    scope = rate_limits.Scope.PROVIDER_CHECK
    if not await rate_limits.allow(request.app[LIMITS_POOL], scope, str(business_id), limit):
        request.app[METRICS].rate_limited.labels(scope.value).inc()
        raise ApiError(429, "RATE_LIMITED", f"at most {CHECKS_PER_MINUTE} provider checks a minute")


async def run_check(request: web.Request, agent: agents.Agent, scope: Scope) -> web.Response:
    await _within_limit(request, agent.business_id)
    app = request.app
    settings, providers, session = app[SETTINGS], app[PROVIDERS], app[HTTP]
    wanted, hooks = targets(agent, scope, settings.openai.model)
    accounts = MediaAccounts(session=session, openai=settings.openai, deepgram=settings.deepgram,
                             tts=providers.tts, stt=providers.stt)
    twilio = settings.twilio
    numbers = await agent_edits.routed_numbers(app[POOL], agent.id)
    media, phone = await asyncio.gather(
        check_media(accounts, wanted),
        check_twilio(session, TwilioAccount(twilio.account_sid, twilio.auth_token, twilio.api_base), numbers,
                     hooks=hooks, public_url=settings.server.public_url))
    results = [_out(r) for r in (*media, *phone)]
    return struct_response(CheckReport(ok=all(r.ok for r in results), results=results))


async def validate_agent(request: web.Request) -> web.Response:
    return await run_check(request, await own_agent(request, path_uuid(request, "agentId")), "all")


async def _aliased(request: web.Request) -> agents.Agent:
    body = await read_body(request, ChannelCheck)
    try:
        agent_id = uuid.UUID(body.agent_id)
    except ValueError:
        raise NotFound("no such agent") from None
    return await own_agent(request, agent_id)


async def validate_voice(request: web.Request) -> web.Response:
    return await run_check(request, await _aliased(request), "voice")


async def validate_whatsapp(request: web.Request) -> web.Response:
    return await run_check(request, await _aliased(request), "whatsapp")


_REPLY = (Reply(200, CheckReport),)
ROUTES = (
    Route("POST", "/api/agents/{agentId}/validate", validate_agent,
          "Check every provider the agent's channels use (real round trips, 5 s each)", "agents", "jwt", _REPLY,
          errors=(404, 429)),
    Route("POST", "/api/voice/validate", validate_voice, "Check the providers of the agent's voice channel",
          "agents", "jwt", _REPLY, errors=(404, 422, 429), body=ChannelCheck),
    Route("POST", "/api/whatsapp/validate", validate_whatsapp, "Check the providers of the agent's WhatsApp channel",
          "agents", "jwt", _REPLY, errors=(404, 422, 429), body=ChannelCheck),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)

"""`GET|PUT /api/agents/{agentId}/token-settings`: an agent's token caps and what it used this UTC day and month.

A PUT changes only the fields it sends (null: no limit), so a dashboard can set one cap without
knowing the others; the agent PATCH accepts the same fields with the same checks. Another
business's agent answers 404 like a missing one.
"""

from __future__ import annotations

import datetime
import uuid

import msgspec
from aiohttp import web

from agent_server.api.decoding import read_body
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import Body
from agent_server.errors import ApiError
from agent_server.routes.agents import own_agent
from agent_server.state import POOL, SETTINGS
from agent_server.validation import path_uuid
from llm_usage import token_budgets, token_settings
from llm_usage.token_caps import TokenLimitReached, resets_at
from llm_usage.token_settings import FallbackModels, OutputTokens, TokenLimit, TokenSettings
from storage.executor import Executor


class TokenSettingsChange(Body, forbid_unknown_fields=True):
    """The token settings to change; fields left out keep their value, a null limit means none."""

    daily_token_limit: TokenLimit | None | msgspec.UnsetType = msgspec.UNSET
    monthly_token_limit: TokenLimit | None | msgspec.UnsetType = msgspec.UNSET
    max_output_tokens: OutputTokens | msgspec.UnsetType = msgspec.UNSET
    fallback_models: FallbackModels | msgspec.UnsetType = msgspec.UNSET


class TokensUsed(msgspec.Struct, rename="camel", kw_only=True):
    day: int
    month: int


class ResetsAt(msgspec.Struct, rename="camel", kw_only=True):
    """When each UTC period's count starts again from 0."""

    day: str
    month: str


class TokenSettingsOut(msgspec.Struct, rename="camel", kw_only=True):
    daily_token_limit: int | None
    monthly_token_limit: int | None
    max_output_tokens: int
    fallback_models: list[str]
    used: TokensUsed
    resets_at: ResetsAt


LIMIT_CODE = "TOKEN_LIMIT_REACHED"


def limit_reached(app: web.Application, exc: TokenLimitReached) -> ApiError:
    """The 429 of a reply refused at the agent's token cap: the configured text, the period and when it resets."""
    return ApiError(429, LIMIT_CODE, app[SETTINGS].limits.text(exc.period), period=exc.period,
                    resetsAt=exc.resets_at.isoformat())


async def settings_out(db: Executor, agent_id: uuid.UUID, settings: TokenSettings) -> TokenSettingsOut:
    now = datetime.datetime.now(datetime.UTC)
    used = await token_budgets.used(db, agent_id, now=now)
    return TokenSettingsOut(
        daily_token_limit=settings.daily_limit, monthly_token_limit=settings.monthly_limit,
        max_output_tokens=settings.max_output_tokens, fallback_models=list(settings.fallback_models),
        used=TokensUsed(day=used.day, month=used.month),
        resets_at=ResetsAt(day=resets_at("day", now).isoformat(), month=resets_at("month", now).isoformat()))


async def get_token_settings(request: web.Request) -> web.Response:
    agent = await own_agent(request, path_uuid(request, "agentId"))
    pool = request.app[POOL]
    return struct_response(await settings_out(pool, agent.id, await token_settings.settings_of(pool, agent.id)))


async def put_token_settings(request: web.Request) -> web.Response:
    agent = await own_agent(request, path_uuid(request, "agentId"))
    body = await read_body(request, TokenSettingsChange)
    pool = request.app[POOL]
    saved = await token_settings.update(pool, agent.id, token_settings.wire_changes(body))
    return struct_response(await settings_out(pool, agent.id, saved))


ROUTES = (
    Route("GET", "/api/agents/{agentId}/token-settings", get_token_settings,
          "The agent's token caps and its tokens used this UTC day and month", "agents", "jwt",
          (Reply(200, TokenSettingsOut),), errors=(404,)),
    Route("PUT", "/api/agents/{agentId}/token-settings", put_token_settings,
          "Change the agent's token caps (fields left out keep their value)", "agents", "jwt",
          (Reply(200, TokenSettingsOut),), errors=(404,), body=TokenSettingsChange),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)

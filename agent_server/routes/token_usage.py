"""`GET /api/usage/tokens`: a business's (or one agent's) LLM tokens, provider cost and charges per day or model."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

import msgspec
from aiohttp import web

from agent_server import auth
from agent_server.api.decoding import read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import Instant, Query, Uuid, as_optional_uuid
from agent_server.errors import ValidationError
from agent_server.routes.agents import own_agent
from agent_server.state import POOL, SETTINGS
from agent_server.validation import get_instant
from billing.money import Currency
from billing.provider_costs import minor_to_micros
from llm_usage.report import ReportFilter, TokenTotals, token_report

DEFAULT_DAYS = 30
MAX_DAYS = 366

InstantParam = Annotated[str, msgspec.Meta(description="ISO 8601 date or date-time; without an offset, UTC")]
ChannelParam = Literal["voice", "sms", "whatsapp", "widget", "dashboard", "preview", "analysis"]


class TokenUsageQuery(Query):
    business_id: Uuid | None = None
    agent_id: Uuid | None = None
    from_: InstantParam | None = msgspec.field(default=None, name="from")
    to: InstantParam | None = None
    group: Literal["day", "model"] = "day"
    channel: ChannelParam | None = None


class TokenUsageRow(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """One day's (`period`, UTC) or one served model's (`model`) attempts; the totals have neither.

    `providerCostMicros` (micro-USD, unpriced attempts left out) and `marginMicros` (USD charged
    minus that cost) are absent when `[usage] expose_provider_cost` is false.
    """

    period: str | None = None
    model: str | None = None
    requests: int
    failed_attempts: int
    fallbacks: int
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    estimated_requests: int
    provider_cost_micros: int | None = None
    unpriced_requests: int
    charged: dict[str, int]
    margin_micros: int | None = None
    answer_cache_hits: int


class TokenUsageReport(msgspec.Struct, rename="camel", kw_only=True):
    business_id: Uuid
    agent_id: Uuid | None
    channel: str | None
    from_: Instant = msgspec.field(name="from")
    to: Instant
    group: str
    rows: list[TokenUsageRow]
    totals: TokenUsageRow


def _row(totals: TokenTotals, show_cost: bool, **key: str) -> TokenUsageRow:
    margin = None
    if show_cost:
        margin = minor_to_micros(totals.charged.get(Currency.USD.value, 0), Currency.USD) - totals.provider_cost_micros
    return TokenUsageRow(
        **key, requests=totals.requests, failed_attempts=totals.failed_attempts, fallbacks=totals.fallbacks,
        input_tokens=totals.input_tokens, cached_tokens=totals.cached_tokens, output_tokens=totals.output_tokens,
        estimated_requests=totals.estimated_requests,
        provider_cost_micros=totals.provider_cost_micros if show_cost else None,
        unpriced_requests=totals.unpriced_requests, charged=totals.charged, margin_micros=margin,
        answer_cache_hits=totals.answer_cache_hits)


def _range(query: TokenUsageQuery) -> tuple[datetime.datetime, datetime.datetime]:
    """[from, to): the last 30 days by default, at most 366."""
    end: datetime.datetime = get_instant({"to": query.to}, "to", default=datetime.datetime.now(datetime.UTC))
    start: datetime.datetime = get_instant({"from": query.from_}, "from",
                                           default=end - datetime.timedelta(days=DEFAULT_DAYS))
    if start >= end:
        raise ValidationError("from", "must be before to")
    if end - start > datetime.timedelta(days=MAX_DAYS):
        raise ValidationError("from", f"the range can be at most {MAX_DAYS} days")
    return start, end


async def get_token_usage(request: web.Request) -> web.Response:
    """An `agentId` of another business answers 404 exactly like a missing one (it names the business)."""
    query = read_query(request, TokenUsageQuery)
    agent_id = as_optional_uuid(query.agent_id, "agentId")
    if agent_id is not None:
        business_id = (await own_agent(request, agent_id)).business_id
    else:
        business_id = (await auth.business_for(request, query.business_id)).business_id
    start, end = _range(query)
    where = ReportFilter(business_id, start, end, agent_id, query.channel)
    found = await token_report(request.app[POOL], where, query.group)
    show_cost = request.app[SETTINGS].usage.expose_provider_cost
    totals = TokenTotals()
    rows = []
    for key, sums in found.items():
        totals.add(sums)
        rows.append(_row(sums, show_cost, **{"period" if query.group == "day" else "model": key}))
    return struct_response(TokenUsageReport(
        business_id=str(business_id), agent_id=query.agent_id, channel=query.channel, from_=start.isoformat(),
        to=end.isoformat(), group=query.group, rows=rows, totals=_row(totals, show_cost)))


ROUTES = (
    Route("GET", "/api/usage/tokens", get_token_usage,
          "LLM tokens, provider cost and charges per day or model, for the business or one agent", "billing", "jwt",
          (Reply(200, TokenUsageReport),), errors=(403, 404), query=TokenUsageQuery),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)

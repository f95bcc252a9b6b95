"""What a business spent, per kind of usage and per day, week or month."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

import msgspec
from aiohttp import web

from agent_server import auth
from agent_server.api.decoding import read_query
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import Instant, Query, Uuid
from agent_server.errors import ValidationError
from agent_server.validation import get_instant
from agent_server.state import POOL
from billing.usage import USAGE_KINDS, usage_report

DEFAULT_DAYS = 30
MAX_DAYS = 366

InstantParam = Annotated[str, msgspec.Meta(description="ISO 8601 date or date-time; without an offset, UTC")]


class UsageQuery(Query):
    business_id: Uuid | None = None
    from_: InstantParam | None = msgspec.field(default=None, name="from")
    to: InstantParam | None = None
    group: Literal["day", "week", "month"] = "day"


class UsagePeriod(msgspec.Struct, kw_only=True):
    """One period's spending in one currency, minor units per kind of usage."""

    period: str
    currency: str
    call_usage: int
    sms_usage: int
    chat_usage: int
    number_purchase: int
    number_rent: int


class UsageReport(msgspec.Struct, rename="camel", kw_only=True):
    business_id: Uuid
    from_: Instant = msgspec.field(name="from")
    to: Instant
    group: str
    totals: dict[str, dict[str, int]]
    periods: list[UsagePeriod]


async def get_usage(request: web.Request) -> web.Response:
    query = read_query(request, UsageQuery)
    membership = await auth.business_for(request, query.business_id)
    now = datetime.datetime.now(datetime.UTC)
    end: datetime.datetime = get_instant({"to": query.to}, "to", default=now)
    start: datetime.datetime = get_instant({"from": query.from_}, "from",
                                           default=end - datetime.timedelta(days=DEFAULT_DAYS))
    if start >= end:
        raise ValidationError("from", "must be before to")
    if end - start > datetime.timedelta(days=MAX_DAYS):
        raise ValidationError("from", f"the range can be at most {MAX_DAYS} days")
    group = query.group
    periods = await usage_report(request.app[POOL], membership.business_id, start=start, end=end, group=group)
    totals: dict[str, dict[str, int]] = {}
    for p in periods:
        bucket = totals.setdefault(p.currency, dict.fromkeys(USAGE_KINDS, 0))
        for kind, spent in p.totals.items():
            bucket[kind] += spent
    return web.json_response({
        "businessId": str(membership.business_id), "from": start.isoformat(), "to": end.isoformat(),
        "group": group, "totals": totals,
        "periods": [{"period": p.period.isoformat(), "currency": p.currency,
                     **{kind: p.totals.get(kind, 0) for kind in USAGE_KINDS}} for p in periods],
    })


ROUTES = (
    Route("GET", "/api/usage", get_usage, "Spending per kind of usage and per day, week or month", "billing", "jwt",
          (Reply(200, UsageReport),), errors=(403, 404), query=UsageQuery),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)

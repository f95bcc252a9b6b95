"""What a business spent, per kind of usage and per day, week or month."""

from __future__ import annotations

import datetime

from aiohttp import web

from agent_server import auth
from agent_server.errors import ValidationError
from agent_server.validation import get_instant
from agent_server.state import POOL
from billing.usage import USAGE_KINDS, usage_report

DEFAULT_DAYS = 30
MAX_DAYS = 366


async def get_usage(request: web.Request) -> web.Response:
    membership = await auth.business_for(request, request.query.get("businessId"))
    now = datetime.datetime.now(datetime.UTC)
    end: datetime.datetime = get_instant(request.query, "to", default=now)
    start: datetime.datetime = get_instant(request.query, "from", default=end - datetime.timedelta(days=DEFAULT_DAYS))
    if start >= end:
        raise ValidationError("from", "must be before to")
    if end - start > datetime.timedelta(days=MAX_DAYS):
        raise ValidationError("from", f"the range can be at most {MAX_DAYS} days")
    group = request.query.get("group", "day")
    if group not in ("day", "week", "month"):
        raise ValidationError("group", "must be day, week or month")
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


def setup(app: web.Application) -> None:
    app.router.add_get("/api/usage", get_usage)

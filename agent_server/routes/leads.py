"""The business's leads: `GET /api/leads` (JSON pages, or CSV with `Accept: text/csv`) and a batch extraction.

Pages are newest first with an opaque cursor (the last lead's time and id), so a lead added
while paging never shifts the pages already read. The CSV carries every lead of the range
(no cursor), with each cell that a spreadsheet would run as a formula prefixed by `'`.
"""

from __future__ import annotations

import base64
import csv
import datetime
import io
import uuid
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web

from agent_server import auth
from agent_server.api.decoding import read_body, read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import Body, Instant, Query, Uuid
from agent_server.errors import ValidationError
from agent_server.routes.conversation_outcomes import lead_view
from agent_server.state import POOL
from agent_server.validation import get_instant
from jobs import queue
from outcomes import lead_records
from outcomes.job_handlers import EXTRACT_BATCH_KIND

PAGE = 100
CSV_MAX = 10_000
DEFAULT_DAYS = 30
MAX_DAYS = 366
ChannelName = Literal["widget", "sms", "whatsapp", "call"]
InstantParam = Annotated[str, msgspec.Meta(description="ISO 8601 date or date-time; without an offset, UTC")]
CSV_COLUMNS = ("createdAt", "channel", "name", "phone", "email", "company", "intent", "confidence", "reason",
               "fromChannelId", "conversationId", "contactId")


class LeadsQuery(Query):
    business_id: Uuid | None = None
    from_: InstantParam | None = msgspec.field(default=None, name="from")
    to: InstantParam | None = None
    channel: ChannelName | None = None
    cursor: str | None = None


class LeadPage(msgspec.Struct, rename="camel", kw_only=True):
    """Leads newest first; `nextCursor` (null on the last page) asks for the next page."""

    business_id: Uuid
    leads: list[dict[str, Any]]
    next_cursor: str | None


class BatchBody(Body):
    from_: InstantParam = msgspec.field(name="from")
    to: InstantParam
    business_id: Uuid | None = None
    channel: ChannelName | None = None


class BatchQueued(msgspec.Struct, rename="camel", kw_only=True):
    """`jobId` null: the same batch is already queued."""

    job_id: int | None
    status: str


def _range(start_raw: str | None, end_raw: str | None, *, required: bool = False) -> tuple[datetime.datetime,
                                                                                         datetime.datetime]:
    now = datetime.datetime.now(datetime.UTC)
    if required and not (start_raw and end_raw):
        raise ValidationError("from" if not start_raw else "to", "is required")
    end: datetime.datetime = get_instant({"to": end_raw}, "to", default=now)
    start: datetime.datetime = get_instant({"from": start_raw}, "from",
                                           default=end - datetime.timedelta(days=DEFAULT_DAYS))
    if start >= end:
        raise ValidationError("from", "must be before to")
    if end - start > datetime.timedelta(days=MAX_DAYS):
        raise ValidationError("from", f"the range can be at most {MAX_DAYS} days")
    return start, end


def _encode_cursor(lead: lead_records.LeadRow) -> str:
    return base64.urlsafe_b64encode(f"{lead.created_at.isoformat()}|{lead.id}".encode()).decode()


def _decode_cursor(raw: str | None) -> tuple[datetime.datetime, uuid.UUID] | None:
    if raw is None:
        return None
    try:
        at, _, lead_id = base64.urlsafe_b64decode(raw.encode()).decode().partition("|")
        created = datetime.datetime.fromisoformat(at)
        if created.tzinfo is None:
            raise ValueError("naive")
        return created, uuid.UUID(lead_id)
    except ValueError:
        raise ValidationError("cursor", "is not a cursor this server gave") from None


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def list_leads(request: web.Request) -> web.StreamResponse:
    query = read_query(request, LeadsQuery)
    membership = await auth.business_for(request, query.business_id)
    start, end = _range(query.from_, query.to)
    after = _decode_cursor(query.cursor)
    wants_csv = "text/csv" in request.headers.get("Accept", "")
    limit = CSV_MAX if wants_csv else PAGE
    rows = await lead_records.list_leads(request.app[POOL], membership.business_id, start=start, end=end,
                                         channel=query.channel, after=after, limit=limit + 1)
    more, rows = len(rows) > limit, rows[:limit]
    views = [lead_view(r) for r in rows]
    if wants_csv:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        writer.writerows([_cell(v[c]) for c in CSV_COLUMNS] for v in views)
        return web.Response(text=out.getvalue(), content_type="text/csv",
                            headers={"Content-Disposition": 'attachment; filename="leads.csv"'})
    return struct_response(LeadPage(business_id=str(membership.business_id), leads=views,
                                    next_cursor=_encode_cursor(rows[-1]) if more else None))


async def extract_batch(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_body(request, BatchBody)
    membership = await auth.business_for(request, body.business_id)
    start, end = _range(body.from_, body.to, required=True)
    now = datetime.datetime.now(datetime.UTC)
    payload = {"businessId": str(membership.business_id), "from": start.isoformat(), "to": end.isoformat(),
               "channel": body.channel}
    job_id = await queue.enqueue(
        request.app[POOL], EXTRACT_BATCH_KIND, payload, now=now, business_id=membership.business_id,
        dedupe_key=f"extract:{membership.business_id}:{start.isoformat()}:{end.isoformat()}:{body.channel}")
    return struct_response(BatchQueued(job_id=job_id, status="queued"), status=202)


ROUTES = (
    Route("GET", "/api/leads", list_leads,
          f"The business's leads, newest first ({PAGE} a page; Accept: text/csv for all of them as CSV)", "leads",
          "jwt", (Reply(200, LeadPage),), errors=(403, 404), query=LeadsQuery),
    Route("POST", "/api/leads/extract-batch", extract_batch,
          "Queue the analysis of the business's unanalysed conversations that ended in a range", "leads", "jwt",
          (Reply(202, BatchQueued),), errors=(403, 404), body=BatchBody),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)

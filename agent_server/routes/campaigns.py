"""Campaigns for the dashboard: drafts with estimates, send, pause, resume, cancel, stats."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

import msgspec
from aiohttp import web

from agent_server import auth
from agent_server.api.decoding import read_body, read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Link, Reply, Route, register
from agent_server.api.shapes import Body, Instant, Uuid, as_uuid
from agent_server.errors import ValidationError, register_error
from agent_server.routes.contacts_shapes import MessagingBusinessQuery
from agent_server.routes.messaging_access import owned
from agent_server.state import POOL, SETTINGS
from billing.money import parse_currency
from messaging import campaigns
from messaging.templates import UnknownVariable


class AudienceIn(msgspec.Struct, rename="camel", kw_only=True):
    list_ids: Annotated[list[Uuid], msgspec.Meta(max_length=100)] = []
    tags: Annotated[list[Annotated[str, msgspec.Meta(max_length=50)]], msgspec.Meta(max_length=100)] = []
    contact_ids: Annotated[list[Uuid], msgspec.Meta(max_length=10_000)] = []


class CampaignCreate(Body):
    name: Annotated[str, msgspec.Meta(max_length=200)]
    template: Annotated[str, msgspec.Meta(min_length=1, max_length=1600)]
    audience: AudienceIn
    category: Literal["marketing", "transactional"]
    business_id: Uuid | None = None
    from_number_ids: Annotated[list[Uuid], msgspec.Meta(max_length=100)] = []
    quiet_hours: Annotated[str, msgspec.Meta(pattern=r"^\d\d:\d\d-\d\d:\d\d$")] | None = None
    ai_replies: bool = False


class Skipped(msgspec.Struct, rename="camel", kw_only=True):
    opted_out: int
    undeliverable: int
    no_consent: int
    deleted: int


class Estimate(msgspec.Struct, rename="camel", kw_only=True):
    recipients: int
    segments: int
    cost_minor: int
    skipped: Skipped


class CampaignOut(msgspec.Struct, rename="camel", kw_only=True):
    id: Uuid
    name: str
    template: str
    category: str
    status: str
    pause_reason: str | None
    ai_replies: bool
    created_at: Instant
    started_at: Instant | None
    finished_at: Instant | None
    estimate: Estimate


class CampaignList(msgspec.Struct, kw_only=True):
    campaigns: list[CampaignOut]


class CampaignStats(msgspec.Struct, rename="camel", kw_only=True):
    messages: dict[str, int]
    skipped: Skipped
    opt_outs: int
    segments: int
    cost_minor: int


def _skipped(raw: dict[str, int]) -> Skipped:
    return Skipped(opted_out=raw["opted_out"], undeliverable=raw["undeliverable"], no_consent=raw["no_consent"],
                   deleted=raw["deleted"])


async def _out(request: web.Request, c: campaigns.Campaign) -> CampaignOut:
    e = campaigns.estimate(await campaigns.recipients(request.app[POOL], c),
                           request.app[SETTINGS].sms.price_per_segment_minor)
    return CampaignOut(id=str(c.id), name=c.name, template=c.template, category=c.category, status=c.status,
                       pause_reason=c.pause_reason, ai_replies=c.ai_replies, created_at=c.created_at.isoformat(),
                       started_at=c.started_at.isoformat() if c.started_at else None,
                       finished_at=c.finished_at.isoformat() if c.finished_at else None,
                       estimate=Estimate(recipients=e["recipients"], segments=e["segments"],
                                         cost_minor=e["costMinor"], skipped=_skipped(e["skipped"])))


async def create_campaign(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_body(request, CampaignCreate)
    membership = await auth.business_for(request, body.business_id)
    audience = campaigns.Audience([as_uuid(x, "audience") for x in body.audience.list_ids], body.audience.tags,
                                  [as_uuid(x, "audience") for x in body.audience.contact_ids])
    try:
        created = await campaigns.create(request.app[POOL], membership.business_id, campaigns.NewCampaign(
            body.name, body.template, audience, body.category, [as_uuid(x, "fromNumberIds")
                                                                 for x in body.from_number_ids],
            body.quiet_hours, body.ai_replies))
    except UnknownVariable as exc:
        raise ValidationError("template", str(exc)) from None
    except ValueError as exc:
        raise ValidationError("quietHours", str(exc)) from None
    return struct_response(await _out(request, created), status=201)


async def list_campaigns(request: web.Request) -> web.Response:
    membership = await auth.business_for(request, read_query(request, MessagingBusinessQuery).business_id)
    found = await campaigns.all_of(request.app[POOL], membership.business_id)
    return struct_response(CampaignList(campaigns=[await _out(request, c) for c in found]))


async def get_campaign(request: web.Request) -> web.Response:
    business_id, campaign_id = await owned(request, "id", campaigns.owner, "campaign")
    await campaigns.finish_if_done(request.app[POOL], campaign_id)
    return struct_response(await _out(request, await campaigns.get(request.app[POOL], business_id, campaign_id)))


async def delete_campaign(request: web.Request) -> web.Response:
    business_id, campaign_id = await owned(request, "id", campaigns.owner, "campaign")
    await campaigns.delete(request.app[POOL], business_id, campaign_id)
    return web.Response(status=204)


async def send_campaign(request: web.Request) -> web.Response:
    business_id, campaign_id = await owned(request, "id", campaigns.owner, "campaign")
    settings = request.app[SETTINGS]
    await campaigns.start(request.app[POOL], business_id, campaign_id, settings.sms,
                          parse_currency(settings.billing.currency), now=datetime.datetime.now(datetime.UTC))
    return struct_response(await _out(request, await campaigns.get(request.app[POOL], business_id, campaign_id)),
                           status=202)


async def pause_campaign(request: web.Request) -> web.Response:
    business_id, campaign_id = await owned(request, "id", campaigns.owner, "campaign")
    return struct_response(await _out(request, await campaigns.pause(request.app[POOL], business_id, campaign_id)))


async def resume_campaign(request: web.Request) -> web.Response:
    business_id, campaign_id = await owned(request, "id", campaigns.owner, "campaign")
    return struct_response(await _out(request, await campaigns.resume(request.app[POOL], business_id, campaign_id)))


async def cancel_campaign(request: web.Request) -> web.Response:
    business_id, campaign_id = await owned(request, "id", campaigns.owner, "campaign")
    canceled = await campaigns.cancel(request.app[POOL], business_id, campaign_id,
                                      now=datetime.datetime.now(datetime.UTC))
    return struct_response(await _out(request, canceled))


async def campaign_stats(request: web.Request) -> web.Response:
    business_id, campaign_id = await owned(request, "id", campaigns.owner, "campaign")
    pool = request.app[POOL]
    await campaigns.finish_if_done(pool, campaign_id)
    s = await campaigns.stats(pool, await campaigns.get(pool, business_id, campaign_id))
    return struct_response(CampaignStats(messages=s["messages"], skipped=_skipped(s["skipped"]),
                                         opt_outs=s["optOuts"], segments=s["segments"], cost_minor=s["costMinor"]))


_LINKS = {"GetCampaign": Link("get_campaign", {"id": "$response.body#/id"}),
          "SendCampaign": Link("send_campaign", {"id": "$response.body#/id"})}
_STATE = (404, 409)
ROUTES = (
    Route("POST", "/api/campaigns", create_campaign, "Write a campaign draft, with recipient and cost estimates",
          "campaigns", "jwt", (Reply(201, CampaignOut, description="Draft", links=_LINKS),),
          errors=(403, 404, 422), body=CampaignCreate),
    Route("GET", "/api/campaigns", list_campaigns, "The business's campaigns, newest first", "campaigns", "jwt",
          (Reply(200, CampaignList),), errors=(403, 404), query=MessagingBusinessQuery),
    Route("GET", "/api/campaigns/{id}", get_campaign, "A campaign with its current estimate", "campaigns", "jwt",
          (Reply(200, CampaignOut),), errors=(404,)),
    Route("DELETE", "/api/campaigns/{id}", delete_campaign, "Delete a draft", "campaigns", "jwt",
          (Reply(204, description="Deleted"),), errors=_STATE),
    Route("POST", "/api/campaigns/{id}/send", send_campaign, "Snapshot the audience and send now", "campaigns",
          "jwt", (Reply(202, CampaignOut, description="Sending"),), errors=(402, 404, 409, 422)),
    Route("POST", "/api/campaigns/{id}/pause", pause_campaign, "Hold a sending campaign", "campaigns", "jwt",
          (Reply(200, CampaignOut),), errors=_STATE),
    Route("POST", "/api/campaigns/{id}/resume", resume_campaign, "Go on with a paused campaign", "campaigns", "jwt",
          (Reply(200, CampaignOut),), errors=_STATE),
    Route("POST", "/api/campaigns/{id}/cancel", cancel_campaign, "Stop a campaign; its queued texts are canceled",
          "campaigns", "jwt", (Reply(200, CampaignOut),), errors=_STATE),
    Route("GET", "/api/campaigns/{id}/stats", campaign_stats, "Texts by status, skips, opt-outs, segments, cost",
          "campaigns", "jwt", (Reply(200, CampaignStats),), errors=(404,)),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
    register_error(campaigns.CampaignNotEditable, 409, "CAMPAIGN_NOT_EDITABLE")
    register_error(campaigns.EmptyAudience, 422, "EMPTY_AUDIENCE")

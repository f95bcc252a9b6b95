"""Campaigns for the dashboard: drafts with estimates, edits, previews, schedules, send, pause, resume, cancel, stats.

`POST /api/sms/bulk` is here too: it is a campaign to a list of phones, created and sent at once.
"""

from __future__ import annotations

import datetime
from typing import Any

import msgspec
from aiohttp import web

from agent_server import auth
from agent_server.api.decoding import decode_body, read_body, read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Link, Reply, Route, register
from agent_server.api.shapes import as_uuid
from agent_server.errors import ValidationError, register_error
from agent_server.routes.campaign_shapes import (
    AudienceIn,
    BulkBody,
    BulkQueued,
    CampaignCreate,
    CampaignList,
    CampaignOut,
    CampaignPatch,
    CampaignPreview,
    CampaignStats,
    Estimate,
    PreviewBody,
    PreviewMessage,
    ScheduleBody,
    Skipped,
)
from agent_server.routes.contacts import phone_of
from agent_server.routes.contacts_shapes import MessagingBusinessQuery
from agent_server.routes.messaging_access import owned
from agent_server.state import POOL, SETTINGS
from billing.money import parse_currency
from messaging import campaigns
from messaging.campaign_audience import Audience, estimate, recipients
from messaging.campaign_start import send_bulk, start
from messaging.campaign_stats import stats
from messaging.templates import UnknownVariable


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _instant(value: str, field: str) -> datetime.datetime:
    try:
        at = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(field, "must be an ISO 8601 date-time") from None
    return at if at.tzinfo else at.replace(tzinfo=datetime.UTC)


def _audience(body: AudienceIn) -> Audience:
    return Audience([as_uuid(x, "audience") for x in body.list_ids], body.tags,
                    [as_uuid(x, "audience") for x in body.contact_ids])


def _skipped(raw: dict[str, int]) -> Skipped:
    return Skipped(opted_out=raw["opted_out"], undeliverable=raw["undeliverable"], no_consent=raw["no_consent"],
                   deleted=raw["deleted"])


def _estimate(e: dict[str, Any]) -> Estimate:
    return Estimate(recipients=e["recipients"], segments=e["segments"], cost_minor=e["costMinor"],
                    skipped=_skipped(e["skipped"]))


def _consent_required(request: web.Request) -> bool:
    return request.app[SETTINGS].sms.require_marketing_consent


def _iso(at: datetime.datetime | None) -> str | None:
    return None if at is None else at.isoformat()


async def _out(request: web.Request, c: campaigns.Campaign) -> CampaignOut:
    found = await recipients(request.app[POOL], c.business_id, c.audience, c.template, c.category,
                             require_consent=_consent_required(request))
    a = c.audience
    return CampaignOut(
        id=str(c.id), name=c.name, template=c.template, category=c.category,
        audience=AudienceIn(list_ids=[str(x) for x in a.list_ids], tags=list(a.tags),
                            contact_ids=[str(x) for x in a.contact_ids]),
        from_number_ids=[str(x) for x in c.from_number_ids], quiet_hours=c.quiet_hours, status=c.status,
        pause_reason=c.pause_reason, ai_replies=c.ai_replies, send_at=_iso(c.send_at),
        created_at=c.created_at.isoformat(), started_at=_iso(c.started_at), finished_at=_iso(c.finished_at),
        estimate=_estimate(estimate(found, request.app[SETTINGS].sms.price_per_segment_minor)))


def _content_errors(field: str, exc: Exception) -> ValidationError:
    """The 422 for a template naming an unknown variable, a send time out of range or a malformed window."""
    named = (field if isinstance(exc, UnknownVariable) else "sendAt" if isinstance(exc, campaigns.BadSendTime)
             else "quietHours")
    return ValidationError(named, str(exc))


async def create_campaign(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_body(request, CampaignCreate)
    membership = await auth.business_for(request, body.business_id)
    new = campaigns.NewCampaign(
        body.name, body.template, _audience(body.audience), body.category,
        [as_uuid(x, "fromNumberIds") for x in body.from_number_ids], body.quiet_hours, body.ai_replies,
        send_at=_instant(body.send_at, "sendAt") if body.send_at else None)
    try:
        created = await campaigns.create(request.app[POOL], membership.business_id, new, now=_now(),
                                         require_consent=_consent_required(request))
    except ValueError as exc:
        raise _content_errors("template", exc) from None
    return struct_response(await _out(request, created), status=201)


async def list_campaigns(request: web.Request) -> web.Response:
    membership = await auth.business_for(request, read_query(request, MessagingBusinessQuery).business_id)
    found = await campaigns.all_of(request.app[POOL], membership.business_id)
    return struct_response(CampaignList(campaigns=[await _out(request, c) for c in found]))


async def get_campaign(request: web.Request) -> web.Response:
    business_id, campaign_id = await owned(request, "id", campaigns.owner, "campaign")
    await campaigns.finish_if_done(request.app[POOL], campaign_id)
    return struct_response(await _out(request, await campaigns.get(request.app[POOL], business_id, campaign_id)))


async def patch_campaign(request: web.Request) -> web.Response:
    business_id, campaign_id = await owned(request, "id", campaigns.owner, "campaign")
    body = await read_body(request, CampaignPatch)
    changes: dict[str, Any] = {k: getattr(body, k) for k in ("name", "template", "category", "quiet_hours",
                                                             "ai_replies") if getattr(body, k) is not msgspec.UNSET}
    if not isinstance(body.audience, msgspec.UnsetType):
        changes["audience"] = _audience(body.audience)
    if not isinstance(body.from_number_ids, msgspec.UnsetType):
        changes["from_number_ids"] = [as_uuid(x, "fromNumberIds") for x in body.from_number_ids]
    if not isinstance(body.send_at, msgspec.UnsetType):
        changes["send_at"] = _instant(body.send_at, "sendAt") if body.send_at else None
    try:
        updated = await campaigns.update(request.app[POOL], business_id, campaign_id, changes, now=_now(),
                                         require_consent=_consent_required(request))
    except ValueError as exc:
        raise _content_errors("template", exc) from None
    return struct_response(await _out(request, updated))


async def preview_campaign(request: web.Request) -> web.Response:
    business_id, campaign_id = await owned(request, "id", campaigns.owner, "campaign")
    raw = await request.read()
    body = decode_body(raw, PreviewBody) if raw else PreviewBody()
    c = await campaigns.get(request.app[POOL], business_id, campaign_id)
    try:
        found = await recipients(request.app[POOL], business_id, c.audience, body.template or c.template, c.category,
                                 require_consent=_consent_required(request))
    except UnknownVariable as exc:
        raise ValidationError("template", str(exc)) from None
    sending = [r for r in found if r.body is not None][:body.limit]
    return struct_response(CampaignPreview(
        messages=[PreviewMessage(contact_id=str(r.contact_id) if r.contact_id else None, phone=r.phone, body=r.body,
                                 characters=len(r.body), segments=r.segments, encoding=r.encoding)
                  for r in sending if r.body is not None],
        estimate=_estimate(estimate(found, request.app[SETTINGS].sms.price_per_segment_minor))))


async def schedule_campaign(request: web.Request) -> web.Response:
    business_id, campaign_id = await owned(request, "id", campaigns.owner, "campaign")
    body = await read_body(request, ScheduleBody)
    try:
        scheduled = await campaigns.schedule(request.app[POOL], business_id, campaign_id,
                                             _instant(body.send_at, "sendAt"), now=_now(),
                                             require_consent=_consent_required(request))
    except campaigns.BadSendTime as exc:
        raise ValidationError("sendAt", str(exc)) from None
    return struct_response(await _out(request, scheduled))


async def delete_campaign(request: web.Request) -> web.Response:
    business_id, campaign_id = await owned(request, "id", campaigns.owner, "campaign")
    await campaigns.delete(request.app[POOL], business_id, campaign_id)
    return web.Response(status=204)


async def send_campaign(request: web.Request) -> web.Response:
    business_id, campaign_id = await owned(request, "id", campaigns.owner, "campaign")
    settings = request.app[SETTINGS]
    await start(request.app[POOL], business_id, campaign_id, settings.sms, parse_currency(settings.billing.currency),
                now=_now())
    return struct_response(await _out(request, await campaigns.get(request.app[POOL], business_id, campaign_id)),
                           status=202)


async def pause_campaign(request: web.Request) -> web.Response:
    business_id, campaign_id = await owned(request, "id", campaigns.owner, "campaign")
    return struct_response(await _out(request, await campaigns.pause(request.app[POOL], business_id, campaign_id)))


async def resume_campaign(request: web.Request) -> web.Response:
    business_id, campaign_id = await owned(request, "id", campaigns.owner, "campaign")
    settings = request.app[SETTINGS]
    resumed = await campaigns.resume(request.app[POOL], business_id, campaign_id,
                                     price_per_segment=settings.sms.price_per_segment_minor,
                                     currency=parse_currency(settings.billing.currency), now=_now())
    return struct_response(await _out(request, resumed))


async def cancel_campaign(request: web.Request) -> web.Response:
    business_id, campaign_id = await owned(request, "id", campaigns.owner, "campaign")
    canceled = await campaigns.cancel(request.app[POOL], business_id, campaign_id, now=_now())
    return struct_response(await _out(request, canceled))


async def campaign_stats(request: web.Request) -> web.Response:
    business_id, campaign_id = await owned(request, "id", campaigns.owner, "campaign")
    pool = request.app[POOL]
    await campaigns.finish_if_done(pool, campaign_id)
    s = await stats(pool, await campaigns.get(pool, business_id, campaign_id),
                    reply_window=request.app[SETTINGS].sms.reply_window())
    return struct_response(CampaignStats(messages=s["messages"], skipped=_skipped(s["skipped"]),
                                         replies=s["replies"], opt_outs=s["optOuts"], segments=s["segments"],
                                         cost_minor=s["costMinor"]))


async def bulk_send(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_body(request, BulkBody)
    membership = await auth.business_for(request, body.business_id)
    phones = list(dict.fromkeys(phone_of(raw, body.default_country, "to") for raw in body.to))
    settings = request.app[SETTINGS]
    now = _now()
    new = campaigns.NewCampaign(
        body.name or f"Bulk send {now:%Y-%m-%d %H:%M} UTC", body.body, Audience(phones=phones), body.category,
        [as_uuid(x, "fromNumberIds") for x in body.from_number_ids], body.quiet_hours, body.ai_replies,
        idempotency_key=body.idempotency_key)
    try:
        campaign, summary = await send_bulk(request.app[POOL], membership.business_id, new, settings.sms,
                                            parse_currency(settings.billing.currency), now=now)
    except ValueError as exc:
        raise _content_errors("body", exc) from None
    return struct_response(BulkQueued(campaign_id=str(campaign.id), status=campaign.status,
                                      recipients=summary["recipients"], segments=summary["segments"],
                                      cost_minor=summary["costMinor"], skipped=_skipped(summary["skipped"])),
                           status=202)


_LINKS = {"GetCampaign": Link("get_campaign", {"id": "$response.body#/id"}),
          "EditCampaign": Link("patch_campaign", {"id": "$response.body#/id"}),
          "DeleteCampaign": Link("delete_campaign", {"id": "$response.body#/id"}),
          "SendCampaign": Link("send_campaign", {"id": "$response.body#/id"})}
_STATE = (404, 409)
_EDIT = (404, 409, 422)
ROUTES = (
    Route("POST", "/api/campaigns", create_campaign, "Write a campaign draft (or schedule it with sendAt), with"
          " recipient and cost estimates", "campaigns", "jwt", (Reply(201, CampaignOut, description="Draft",
                                                                     links=_LINKS),),
          errors=(403, 404, 422), body=CampaignCreate),
    Route("GET", "/api/campaigns", list_campaigns, "The business's campaigns, newest first", "campaigns", "jwt",
          (Reply(200, CampaignList),), errors=(403, 404), query=MessagingBusinessQuery),
    Route("GET", "/api/campaigns/{id}", get_campaign, "A campaign with its current estimate", "campaigns", "jwt",
          (Reply(200, CampaignOut),), errors=(404,)),
    Route("PATCH", "/api/campaigns/{id}", patch_campaign, "Edit a draft or scheduled campaign", "campaigns", "jwt",
          (Reply(200, CampaignOut),), errors=_EDIT, body=CampaignPatch),
    Route("DELETE", "/api/campaigns/{id}", delete_campaign, "Delete a draft", "campaigns", "jwt",
          (Reply(204, description="Deleted"),), errors=_STATE),
    Route("POST", "/api/campaigns/{id}/preview", preview_campaign, "The first recipients' rendered texts with"
          " segments and encoding (nothing sent or saved)", "campaigns", "jwt", (Reply(200, CampaignPreview),),
          errors=(404, 422), body=PreviewBody),
    Route("POST", "/api/campaigns/{id}/schedule", schedule_campaign, "Send a draft or scheduled campaign at sendAt",
          "campaigns", "jwt", (Reply(200, CampaignOut),), errors=_EDIT, body=ScheduleBody),
    Route("POST", "/api/campaigns/{id}/send", send_campaign, "Snapshot the audience and send now", "campaigns",
          "jwt", (Reply(202, CampaignOut, description="Sending"),), errors=(402, 404, 409, 422)),
    Route("POST", "/api/campaigns/{id}/pause", pause_campaign, "Hold a sending campaign", "campaigns", "jwt",
          (Reply(200, CampaignOut),), errors=_STATE),
    Route("POST", "/api/campaigns/{id}/resume", resume_campaign, "Go on with a paused campaign", "campaigns", "jwt",
          (Reply(200, CampaignOut),), errors=(402, 404, 409)),
    Route("POST", "/api/campaigns/{id}/cancel", cancel_campaign, "Stop a campaign; its queued texts are canceled",
          "campaigns", "jwt", (Reply(200, CampaignOut),), errors=_STATE),
    Route("GET", "/api/campaigns/{id}/stats", campaign_stats, "Texts by status, skips, replies, opt-outs, segments, cost",
          "campaigns", "jwt", (Reply(200, CampaignStats),), errors=(404,)),
    Route("POST", "/api/sms/bulk", bulk_send, "One text to many phones: a campaign created and sent at once",
          "sms", "jwt", (Reply(202, BulkQueued, description="Sending", links={
              "GetCampaign": Link("get_campaign", {"id": "$response.body#/campaignId"})}),),
          errors=(402, 403, 404, 422), body=BulkBody),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
    register_error(campaigns.CampaignNotEditable, 409, "CAMPAIGN_NOT_EDITABLE")
    register_error(campaigns.EmptyAudience, 422, "EMPTY_AUDIENCE")

"""Request and response shapes of the campaign routes and of `POST /api/sms/bulk`."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from agent_server.api.shapes import Body, Instant, Uuid

Category = Literal["marketing", "transactional"]
Template = Annotated[str, msgspec.Meta(min_length=1, max_length=1600)]
NumberIds = Annotated[list[Uuid], msgspec.Meta(max_length=100)]
QuietHours = Annotated[str, msgspec.Meta(pattern=r"^\d\d:\d\d-\d\d:\d\d$")]


class AudienceIn(msgspec.Struct, rename="camel", kw_only=True):
    list_ids: Annotated[list[Uuid], msgspec.Meta(max_length=100)] = []
    tags: Annotated[list[Annotated[str, msgspec.Meta(max_length=50)]], msgspec.Meta(max_length=100)] = []
    contact_ids: Annotated[list[Uuid], msgspec.Meta(max_length=10_000)] = []


class CampaignCreate(Body):
    """A draft; with `sendAt` (ISO 8601, in the future) a scheduled campaign."""

    name: Annotated[str, msgspec.Meta(max_length=200)]
    template: Template
    audience: AudienceIn
    category: Category
    business_id: Uuid | None = None
    from_number_ids: NumberIds = []
    quiet_hours: QuietHours | None = None
    ai_replies: bool = False
    send_at: Instant | None = None


class CampaignPatch(Body):
    """Only the fields sent change; `quietHours: null` clears the window, `sendAt: null` makes it a draft again."""

    name: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    template: Template | msgspec.UnsetType = msgspec.UNSET
    audience: AudienceIn | msgspec.UnsetType = msgspec.UNSET
    category: Category | msgspec.UnsetType = msgspec.UNSET
    from_number_ids: NumberIds | msgspec.UnsetType = msgspec.UNSET
    quiet_hours: QuietHours | None | msgspec.UnsetType = msgspec.UNSET
    ai_replies: bool | msgspec.UnsetType = msgspec.UNSET
    send_at: Instant | None | msgspec.UnsetType = msgspec.UNSET


class ScheduleBody(Body):
    send_at: Instant


class PreviewBody(Body):
    """Optional: a template to try instead of the saved one, and how many recipients to render."""

    template: Template | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=20)] = 3


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
    audience: AudienceIn
    from_number_ids: list[Uuid]
    quiet_hours: str | None
    status: str
    pause_reason: str | None
    ai_replies: bool
    send_at: Instant | None
    created_at: Instant
    started_at: Instant | None
    finished_at: Instant | None
    estimate: Estimate


class CampaignList(msgspec.Struct, kw_only=True):
    campaigns: list[CampaignOut]


class PreviewMessage(msgspec.Struct, rename="camel", kw_only=True):
    contact_id: Uuid | None
    phone: str
    body: str
    characters: int
    segments: int
    encoding: str


class CampaignPreview(msgspec.Struct, rename="camel", kw_only=True):
    """The first recipients' bodies as they would be sent now (nothing is written), and the whole estimate."""

    messages: list[PreviewMessage]
    estimate: Estimate


class CampaignStats(msgspec.Struct, rename="camel", kw_only=True):
    """`replies`: texts back to the number that sent a recipient the campaign, within the reply window;
    `optOuts`: recipients it texted who opted out from then until the window after it finished."""

    messages: dict[str, int]
    skipped: Skipped
    replies: int
    opt_outs: int
    segments: int
    cost_minor: int


class BulkBody(Body):
    """One body (a template: `{{firstName|there}}` fills from a contact with that phone) to every phone of `to`."""

    to: Annotated[list[Annotated[str, msgspec.Meta(max_length=40)]], msgspec.Meta(min_length=1, max_length=10_000)]
    body: Template
    category: Category
    business_id: Uuid | None = None
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    default_country: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z]{2}$")] = "US"
    from_number_ids: NumberIds = []
    quiet_hours: QuietHours | None = None
    ai_replies: bool = False
    idempotency_key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None


class BulkQueued(msgspec.Struct, rename="camel", kw_only=True):
    """The campaign the bulk send became, with what its snapshot queued and skipped."""

    campaign_id: Uuid
    status: str
    recipients: int
    segments: int
    cost_minor: int
    skipped: Skipped

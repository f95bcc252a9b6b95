"""Request and response shapes of the outbound SMS routes."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from agent_server.api.shapes import Body, Instant, Query, Uuid

Category = Literal["marketing", "transactional"]
Status = Literal["queued", "sending", "sent", "delivered", "undelivered", "failed", "canceled"]


class SendBody(Body):
    """One text to `to` (any common format) or to `contactId`; `idempotencyKey` makes a retried request harmless."""

    body: Annotated[str, msgspec.Meta(min_length=1, max_length=1600)]
    category: Category
    idempotency_key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    to: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    contact_id: Uuid | None = None
    from_number_id: Uuid | None = None
    default_country: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z]{2}$")] = "US"
    business_id: Uuid | None = None


class SmsQueued(msgspec.Struct, rename="camel", kw_only=True):
    """The message as queued; `notBefore` is when quiet hours let it go (absent: now)."""

    message_id: Uuid
    status: str
    segments: int
    encoding: str
    not_before: Instant | msgspec.UnsetType = msgspec.UNSET


class SmsStatusEvent(msgspec.Struct, rename="camel", kw_only=True):
    status: str
    error_code: int | None
    source: str
    at: Instant


class MessageOut(msgspec.Struct, rename="camel", kw_only=True):
    id: Uuid
    contact_id: Uuid | None
    number_id: Uuid | None
    from_number: str
    to: str
    body: str
    category: str
    segments: int
    encoding: str
    status: str
    campaign_id: Uuid | None
    not_before: Instant
    attempts: int
    message_sid: str | None
    error_code: int | None
    error_message: str | None
    price_minor: int | None
    currency: str | None
    created_at: Instant


class MessageDetail(msgspec.Struct, rename="camel", kw_only=True):
    message: MessageOut
    history: list[SmsStatusEvent]


class MessagesQuery(Query):
    business_id: Uuid | None = None
    status: Status | None = None
    contact_id: Uuid | None = None
    campaign_id: Uuid | None = None
    to: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50
    cursor: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class MessagePage(msgspec.Struct, rename="camel", kw_only=True):
    messages: list[MessageOut]
    next_cursor: str | None


class StatsQuery(Query):
    business_id: Uuid | None = None
    days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 30


class SmsStats(msgspec.Struct, rename="camel", kw_only=True):
    """Messages created in the last `days` days by status, with segments sent and their cost."""

    days: int
    queued: int
    sending: int
    sent: int
    delivered: int
    undelivered: int
    failed: int
    canceled: int
    segments_sent: int
    cost_minor: int


class SmsStatusCallbackForm(msgspec.Struct, rename="pascal", kw_only=True):
    """The fields of Twilio's message status callback this server reads."""

    message_sid: str = ""
    message_status: str = ""
    error_code: str = ""


class SmsStatusCallbackQuery(Query):
    m: Uuid | None = None

"""Request and response shapes of the contacts, lists and opt-out routes."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from agent_server.api.shapes import Body, Instant, Query, Uuid

Name = Annotated[str, msgspec.Meta(max_length=200)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]


class ContactConsent(msgspec.Struct, kw_only=True):
    """Where and when the person agreed to get marketing texts."""

    source: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    at: Instant


class ContactCreate(Body):
    """A new contact; `phone` in any common format, parsed against `defaultCountry`."""

    phone: Annotated[str, msgspec.Meta(max_length=40)]
    business_id: Uuid | None = None
    default_country: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z]{2}$")] = "US"
    first_name: Name = ""
    last_name: Name = ""
    email: Annotated[str, msgspec.Meta(max_length=320)] | None = None
    tags: Annotated[list[Tag], msgspec.Meta(max_length=50)] = []
    attributes: dict[str, Any] = {}
    timezone: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    consent: ContactConsent | None = None


class ContactPatch(Body):
    """Only the fields sent change; a name sent as "" or null is cleared."""

    phone: Annotated[str, msgspec.Meta(max_length=40)] | msgspec.UnsetType = msgspec.UNSET
    default_country: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z]{2}$")] = "US"
    first_name: Name | None | msgspec.UnsetType = msgspec.UNSET
    last_name: Name | None | msgspec.UnsetType = msgspec.UNSET
    email: Annotated[str, msgspec.Meta(max_length=320)] | None | msgspec.UnsetType = msgspec.UNSET
    tags: Annotated[list[Tag], msgspec.Meta(max_length=50)] | msgspec.UnsetType = msgspec.UNSET
    attributes: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    timezone: Annotated[str, msgspec.Meta(max_length=64)] | None | msgspec.UnsetType = msgspec.UNSET
    consent: ContactConsent | None | msgspec.UnsetType = msgspec.UNSET


class ContactOut(msgspec.Struct, rename="camel", kw_only=True):
    id: Uuid
    business_id: Uuid
    phone: str
    first_name: str
    last_name: str
    email: str | None
    tags: list[str]
    attributes: dict[str, Any]
    timezone: str | None
    consent: ContactConsent | None
    opted_out: bool
    created_at: Instant
    updated_at: Instant


class RecentMessage(msgspec.Struct, rename="camel", kw_only=True):
    id: Uuid
    body: str
    status: str
    created_at: Instant


class ContactDetail(msgspec.Struct, rename="camel", kw_only=True):
    contact: ContactOut
    recent_messages: list[RecentMessage]


class ContactQuery(Query):
    business_id: Uuid | None = None
    search: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    tag: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    list_id: Uuid | None = None
    opted_out: bool | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50
    cursor: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class ContactPage(msgspec.Struct, rename="camel", kw_only=True):
    contacts: list[ContactOut]
    next_cursor: str | None


class ListCreate(Body):
    name: Annotated[str, msgspec.Meta(max_length=200)]
    business_id: Uuid | None = None


class ListOut(msgspec.Struct, rename="camel", kw_only=True):
    id: Uuid
    name: str
    size: int
    created_at: Instant


class ListsOut(msgspec.Struct, kw_only=True):
    lists: list[ListOut]


class ListMembers(Body):
    contact_ids: Annotated[list[Uuid], msgspec.Meta(min_length=1, max_length=1000)]


class MembersAdded(msgspec.Struct, kw_only=True):
    added: int


class MessagingBusinessQuery(Query):
    business_id: Uuid | None = None


class OptOutCreate(Body):
    """Stop texting this phone from every number of the business (only the person can undo it, with START)."""

    phone: Annotated[str, msgspec.Meta(max_length=40)]
    business_id: Uuid | None = None
    default_country: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z]{2}$")] = "US"
    reason: Annotated[str, msgspec.Meta(max_length=200)] = ""


class OptOutOut(msgspec.Struct, rename="camel", kw_only=True):
    phone: str
    source: str
    detail: str
    suppressed_at: Instant


class OptOutList(msgspec.Struct, rename="camel", kw_only=True):
    opt_outs: list[OptOutOut]

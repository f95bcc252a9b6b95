"""Declared shapes of the phone number routes: what search, purchase, import and edit take and answer."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from agent_server.api.shapes import E164_PATTERN, Body, Instant, Uuid

MAX_SEARCH = 50

NumberTypeField = Literal["local", "toll_free", "mobile"]
Country = Annotated[str, msgspec.Meta(max_length=2, pattern=r"^[A-Za-z]{2}$",
                                      description="ISO 3166 alpha-2 code like US")]
Phone = Annotated[str, msgspec.Meta(max_length=16, pattern=E164_PATTERN, description="E.164, like +14155550100")]
DisplayName = Annotated[str, msgspec.Meta(max_length=200)]


class SearchBody(Body):
    """What numbers to look for at the carrier."""

    country_code: Country
    number_type: NumberTypeField
    area_code: Annotated[str, msgspec.Meta(max_length=6, pattern=r"^([0-9]{2,6})?$")] | None = None
    # Twilio's pattern syntax: digits and letters with the * % + $ meta-characters, 2 to 16 long.
    contains: Annotated[str, msgspec.Meta(max_length=16, pattern=r"^([0-9A-Za-z*%+$]{2,16})?$")] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_SEARCH)] = 20


class PurchaseBody(Body):
    """A number from a search, bought for the business (its first month is paid from the wallet)."""

    phone_number: Phone
    country_code: Country
    number_type: NumberTypeField
    business_id: Uuid | None = None
    display_name: DisplayName = ""


class ImportBody(Body):
    """A number the Twilio account already owns, brought under the business."""

    phone_number: Phone
    business_id: Uuid | None = None
    display_name: DisplayName = ""
    country_code: Country = "US"
    number_type: NumberTypeField = "local"


class PatchBody(Body):
    """Fields to change; `agentId: null` unassigns the agent, leaving it out keeps it."""

    display_name: DisplayName | None = None
    is_primary: bool | None = None
    agent_id: Uuid | None | msgspec.UnsetType = msgspec.UNSET


class Capabilities(msgspec.Struct):
    voice: bool
    sms: bool
    mms: bool


class OfferOut(msgspec.Struct, rename="camel"):
    phone_number: str
    friendly_name: str
    locality: str
    region: str
    monthly_cost: int
    capabilities: Capabilities


class SearchResult(msgspec.Struct):
    success: bool
    numbers: list[OfferOut]


class NumberOut(msgspec.Struct, rename="camel", kw_only=True):
    """A business's number; money in minor units of `currency`."""

    id: Uuid
    business_id: Uuid
    phone_number: str
    display_name: str
    country_code: str
    number_type: str
    twilio_sid: str | None
    capabilities: Capabilities
    monthly_cost: int
    currency: str
    is_primary: bool
    status: str
    agent_id: Uuid | None
    created_at: Instant | None
    rent_paid_through: Instant | None
    suspended_at: Instant | None
    released_at: Instant | None


class NumberResult(msgspec.Struct):
    success: bool
    number: NumberOut


class NumberList(msgspec.Struct):
    success: bool
    numbers: list[NumberOut]

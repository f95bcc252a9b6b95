"""Shapes of the customer routes: snake_case bodies and answers, as the dashboard's customer pages send and read them.

The portal's list queries keep the dashboard's camelCase names (`agentId`, `cursor`, `from`, `to`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from agent_server.api.shapes import Body, Query, Uuid

Email = Annotated[str, msgspec.Meta(max_length=320)]
Name = Annotated[str, msgspec.Meta(max_length=200)]
InstantParam = Annotated[str, msgspec.Meta(description="ISO 8601 date or date-time; without an offset, UTC")]
PortalChannel = Literal["widget", "sms", "whatsapp", "voice"]


class CustomerCreate(Body, rename=None):
    """A `password` (the original service's) is ignored: customers sign in by emailed link only."""

    email: Email
    full_name: Name
    company_name: Name | None = None
    chatbot_id: Uuid | None = None
    chatbot_ids: list[Uuid] = []
    business_id: Uuid | None = None


class CustomerPatch(Body, rename=None):
    """Fields left out stay as they are; `company_name: ""` clears the company."""

    full_name: Name | msgspec.UnsetType = msgspec.UNSET
    company_name: Name | None | msgspec.UnsetType = msgspec.UNSET
    weekly_summary_enabled: bool | msgspec.UnsetType = msgspec.UNSET


class CustomerChatbotsPut(Body, rename=None):
    chatbot_ids: list[Uuid]


class CustomerLoginLinkBody(Body, rename=None):
    customer_id: Uuid


class CustomerListQuery(Query):
    business_id: Uuid | None = None


class CustomerCreated(msgspec.Struct, kw_only=True):
    customer_id: Uuid
    email: str
    status: str


class CustomerOut(msgspec.Struct, kw_only=True):
    id: Uuid
    email: str
    full_name: str
    company_name: str | None
    status: Literal["invited", "active", "disabled"]
    weekly_summary_enabled: bool
    last_login: str | None
    created_at: str
    chatbot_ids: list[Uuid]


class CustomerList(msgspec.Struct, kw_only=True):
    customers: list[CustomerOut]


class CustomerLinkQueued(msgspec.Struct, kw_only=True):
    customer_id: Uuid
    status: Literal["queued"]


class PortalTokenBody(Body, rename=None):
    token: Annotated[str, msgspec.Meta(max_length=200)]


class PortalLinkRequest(Body, rename=None):
    """Either the address to send a link to, or an expired link's token to renew it."""

    email: Email | None = None
    token: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class PortalEmailQuery(Query):
    email: Email


class PortalLinkRequested(msgspec.Struct, kw_only=True):
    """The same answer whatever the address: it never says whether it is a customer's."""

    status: Literal["accepted"]
    message: str


class PortalCustomer(msgspec.Struct, kw_only=True):
    id: Uuid
    email: str
    full_name: str
    company_name: str | None
    business_id: Uuid
    business_name: str
    weekly_summary_enabled: bool


class PortalSession(msgspec.Struct, kw_only=True):
    access_token: str
    expires_at: str
    customer: PortalCustomer


class PortalAgent(msgspec.Struct, kw_only=True):
    id: Uuid
    name: str


class PortalAgents(msgspec.Struct, kw_only=True):
    agents: list[PortalAgent]


class PortalConversationsQuery(Query):
    channel: PortalChannel | None = None
    agent_id: Uuid | None = None
    from_: InstantParam | None = msgspec.field(default=None, name="from")
    to: InstantParam | None = None
    cursor: str | None = None


class PortalAliasQuery(Query):
    """A channel's own list: the same as `conversations?channel=...`."""

    agent_id: Uuid | None = None
    from_: InstantParam | None = msgspec.field(default=None, name="from")
    to: InstantParam | None = None
    cursor: str | None = None


class PortalConversation(msgspec.Struct, kw_only=True):
    id: Uuid
    channel: PortalChannel
    agent_id: Uuid
    started_at: str
    ended_at: str | None
    contact: str | None
    summary: str | None
    outcome: str | None
    sentiment: str | None
    lead: dict[str, Any] | None


class PortalConversationPage(msgspec.Struct, kw_only=True):
    """Newest first; `next_cursor` (null on the last page) asks for the next page."""

    conversations: list[PortalConversation]
    next_cursor: str | None


class PortalMessage(msgspec.Struct, kw_only=True):
    role: str
    text: str
    at: str


class PortalMessageList(msgspec.Struct, kw_only=True):
    conversation_id: Uuid
    messages: list[PortalMessage]


class PortalLeadsQuery(Query):
    agent_id: Uuid | None = None
    from_: InstantParam | None = msgspec.field(default=None, name="from")
    to: InstantParam | None = None
    cursor: str | None = None


class PortalLead(msgspec.Struct, kw_only=True):
    id: Uuid
    conversation_id: Uuid
    agent_id: Uuid
    channel: str
    name: str
    phone: str | None
    email: str | None
    company: str | None
    intent: str | None
    confidence: int
    created_at: str


class PortalLeadPage(msgspec.Struct, kw_only=True):
    leads: list[PortalLead]
    next_cursor: str | None


class PortalAnalyticsQuery(Query):
    agent_id: Uuid | None = None
    from_: InstantParam | None = msgspec.field(default=None, name="from")
    to: InstantParam | None = None


class PortalAgentFigures(msgspec.Struct, kw_only=True):
    """`conversations` by channel (widget, sms, whatsapp, voice) started in the range; `outcomes` by the
    analysis's outcome of conversations that ended in it."""

    agent_id: Uuid
    name: str
    conversations: dict[str, int]
    call_minutes: float
    leads: int
    outcomes: dict[str, int]


class PortalAnalytics(msgspec.Struct, kw_only=True):
    from_: str = msgspec.field(name="from")
    to: str
    agents: list[PortalAgentFigures]

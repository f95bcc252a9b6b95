"""Declared shapes of the webhook routes: endpoints (with a secret shown once), messages and their attempts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from agent_server.api.shapes import Body, Instant, Query, Uuid

Url = Annotated[str, msgspec.Meta(max_length=2000)]
EventTypes = Annotated[list[Annotated[str, msgspec.Meta(max_length=100)]], msgspec.Meta(min_length=1, max_length=20)]
FormIds = Annotated[list[Uuid], msgspec.Meta(max_length=50)]


class WebhookEndpointCreate(Body):
    """A receiver: where to POST, which event types, and optionally only some forms' events."""

    url: Url
    event_types: EventTypes
    form_ids: FormIds = []
    enabled: bool = True
    business_id: Uuid | None = None


class WebhookEndpointUpdate(Body):
    url: Url | msgspec.UnsetType = msgspec.UNSET
    event_types: EventTypes | msgspec.UnsetType = msgspec.UNSET
    form_ids: FormIds | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class WebhookEndpointsQuery(Query):
    business_id: Uuid | None = None


class WebhookEndpointOut(msgspec.Struct, rename="camel", kw_only=True):
    """An endpoint; `disabledReason` says why we turned it off (a 410 Gone), null when a user did."""

    id: Uuid
    business_id: Uuid
    url: str
    event_types: list[str]
    form_ids: list[Uuid]
    enabled: bool
    disabled_reason: str | None
    # While set, the previous secret still signs beside the current one (after a rotation).
    previous_secret_valid_until: Instant | None
    created_at: Instant
    updated_at: Instant


class WebhookEndpointCreated(msgspec.Struct, rename="camel", kw_only=True):
    """The new endpoint and its signing secret, shown this once."""

    endpoint: WebhookEndpointOut
    secret: str


class WebhookEndpointList(msgspec.Struct, kw_only=True):
    endpoints: list[WebhookEndpointOut]


class WebhookSecretRotated(msgspec.Struct, rename="camel", kw_only=True):
    """The new secret, shown this once; the previous one signs too until `previousSecretValidUntil`."""

    secret: str
    previous_secret_valid_until: Instant


class WebhookMessagesQuery(Query):
    status: Literal["pending", "sending", "delivered", "failed"] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 50


class WebhookMessageOut(msgspec.Struct, rename="camel", kw_only=True):
    """A message to one endpoint; `webhookId` is its `webhook-id` header, the same on every attempt."""

    id: Uuid
    webhook_id: str
    endpoint_id: Uuid
    event_type: str
    status: str
    attempts: int
    # When the next attempt is due (null once delivered or failed).
    next_attempt_at: Instant | None
    last_status: int | None
    last_error: str | None
    created_at: Instant
    delivered_at: Instant | None


class WebhookMessageList(msgspec.Struct, kw_only=True):
    messages: list[WebhookMessageOut]


class WebhookAttemptOut(msgspec.Struct, rename="camel", kw_only=True):
    """One attempt: the receiver's status (null when none came), how long it took, what went wrong."""

    attempt: int
    started_at: Instant
    duration_ms: int
    status_code: int | None
    error: str | None
    outcome: str


class WebhookMessageDetail(msgspec.Struct, rename="camel", kw_only=True):
    """A message with the exact payload sent (`{type, timestamp, data}`) and every attempt, oldest first."""

    message: WebhookMessageOut
    payload: dict[str, Any]
    attempts: list[WebhookAttemptOut]

"""A business's webhook endpoints, the messages queued for them, their attempts, retries and test events.

Every id in a path is the caller's business's or answers 404 exactly like a missing one. A URL
is checked on save with the knowledge base's URL guard (https unless allow-listed, a public
address after DNS: 422 `URL_NOT_ALLOWED`) and again by the sender at each connection.
"""

from __future__ import annotations

import datetime
import json
import uuid

import msgspec
from aiohttp import web

from agent_server import auth
from agent_server.api.decoding import read_body, read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.errors import ApiError, NotFound, ValidationError
from agent_server.routes import webhook_shapes as shapes
from agent_server.routes.messaging_access import owned
from agent_server.state import POOL, SETTINGS
from agent_server.url_resolver import URL_RESOLVER
from automations import webhook_endpoints as endpoints
from automations import webhook_messages as messages
from automations.webhook_endpoints import Endpoint
from automations.webhook_http import checked_url
from automations.webhook_messages import Message
from automations.webhook_outbox import EVENT_TYPES, TEST_EVENT, enqueue_to, message_header_id
from jobs.runner import utc_now
from knowledge.errors import UrlNotAllowed
from storage.executor import Executor



def _iso(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def endpoint_out(endpoint: Endpoint) -> shapes.WebhookEndpointOut:
    rotating = endpoint.previous_secret_until if endpoint.previous_secret else None
    return shapes.WebhookEndpointOut(
        id=str(endpoint.id), business_id=str(endpoint.business_id), url=endpoint.url,
        event_types=list(endpoint.event_types), form_ids=[str(f) for f in endpoint.form_ids],
        enabled=endpoint.enabled, disabled_reason=endpoint.disabled_reason,
        previous_secret_valid_until=_iso(rotating), created_at=endpoint.created_at.isoformat(),
        updated_at=endpoint.updated_at.isoformat())


def message_out(message: Message) -> shapes.WebhookMessageOut:
    waiting = message.status in ("pending", "sending")
    return shapes.WebhookMessageOut(
        id=str(message.id), webhook_id=message_header_id(message.id), endpoint_id=str(message.endpoint_id),
        event_type=message.event_type, status=message.status, attempts=message.attempts,
        next_attempt_at=_iso(message.next_attempt_at) if waiting else None, last_status=message.last_status,
        last_error=message.last_error, created_at=message.created_at.isoformat(),
        delivered_at=_iso(message.delivered_at))


async def _url(request: web.Request, raw: str) -> str:
    try:
        return await checked_url(raw, request.app[SETTINGS].knowledge.allowed_private_hosts,
                                 request.app[URL_RESOLVER])
    except UrlNotAllowed as exc:
        raise ApiError(422, "URL_NOT_ALLOWED", f"url: {exc}", field="url") from None


def _event_types(raw: list[str]) -> list[str]:
    unknown = [t for t in raw if t not in EVENT_TYPES]
    if unknown:
        raise ValidationError("eventTypes", f"unknown event type {unknown[0]!r} (known: {', '.join(EVENT_TYPES)})")
    return list(dict.fromkeys(raw))


def _form_ids(raw: list[str]) -> list[uuid.UUID]:
    """The form filter; an id of no form of the business never matches anything, so it reveals nothing."""
    try:
        return list(dict.fromkeys(uuid.UUID(f) for f in raw))
    except ValueError:
        raise ValidationError("formIds", "must be form ids") from None


async def _endpoint_owner(db: Executor, endpoint_id: uuid.UUID) -> uuid.UUID | None:
    found: uuid.UUID | None = await db.fetchval("SELECT business_id FROM webhook_endpoints WHERE id = $1",
                                                endpoint_id)
    return found


async def _message_owner(db: Executor, message_id: uuid.UUID) -> uuid.UUID | None:
    found: uuid.UUID | None = await db.fetchval("SELECT business_id FROM webhook_messages WHERE id = $1",
                                                message_id)
    return found


async def _own_endpoint(request: web.Request) -> Endpoint:
    business_id, endpoint_id = await owned(request, "id", _endpoint_owner, "webhook endpoint")
    found = await endpoints.get(request.app[POOL], endpoint_id, business_id)
    if found is None:
        raise NotFound("webhook endpoint not found")
    return found


async def _own_message(request: web.Request) -> Message:
    business_id, message_id = await owned(request, "id", _message_owner, "webhook message")
    found = await messages.get(request.app[POOL], message_id, business_id)
    if found is None:
        raise NotFound("webhook message not found")
    return found


async def create_webhook_endpoint(request: web.Request) -> web.Response:
    body = await read_body(request, shapes.WebhookEndpointCreate)
    membership = await auth.business_for(request, body.business_id)
    url = await _url(request, body.url)
    created, secret = await endpoints.create(
        request.app[POOL], membership.business_id, url=url, event_types=_event_types(body.event_types),
        form_ids=_form_ids(body.form_ids), enabled=body.enabled, now=utc_now())
    return struct_response(shapes.WebhookEndpointCreated(endpoint=endpoint_out(created), secret=secret), status=201)


async def list_webhook_endpoints(request: web.Request) -> web.Response:
    membership = await auth.business_for(request, read_query(request, shapes.WebhookEndpointsQuery).business_id)
    found = await endpoints.list_for(request.app[POOL], membership.business_id)
    return struct_response(shapes.WebhookEndpointList(endpoints=[endpoint_out(e) for e in found]))


async def get_webhook_endpoint(request: web.Request) -> web.Response:
    return struct_response(endpoint_out(await _own_endpoint(request)))


async def update_webhook_endpoint(request: web.Request) -> web.Response:
    endpoint = await _own_endpoint(request)
    body = await read_body(request, shapes.WebhookEndpointUpdate)
    url = None if body.url is msgspec.UNSET else await _url(request, body.url)
    event_types = None if body.event_types is msgspec.UNSET else _event_types(body.event_types)
    form_ids = None if body.form_ids is msgspec.UNSET else _form_ids(body.form_ids)
    enabled = None if body.enabled is msgspec.UNSET else body.enabled
    updated = await endpoints.update(request.app[POOL], endpoint.id, endpoint.business_id, url=url,
                                     event_types=event_types, form_ids=form_ids, enabled=enabled, now=utc_now())
    if updated is None:
        raise NotFound("webhook endpoint not found")
    return struct_response(endpoint_out(updated))


async def delete_webhook_endpoint(request: web.Request) -> web.Response:
    endpoint = await _own_endpoint(request)
    if not await endpoints.delete(request.app[POOL], endpoint.id, endpoint.business_id):
        raise NotFound("webhook endpoint not found")
    return web.Response(status=204)


async def rotate_webhook_secret(request: web.Request) -> web.Response:
    endpoint = await _own_endpoint(request)
    now = utc_now()
    secret = await endpoints.rotate_secret(request.app[POOL], endpoint.id, endpoint.business_id, now=now)
    if secret is None:
        raise NotFound("webhook endpoint not found")
    return struct_response(shapes.WebhookSecretRotated(
        secret=secret, previous_secret_valid_until=(now + endpoints.ROTATION_OVERLAP).isoformat()))


async def list_webhook_messages(request: web.Request) -> web.Response:
    endpoint = await _own_endpoint(request)
    query = read_query(request, shapes.WebhookMessagesQuery)
    found = await messages.list_for_endpoint(request.app[POOL], endpoint.id, limit=query.limit,
                                             status=query.status)
    return struct_response(shapes.WebhookMessageList(messages=[message_out(m) for m in found]))


async def get_webhook_message(request: web.Request) -> web.Response:
    message = await _own_message(request)
    attempts = await messages.attempts_of(request.app[POOL], message.id)
    return struct_response(shapes.WebhookMessageDetail(
        message=message_out(message), payload=json.loads(message.body),
        attempts=[shapes.WebhookAttemptOut(attempt=a.attempt, started_at=a.started_at.isoformat(),
                                    duration_ms=a.duration_ms, status_code=a.status_code, error=a.error,
                                    outcome=a.outcome) for a in attempts]))


async def retry_webhook_message(request: web.Request) -> web.Response:
    """Queue the message again now (delivered or failed ones too); the endpoint must be enabled (409)."""
    message = await _own_message(request)
    endpoint = await endpoints.get(request.app[POOL], message.endpoint_id, message.business_id)
    if endpoint is None or not endpoint.enabled:
        raise ApiError(409, "ENDPOINT_DISABLED", "the endpoint is disabled: enable it first")
    if message.status == "sending":
        raise ApiError(409, "MESSAGE_SENDING", "the message is being sent right now")
    again = await messages.retry(request.app[POOL], message.id, message.business_id, now=utc_now())
    if again is None:
        raise NotFound("webhook message not found")
    return struct_response(message_out(again), status=202)


async def send_webhook_test(request: web.Request) -> web.Response:
    """Queue a `webhook.test` event to this endpoint only, signed and retried like any other."""
    endpoint = await _own_endpoint(request)
    if not endpoint.enabled:
        raise ApiError(409, "ENDPOINT_DISABLED", "the endpoint is disabled: enable it first")
    now = utc_now()
    message_id = await enqueue_to(request.app[POOL], endpoint.id, endpoint.business_id, event_type=TEST_EVENT,
                                  data={"endpoint_id": str(endpoint.id), "message": "a test event"}, now=now)
    found = None if message_id is None else await messages.get(request.app[POOL], message_id, endpoint.business_id)
    if found is None:
        raise NotFound("webhook endpoint not found")
    return struct_response(message_out(found), status=202)


_ONE = "/api/webhook-endpoints/{id}"
_TAG = "webhooks"
ROUTES = (
    Route("POST", "/api/webhook-endpoints", create_webhook_endpoint,
          "Add a webhook endpoint (its secret is shown once)", _TAG, "jwt",
          (Reply(201, shapes.WebhookEndpointCreated, description="Created"),), errors=(403, 404, 422),
          body=shapes.WebhookEndpointCreate),
    Route("GET", "/api/webhook-endpoints", list_webhook_endpoints, "The business's webhook endpoints", _TAG, "jwt",
          (Reply(200, shapes.WebhookEndpointList),), errors=(403, 404, 422), query=shapes.WebhookEndpointsQuery),
    Route("GET", _ONE, get_webhook_endpoint, "A webhook endpoint", _TAG, "jwt", (Reply(200, shapes.WebhookEndpointOut),),
          errors=(404,)),
    Route("PATCH", _ONE, update_webhook_endpoint, "Change an endpoint's URL, event types, forms or enabled", _TAG,
          "jwt", (Reply(200, shapes.WebhookEndpointOut),), errors=(404, 422), body=shapes.WebhookEndpointUpdate),
    Route("DELETE", _ONE, delete_webhook_endpoint, "Delete an endpoint with its messages", _TAG, "jwt",
          (Reply(204, description="Deleted"),), errors=(404,)),
    Route("POST", f"{_ONE}/rotate-secret", rotate_webhook_secret,
          "A new signing secret; the old one signs too for 24 h", _TAG, "jwt", (Reply(200, shapes.WebhookSecretRotated),),
          errors=(404,)),
    Route("GET", f"{_ONE}/messages", list_webhook_messages, "The endpoint's messages, newest first", _TAG, "jwt",
          (Reply(200, shapes.WebhookMessageList),), errors=(404, 422), query=shapes.WebhookMessagesQuery),
    Route("POST", f"{_ONE}/test", send_webhook_test, "Send a webhook.test event to this endpoint", _TAG, "jwt",
          (Reply(202, shapes.WebhookMessageOut, description="Queued"),), errors=(404, 409)),
    Route("GET", "/api/webhook-messages/{id}", get_webhook_message,
          "A webhook message with its payload and attempts", _TAG, "jwt", (Reply(200, shapes.WebhookMessageDetail),),
          errors=(404,)),
    Route("POST", "/api/webhook-messages/{id}/retry", retry_webhook_message, "Send a webhook message again now",
          _TAG, "jwt", (Reply(202, shapes.WebhookMessageOut, description="Queued"),), errors=(404, 409)),
)



def setup(app: web.Application) -> None:
    register(app, ROUTES)

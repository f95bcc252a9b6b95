"""Actions for the dashboard: an agent's tools, created, read, edited and deleted; and the services their runs use.

Another business's action or agent answers 404 exactly like a missing one, and so does a
deleted action (deletes are soft: executions keep their action, the name is free again). A
webhook's URL passes the URL guard on save (422 URL_NOT_ALLOWED); an email's recipients must be
the business's own (422 RECIPIENT_NOT_ALLOWED); a webhook's headers are write-only. The app's
`ACTION_SERVICES` (a guarded HTTP session) is what every run uses, from the execute route or
from a conversation's tool runner.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator

import msgspec
from aiohttp import web

from agent_server import agents, auth
from agent_server.api.decoding import read_body
from agent_server.api.responses import struct_response
from agent_server.api.route import Link, Reply, Route, register
from agent_server.errors import ApiError, NotFound, register_error
from agent_server.routes.action_shapes import ActionList, ActionOut, ActionPatch
from agent_server.routes.agents import own_agent
from agent_server.state import POOL, SETTINGS
from agent_server.url_resolver import URL_RESOLVER
from agent_server.validation import path_uuid
from agent_server.webhook_jobs import user_agent
from automations import action_store
from automations.action_checks import checked_spec
from automations.action_config import shown_configuration
from automations.action_errors import ActionNameTaken, TooManyActions
from automations.action_model import Action, ActionDefinitionError, ActionSpec
from automations.action_runner import ActionServices
from automations.webhook_http import guarded_session
from knowledge.errors import UrlNotAllowed

# The guarded session and allow-list every action's run uses (tests may put their own here first).
ACTION_SERVICES = web.AppKey("action_services", ActionServices)


def action_out(action: Action, *, created: bool = False) -> ActionOut:
    return ActionOut(
        id=str(action.id), agent_id=str(action.agent_id), type=action.type, name=action.name,
        description=action.description, parameters=action.parameters,
        configuration=shown_configuration(action.type, action.configuration), timeout_ms=action.timeout_ms,
        max_response_bytes=action.max_response_bytes, voice_filler=action.voice_filler, is_active=action.is_active,
        created_at=action.created_at.isoformat(), updated_at=action.updated_at.isoformat(),
        signing_secret=action.signing_secret if created else msgspec.UNSET)


async def own_action(request: web.Request, action_id: uuid.UUID) -> Action:
    """The live action of a live agent, if the caller is a member of its business; 404 otherwise, alike for all."""
    await auth.current_user(request)
    pool = request.app[POOL]
    action = await action_store.get(pool, action_id)
    if action is None or await agents.get_agent(pool, action.agent_id) is None:
        raise NotFound("no such action")
    try:
        await auth.business_for(request, str(action.business_id))
    except NotFound:
        raise NotFound("no such action") from None
    return action


async def _checked(request: web.Request, business_id: uuid.UUID, spec: ActionSpec, saved: Action | None) -> ActionSpec:
    """The spec checked; every refusal a 422 naming its field (URL_NOT_ALLOWED, RECIPIENT_NOT_ALLOWED, ...)."""
    try:
        return await checked_spec(request.app[POOL], business_id, spec, saved=saved,
                                  allowed_private_hosts=request.app[SETTINGS].knowledge.allowed_private_hosts,
                                  resolver=request.app[URL_RESOLVER])
    except ActionDefinitionError as exc:
        raise ApiError(422, exc.code, f"{exc.field}: {exc.message}", field=exc.field) from None
    except UrlNotAllowed as exc:
        field = "configuration.baseUrl" if spec.type == "calendar_booking" else "configuration.url"
        raise ApiError(422, "URL_NOT_ALLOWED", f"{field}: {exc}", field=field) from None


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def create_action(request: web.Request) -> web.Response:
    agent = await own_agent(request, path_uuid(request, "agentId"))
    spec = await _checked(request, agent.business_id, await read_body(request, ActionSpec), None)
    try:
        action = await action_store.create(request.app[POOL], agent.business_id, agent.id, spec, now=_now())
    except TooManyActions as exc:
        raise ApiError(422, "TOO_MANY_ACTIONS", f"actions: {exc}", field="actions") from None
    return struct_response(action_out(action, created=True), status=201)


async def list_actions(request: web.Request) -> web.Response:
    agent = await own_agent(request, path_uuid(request, "agentId"))
    found = await action_store.of_agent(request.app[POOL], agent.id)
    return struct_response(ActionList([action_out(a) for a in found]))


async def get_action(request: web.Request) -> web.Response:
    return struct_response(action_out(await own_action(request, path_uuid(request, "actionId"))))


async def patch_action(request: web.Request) -> web.Response:
    action = await own_action(request, path_uuid(request, "actionId"))
    body = await read_body(request, ActionPatch)
    changes = {name: value for name in ActionPatch.__struct_fields__
               if (value := getattr(body, name)) is not msgspec.UNSET}
    if "configuration" not in changes:
        changes["configuration"] = action.configuration
    spec = await _checked(request, action.business_id, msgspec.structs.replace(action.spec(), **changes), action)
    saved = await action_store.replace(request.app[POOL], action.id, spec, now=_now())
    if saved is None:
        raise NotFound("no such action")
    return struct_response(action_out(saved))


async def delete_action(request: web.Request) -> web.Response:
    action = await own_action(request, path_uuid(request, "actionId"))
    if not await action_store.soft_delete(request.app[POOL], action.id, now=_now()):
        raise NotFound("no such action")
    return web.Response(status=204)


_LINKS = {"GetAction": Link("get_action", {"actionId": "$response.body#/id"}),
          "EditAction": Link("patch_action", {"actionId": "$response.body#/id"}),
          "DeleteAction": Link("delete_action", {"actionId": "$response.body#/id"})}
_TAG = "actions"
ROUTES = (
    Route("POST", "/api/agents/{agentId}/actions", create_action, "Add an action (a tool) to an agent", _TAG, "jwt",
          (Reply(201, ActionOut, description="Created", links=_LINKS),), errors=(404, 409, 422), body=ActionSpec),
    Route("GET", "/api/agents/{agentId}/actions", list_actions, "The agent's actions", _TAG, "jwt",
          (Reply(200, ActionList),), errors=(404,)),
    Route("GET", "/api/actions/{actionId}", get_action, "One action", _TAG, "jwt", (Reply(200, ActionOut),),
          errors=(404,)),
    Route("PATCH", "/api/actions/{actionId}", patch_action, "Edit an action", _TAG, "jwt", (Reply(200, ActionOut),),
          errors=(404, 409, 422), body=ActionPatch),
    Route("DELETE", "/api/actions/{actionId}", delete_action, "Delete an action (its executions stay)", _TAG, "jwt",
          (Reply(204, description="Deleted"),), errors=(404,)),
)


async def _services(app: web.Application) -> AsyncIterator[None]:
    session = None
    if ACTION_SERVICES not in app:
        allowed = app[SETTINGS].knowledge.allowed_private_hosts
        session = guarded_session(allowed, user_agent=user_agent(app[SETTINGS]).replace("Webhooks", "Actions"))
        app[ACTION_SERVICES] = ActionServices(session, tuple(allowed))
    yield
    if session is not None:
        await session.close()


def setup(app: web.Application) -> None:
    register_error(ActionNameTaken, 409, "ACTION_NAME_TAKEN")
    register(app, ROUTES)
    app.cleanup_ctx.append(_services)

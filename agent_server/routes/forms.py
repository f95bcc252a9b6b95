"""Forms for the dashboard: an agent's forms, created, read, edited and deleted.

Another business's form or agent answers 404 exactly like a missing one, and so does a deleted
form (deletes are soft: submissions keep their form, the name is free again). A form's
`webhookUrl` passes the knowledge base's URL guard on save (https, a public address after DNS;
422 URL_NOT_ALLOWED) and becomes a webhook endpoint filtered to the form (`automations.form_hooks`).
"""

from __future__ import annotations

import datetime
import uuid

import msgspec
from aiohttp import web

from agent_server import agents, auth
from agent_server.api.decoding import read_body
from agent_server.api.responses import struct_response
from agent_server.api.route import Link, Reply, Route, register
from agent_server.errors import ApiError, NotFound, ValidationError, register_error
from agent_server.routes.agents import own_agent
from agent_server.routes.form_shapes import FormList, FormOut, FormPatch
from agent_server.state import POOL, SETTINGS
from agent_server.url_resolver import URL_RESOLVER
from agent_server.validation import path_uuid
from automations import form_hooks, form_store
from automations.form_errors import FormNameTaken, TooManyForms
from automations.form_model import Form, FormDefinitionError, FormSpec, checked_spec
from automations.webhook_http import checked_url
from knowledge.errors import UrlNotAllowed
from storage.transactions import transaction



def form_out(form: Form, secret: str | None = None) -> FormOut:
    return FormOut(
        id=str(form.id), agent_id=str(form.agent_id), name=form.name, title=form.title,
        description=form.description, fields=form.fields, trigger_keywords=form.trigger_keywords,
        success_message=form.success_message, terms_and_conditions=form.terms_and_conditions,
        require_terms_acceptance=form.require_terms_acceptance, notification_email=form.notification_email,
        email_subject=form.email_subject, webhook_url=form.webhook_url,
        webhook_endpoint_id=None if form.webhook_endpoint_id is None else str(form.webhook_endpoint_id),
        is_active=form.is_active, tool_name=form.tool_name, created_at=form.created_at.isoformat(),
        updated_at=form.updated_at.isoformat(), webhook_secret=secret if secret is not None else msgspec.UNSET)


async def own_form(request: web.Request, form_id: uuid.UUID) -> Form:
    """The live form of a live agent, if the caller is a member of its business; 404 otherwise, alike for all."""
    await auth.current_user(request)
    pool = request.app[POOL]
    form = await form_store.get(pool, form_id)
    if form is None or await agents.get_agent(pool, form.agent_id) is None:
        raise NotFound("no such form")
    try:
        await auth.business_for(request, str(form.business_id))
    except NotFound:
        raise NotFound("no such form") from None
    return form


async def _checked(request: web.Request, spec: FormSpec, *, url_changed: bool) -> FormSpec:
    """The spec checked, its webhookUrl through the URL guard when it is new or changed.

    Raises:
        ValidationError: a rule of the definition, naming its field.
        ApiError: 422 URL_NOT_ALLOWED.
    """
    try:
        spec = checked_spec(spec)
    except FormDefinitionError as exc:
        raise ValidationError(exc.field, exc.message) from None
    if spec.webhook_url is not None and url_changed:
        try:
            url = await checked_url(spec.webhook_url, request.app[SETTINGS].knowledge.allowed_private_hosts,
                                    request.app[URL_RESOLVER])
        except UrlNotAllowed as exc:
            raise ApiError(422, "URL_NOT_ALLOWED", f"webhookUrl: {exc}", field="webhookUrl") from None
        spec = msgspec.structs.replace(spec, webhook_url=url)
    return spec


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def create_form(request: web.Request) -> web.Response:
    agent = await own_agent(request, path_uuid(request, "agentId"))
    spec = await _checked(request, await read_body(request, FormSpec), url_changed=True)
    now = _now()
    try:
        async with transaction(request.app[POOL]) as conn:
            form = await form_store.create(conn, agent.business_id, agent.id, spec, now=now)
            form, secret = await form_hooks.sync_endpoint(conn, form, now=now)
    except TooManyForms as exc:
        raise ApiError(422, "TOO_MANY_FORMS", f"forms: {exc}", field="forms") from None
    return struct_response(form_out(form, secret), status=201)


async def list_forms(request: web.Request) -> web.Response:
    agent = await own_agent(request, path_uuid(request, "agentId"))
    return struct_response(FormList([form_out(f) for f in await form_store.of_agent(request.app[POOL], agent.id)]))


async def get_form(request: web.Request) -> web.Response:
    return struct_response(form_out(await own_form(request, path_uuid(request, "formId"))))


async def patch_form(request: web.Request) -> web.Response:
    form = await own_form(request, path_uuid(request, "formId"))
    body = await read_body(request, FormPatch)
    changes = {name: value for name in FormPatch.__struct_fields__
               if (value := getattr(body, name)) is not msgspec.UNSET}
    spec = await _checked(request, msgspec.structs.replace(form.spec(), **changes),
                          url_changed=changes.get("webhook_url", form.webhook_url) != form.webhook_url)
    now = _now()
    async with transaction(request.app[POOL]) as conn:
        saved = await form_store.replace(conn, form.id, spec, now=now)
        if saved is None:
            raise NotFound("no such form")
        saved, secret = await form_hooks.sync_endpoint(conn, saved, now=now)
    return struct_response(form_out(saved, secret))


async def delete_form(request: web.Request) -> web.Response:
    form = await own_form(request, path_uuid(request, "formId"))
    async with transaction(request.app[POOL]) as conn:
        if not await form_store.soft_delete(conn, form.id, now=_now()):
            raise NotFound("no such form")
        await form_hooks.drop_endpoint(conn, form)
    return web.Response(status=204)


_LINKS = {"GetForm": Link("get_form", {"formId": "$response.body#/id"}),
          "EditForm": Link("patch_form", {"formId": "$response.body#/id"}),
          "DeleteForm": Link("delete_form", {"formId": "$response.body#/id"})}

ROUTES = (
    Route("POST", "/api/agents/{agentId}/forms", create_form, "Add a form to an agent", "forms", "jwt",
          (Reply(201, FormOut, description="Created", links=_LINKS),), errors=(404, 409, 422), body=FormSpec),
    Route("GET", "/api/agents/{agentId}/forms", list_forms, "The agent's forms", "forms", "jwt",
          (Reply(200, FormList),), errors=(404,)),
    Route("GET", "/api/forms/{formId}", get_form, "One form", "forms", "jwt", (Reply(200, FormOut),), errors=(404,)),
    Route("PATCH", "/api/forms/{formId}", patch_form, "Edit a form", "forms", "jwt", (Reply(200, FormOut),),
          errors=(404, 409, 422), body=FormPatch),
    Route("DELETE", "/api/forms/{formId}", delete_form, "Delete a form (its submissions stay)", "forms", "jwt",
          (Reply(204, description="Deleted"),), errors=(404,)),
)



def setup(app: web.Application) -> None:
    register_error(FormNameTaken, 409, "FORM_NAME_TAKEN")
    register(app, ROUTES)

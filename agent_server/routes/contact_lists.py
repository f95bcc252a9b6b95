"""Contact lists for the dashboard: create and list them, add and remove members."""

from __future__ import annotations

from aiohttp import web

from agent_server import auth
from agent_server.api.decoding import read_body, read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import as_uuid
from agent_server.errors import ApiError, NotFound
from agent_server.routes.contacts_shapes import (
    ListCreate,
    ListMembers,
    ListOut,
    ListsOut,
    MembersAdded,
    MessagingBusinessQuery,
)
from agent_server.routes.messaging_access import owned
from agent_server.state import POOL
from agent_server.validation import path_uuid
from messaging import lists


def list_out(found: lists.ContactList) -> ListOut:
    return ListOut(id=str(found.id), name=found.name, size=found.size, created_at=found.created_at.isoformat())


async def create_list(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_body(request, ListCreate)
    membership = await auth.business_for(request, body.business_id)
    try:
        created = await lists.create(request.app[POOL], membership.business_id, body.name)
    except lists.ListExists as exc:
        raise ApiError(409, "LIST_EXISTS", str(exc)) from None
    return struct_response(list_out(created), status=201)


async def list_lists(request: web.Request) -> web.Response:
    membership = await auth.business_for(request, read_query(request, MessagingBusinessQuery).business_id)
    found = await lists.all_of(request.app[POOL], membership.business_id)
    return struct_response(ListsOut(lists=[list_out(x) for x in found]))


async def add_list_contacts(request: web.Request) -> web.Response:
    business_id, list_id = await owned(request, "id", lists.owner, "list")
    body = await read_body(request, ListMembers)
    ids = [as_uuid(x, "contactIds") for x in body.contact_ids]
    added = await lists.add_members(request.app[POOL], business_id, list_id, ids)
    return struct_response(MembersAdded(added=added))


async def remove_list_contact(request: web.Request) -> web.Response:
    business_id, list_id = await owned(request, "id", lists.owner, "list")
    try:
        contact_id = path_uuid(request, "contactId")
    except ApiError:
        raise NotFound("contact not in list") from None
    await lists.remove_member(request.app[POOL], business_id, list_id, contact_id)
    return web.Response(status=204)


ROUTES = (
    Route("POST", "/api/lists", create_list, "Create a contact list", "contacts", "jwt",
          (Reply(201, ListOut, description="Created"),), errors=(403, 404, 409, 422), body=ListCreate),
    Route("GET", "/api/lists", list_lists, "The business's contact lists with their sizes", "contacts", "jwt",
          (Reply(200, ListsOut),), errors=(403, 404), query=MessagingBusinessQuery),
    Route("POST", "/api/lists/{id}/contacts", add_list_contacts, "Add contacts to a list", "contacts", "jwt",
          (Reply(200, MembersAdded),), errors=(404, 422), body=ListMembers),
    Route("DELETE", "/api/lists/{id}/contacts/{contactId}", remove_list_contact, "Take a contact off a list",
          "contacts", "jwt", (Reply(204, description="Removed"),), errors=(404,)),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)

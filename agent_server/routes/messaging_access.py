"""Reaching a messaging object by id: the caller must belong to its business, else the same 404 as a missing one."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from agent_server import auth
from agent_server.errors import NotFound
from agent_server.validation import path_uuid
from agent_server.state import POOL
from storage.executor import Executor

Owner = Callable[[Executor, uuid.UUID], Awaitable[uuid.UUID | None]]


async def owned(request: web.Request, name: str, owner: Owner, what: str) -> tuple[uuid.UUID, uuid.UUID]:
    """(business id, object id) of the path's object `name`; 404 `"{what} not found"` alike for others'."""
    await auth.current_user(request)
    object_id = path_uuid(request, name)
    business_id = await owner(request.app[POOL], object_id)
    if business_id is None:
        raise NotFound(f"{what} not found")
    try:
        await auth.business_for(request, business_id)
    except NotFound:
        raise NotFound(f"{what} not found") from None
    return business_id, object_id

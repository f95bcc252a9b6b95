"""One entry of the route table: how a route is registered and everything the document says about it.

A route module lists its `Route`s and registers them with :func:`register`, so a route the
router knows always has the entry the OpenAPI document is generated from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from aiohttp import web

from agent_server.public_routes import PUBLIC_ROUTES

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
AuthKind = Literal["jwt", "customer", "public", "twilio", "stripe"]
AUTH_KINDS: frozenset[str] = frozenset({"jwt", "customer", "public", "twilio", "stripe"})
# Kinds that take a bearer token: a dashboard user's ("jwt") or a portal customer's ("customer").
TOKEN_KINDS: frozenset[str] = frozenset({"jwt", "customer"})


@dataclasses.dataclass(frozen=True)
class Link:
    """An OpenAPI link: a later operation takes a value from this response (create -> edit -> delete)."""

    operation_id: str
    parameters: Mapping[str, str]


@dataclasses.dataclass(frozen=True)
class Reply:
    """One documented success response: its status and shape (a Struct for JSON, None for none or text)."""

    status: int
    shape: Any = None
    media_type: str = "application/json"
    description: str = "OK"
    links: Mapping[str, Link] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Header:
    """A request header the route reads (signatures, Origin, Idempotency-Key)."""

    name: str
    description: str
    required: bool = False


@dataclasses.dataclass(frozen=True)
class Route:
    """A route: method, path, handler and its contract.

    `auth` is how a caller proves who they are: "jwt" (a dashboard bearer token, business
    scoped), "customer" (a customer portal session, scoped to the customer's assigned agents),
    "twilio" / "stripe" (a webhook signature), "public" (nothing). Every route that
    takes no token is listed with its reason in `agent_server.public_routes.PUBLIC_ROUTES`. `errors` are the 4xx/5xx statuses the handler answers on purpose,
    each with the error envelope; 401, 400 and 413 follow from auth and body and are added.
    """

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    auth: AuthKind
    replies: tuple[Reply, ...]
    errors: tuple[int, ...] = ()
    body: Any = None
    body_media_type: str = "application/json"
    query: Any = None
    headers: tuple[Header, ...] = ()
    websocket: bool = False

    def __post_init__(self) -> None:
        if self.auth not in AUTH_KINDS:
            raise ValueError(f"{self.key}: unknown auth kind {self.auth!r}")
        if (self.auth not in TOKEN_KINDS) != (self.key in PUBLIC_ROUTES):
            raise ValueError(f"{self.key}: a route without a token is listed in PUBLIC_ROUTES, and only such a one")

    @property
    def key(self) -> str:
        """`METHOD /path`, as the router and PUBLIC_ROUTES name it."""
        return f"{self.method} {self.path}"

    @property
    def public_reason(self) -> str:
        """Why anyone may call this route without a token ("" for a dashboard route)."""
        return PUBLIC_ROUTES.get(self.key, "")

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


def register(app: web.Application, routes: tuple[Route, ...]) -> None:
    """Add each route to the router (a GET also answers HEAD, as `add_get` does)."""
    for route in routes:
        if route.method == "GET":
            app.router.add_get(route.path, route.handler)
        else:
            app.router.add_route(route.method, route.path, route.handler)

"""CORS for the dashboard: the origins in `[server] cors_origins` may call `/api/*` from a browser.

Left alone: the widget's routes (tagged `widget`), which answer the embedding page's Origin per
agent themselves (`routes/widget.py`), and the webhooks (auth `twilio`/`stripe`), which Twilio's
and Stripe's servers call, never a browser. Outside `/api/` nothing is touched either.

Where the issue is silent:
- A preflight (OPTIONS with `Origin` and `Access-Control-Request-Method`) is answered here for any
  `/api` path the router knows, without an OPTIONS route per path (the route table and the
  OpenAPI document stay as they are): 204 with the path's methods, the headers the dashboard
  sends, `Max-Age` 600.
- A preflight from an unlisted origin is refused 403 `ORIGIN_NOT_ALLOWED` (as the widget refuses
  one) with no CORS headers, so the browser blocks the request and its network panel says why.
- An actual request from an unlisted origin is served without CORS headers: the browser keeps the
  answer from the page; other clients are unaffected (the bearer token is the protection).
- Every answer on a covered path says `Vary: Origin`, so a cache never hands one origin's answer to
  another; no `Allow-Credentials` (the dashboard sends a bearer token, not cookies); `ETag` and
  `X-Request-ID` are exposed (the dashboard reads the version for `If-Match`).
- `Idempotency-Key` is allowed beside the four headers named in the issue: the checkout route reads it.
- `"*"` (configured alone) answers `Access-Control-Allow-Origin: *` to every origin, with a warning at start-up.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from agent_server.api.route import Route
from agent_server.errors import error_response
from agent_server.widget_access import origin_of

log = structlog.get_logger(__name__)

ALLOWED_HEADERS = "Authorization, Content-Type, If-Match, X-Request-ID, Idempotency-Key"
EXPOSED_HEADERS = "ETag, X-Request-ID"
MAX_AGE_SECONDS = "600"


def exempt(route: Route) -> bool:
    """Webhooks (server to server) and the widget (its own per-agent Origin rules) get no dashboard CORS."""
    return route.auth in ("twilio", "stripe") or route.tag == "widget"


def middlewares(origins: tuple[str, ...], routes: Iterable[Route]) -> tuple[Middleware, ...]:
    """The CORS middleware for `origins` (already normalised by the config), or none when none are listed."""
    if not origins:
        return ()
    if origins == ("*",):
        log.warning("cors_allows_every_origin", detail='[server] cors_origins = ["*"]: any site may call the API'
                    " from a browser (with a user's token)")
    return (_cors(frozenset(origins), frozenset(r.path for r in routes if exempt(r))),)


def _cors(origins: frozenset[str], exempt_paths: frozenset[str]) -> Middleware:
    any_origin = "*" in origins

    def allow_origin(origin: str | None) -> str | None:
        """The `Access-Control-Allow-Origin` value for this request's Origin, None when it is not allowed."""
        if any_origin:
            return "*"
        return origin if origin and origin_of(origin) in origins else None

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        path, methods = await _resource(request)
        if path in exempt_paths:
            return await handler(request)
        origin = request.headers.get("Origin")
        allowed = allow_origin(origin)
        if (request.method == "OPTIONS" and origin is not None and path is not None and "OPTIONS" not in methods
                and "Access-Control-Request-Method" in request.headers):
            return _preflight(allowed, methods)
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # redirects and prepared JSON errors pass the error middleware raised
            _decorate(exc, allowed)
            raise
        _decorate(response, allowed)
        return response

    return cors


async def _resource(request: web.Request) -> tuple[str | None, set[str]]:
    """The matched resource's path pattern (None for no route) and its methods (only looked up when needed)."""
    match = request.match_info
    if match.http_exception is None and request.method != "OPTIONS":
        resource = match.route.resource
        return (resource.canonical if resource is not None else None), set()
    for resource in request.app.router.resources():
        found, methods = await resource.resolve(request)
        if found is not None or methods:
            return resource.canonical, set(methods)
    return None, set()


def _preflight(allowed: str | None, methods: set[str]) -> web.StreamResponse:
    if allowed is None:
        response = error_response(403, "ORIGIN_NOT_ALLOWED", "this origin may not call the API from a browser")
        response.headers["Vary"] = "Origin"
        return response
    return web.Response(status=204, headers={
        "Access-Control-Allow-Origin": allowed,
        "Access-Control-Allow-Methods": ", ".join(sorted(methods)),
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": MAX_AGE_SECONDS,
        "Vary": "Origin",
    })


def _decorate(response: web.StreamResponse, allowed: str | None) -> None:
    if response.prepared:  # a websocket or a stream has sent its headers already
        return
    vary = response.headers.get("Vary", "")
    if "origin" not in vary.lower():
        response.headers["Vary"] = f"{vary}, Origin" if vary else "Origin"
    if allowed is not None:
        response.headers["Access-Control-Allow-Origin"] = allowed
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS

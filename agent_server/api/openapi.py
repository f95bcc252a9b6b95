"""The OpenAPI 3.1 document, generated from the route table and the shapes the handlers decode with.

Nothing here is written by hand beside the handlers: paths, parameters, bodies and response
schemas come from each `Route` and its msgspec Structs (`msgspec.json.schema_components`,
JSON Schema 2020-12, which OpenAPI 3.1 takes as it is); every 4xx/5xx is the one error envelope.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import msgspec

from agent_server.api.route import Route
from agent_server.api.shapes import Body, ErrorEnvelope

REF_TEMPLATE = "#/components/schemas/{name}"
_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Path parameters are UUIDs, but for these.
_PATH_SCHEMAS: dict[str, dict[str, Any]] = {"version": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}

ERROR_DESCRIPTIONS = {
    400: "Malformed request (request line or headers too long, body not JSON or not an object, a bad signature)",
    401: "Missing, expired or invalid bearer token",
    402: "The business's wallet cannot pay for this",
    403: "Not allowed (no business, origin not allowed, a bad webhook signature, or the wrong kind of token)",
    404: "Not found, or owned by another business (the two look the same)",
    405: "Method not allowed",
    409: "Conflicts with the current state",
    410: "Gone: a single-use link already used or expired (LINK_EXPIRED)",
    412: "If-Match names a version that is no longer current (VERSION_CONFLICT)",
    413: "Body or message too large",
    422: "A field is invalid; `error.field` names it",
    429: "Rate limited",
    502: "An upstream provider (Twilio, Stripe) failed",
    503: "Not configured on this server, or not ready",
}


def _shapes(routes: Iterable[Route]) -> list[Any]:
    """Every shape the document names, each once, in a stable order."""
    seen: dict[Any, None] = {ErrorEnvelope: None}
    for route in routes:
        for shape in (route.body, route.query, *(reply.shape for reply in route.replies)):
            if shape is not None:
                seen.setdefault(shape, None)
    return list(seen)


def _query_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: no JSON null (a query string cannot carry one), and "" allowed (means absent)."""
    options = [option for option in schema.get("anyOf", ()) if option != {"type": "null"}]
    if "anyOf" in schema and len(options) == 1:
        schema = {**{k: v for k, v in schema.items() if k != "anyOf"}, **options[0]}
    value = {k: v for k, v in schema.items() if k not in ("default", "description")}
    return {"anyOf": [value, {"const": ""}], **({"default": schema["default"]} if schema.get("default") else {})}


class _Builder:
    def __init__(self, routes: tuple[Route, ...]) -> None:
        shapes = _shapes(routes)
        refs, self.components = msgspec.json.schema_components(shapes, ref_template=REF_TEMPLATE)
        self.refs: dict[Any, dict[str, Any]] = dict(zip(shapes, refs, strict=True))

    def parameters(self, route: Route) -> list[dict[str, Any]]:
        params: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True,
             "schema": _PATH_SCHEMAS.get(name, {"type": "string", "format": "uuid"})}
            for name in _PATH_PARAM.findall(route.path)]
        if route.query is not None:
            query = self.components[route.query.__name__]
            required = set(query.get("required", ()))
            params += [{"name": name, "in": "query", "required": name in required, "schema": _query_schema(schema),
                        **({"description": schema["description"]} if "description" in schema else {})}
                       for name, schema in query["properties"].items()]
        params += [{"name": h.name, "in": "header", "required": h.required, "description": h.description,
                    "schema": {"type": "string"}} for h in route.headers]
        return params

    def responses(self, route: Route) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for reply in route.replies:
            entry: dict[str, Any] = {"description": reply.description}
            if reply.shape is not None:
                entry["content"] = {reply.media_type: {"schema": self.refs[reply.shape]}}
            elif reply.media_type != "application/json":
                entry["content"] = {reply.media_type: {"schema": {"type": "string"}}}
            if reply.links:
                entry["links"] = {name: {"operationId": link.operation_id, "parameters": dict(link.parameters)}
                                  for name, link in reply.links.items()}
            out[str(reply.status)] = entry
        # Any request can be refused by the HTTP parser itself (a URL or header over 8 KiB): 400.
        errors = set(route.errors) | {400, 405}
        if route.auth in ("jwt", "customer"):
            errors.add(401)
        if route.body is not None:
            errors.add(413)
        if isinstance(route.body, type) and issubclass(route.body, Body):
            errors.update((400, 422))  # decoded here: malformed JSON, or a field that is not valid
        if route.query is not None:
            errors.add(422)
        for status in sorted(errors):
            content: dict[str, Any] = {"application/json": {"schema": self.refs[ErrorEnvelope]}}
            if status == 400:
                # aiohttp's parser refuses an over-long line before any handler runs, in plain text.
                content["text/plain"] = {"schema": {"type": "string"}}
            out[str(status)] = {"description": ERROR_DESCRIPTIONS[status], "content": content}
        return out

    def operation(self, route: Route) -> dict[str, Any]:
        op: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary, "tags": [route.tag],
                              "x-auth": route.auth}
        if route.public_reason:
            op["description"] = f"No dashboard token: {route.public_reason}"
        if route.websocket:
            op["x-websocket"] = True
        params = self.parameters(route)
        if params:
            op["parameters"] = params
        if route.body is not None:
            op["requestBody"] = {"required": True,
                                 "content": {route.body_media_type: {"schema": self.refs[route.body]}}}
        op["responses"] = self.responses(route)
        op["security"] = ([{"bearerAuth": []}] if route.auth == "jwt"
                          else [{"customerAuth": []}] if route.auth == "customer" else [])
        return op


def document(routes: tuple[Route, ...], *, server_url: str, version: str) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document for these routes.

    Raises:
        ValueError: two routes share an operation id or a method and path.
    """
    ids = [route.operation_id for route in routes]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"operation ids used twice: {sorted(duplicates)}")
    builder = _Builder(routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        methods = paths.setdefault(route.path, {})
        if route.method.lower() in methods:
            raise ValueError(f"{route.method} {route.path} is declared twice")
        methods[route.method.lower()] = builder.operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "agent-server", "version": version,
                 "description": "Dashboard JSON API, website widget, and the Twilio and Stripe webhooks."},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": builder.components,
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "A Supabase session token (HS256, audience `authenticated`)"},
                "customerAuth": {
                    "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "A customer portal session (HS256, audience `customer-portal`)"}},
        },
    }

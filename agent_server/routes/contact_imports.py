"""Contact imports: upload a CSV (or JSON rows) -> 202 {importId}; a job merges it; read its counts and errors.csv."""

from __future__ import annotations

import csv
import datetime
import io
from typing import Annotated, Any

import msgspec
import orjson
from aiohttp import web

from agent_server import auth
from agent_server.api.decoding import decode_body, read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import Instant, Query, Uuid, as_optional_uuid
from agent_server.errors import ApiError, NotFound, ValidationError
from agent_server.routes.messaging_access import owned
from agent_server.state import POOL
from messaging import imports, lists
from messaging.csv_rows import FIELDS, MAX_BYTES


class ImportQuery(Query):
    """The upload's options; `mapping` is a JSON object of CSV header -> field (`phone`, `attributes.city`, ...)."""

    business_id: Uuid | None = None
    default_country: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z]{2}$")] = "US"
    list_id: Uuid | None = None
    consent_source: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    mapping: Annotated[str, msgspec.Meta(max_length=4000)] | None = None


class JsonContacts(msgspec.Struct, kw_only=True):
    """The JSON form of an upload: rows with the CSV's fields (`phone`, `firstName`, ..., `attributes`)."""

    contacts: Annotated[list[dict[str, Any]], msgspec.Meta(max_length=100_000)]


class ImportStarted(msgspec.Struct, rename="camel", kw_only=True):
    import_id: Uuid


class ImportCounts(msgspec.Struct, rename="camel", kw_only=True):
    created: int
    updated: int
    duplicate: int
    invalid: int
    opted_out: int


class ImportOut(msgspec.Struct, rename="camel", kw_only=True):
    """An import; `status` is queued, running, done or failed (a malformed file fails whole, `error` says why)."""

    id: Uuid
    status: str
    counts: ImportCounts
    error: str | None
    created_at: Instant
    finished_at: Instant | None


async def _upload(request: web.Request) -> bytes:
    """The body, up to 20 MiB (read here: the app's body limit is for JSON requests)."""
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > MAX_BYTES:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"an import is at most {MAX_BYTES // (1 << 20)} MiB")
        chunks.append(chunk)
    if not chunks:
        raise ValidationError("file", "the upload is empty")
    return b"".join(chunks)


def _json_as_csv(data: bytes) -> tuple[bytes, dict[str, str]]:
    """JSON rows as the CSV the job reads, with the mapping that names each column for what it is."""
    rows = decode_body(data, JsonContacts).contacts
    attributes = sorted({str(k) for r in rows if isinstance(r.get("attributes"), dict) for k in r["attributes"]})
    header = [*FIELDS, *(f"attributes.{k}" for k in attributes)]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for r in rows:
        extra = r["attributes"] if isinstance(r.get("attributes"), dict) else {}
        tags = r.get("tags")
        values = {f: str(r.get(f) or "") for f in FIELDS}
        values["tags"] = ",".join(map(str, tags)) if isinstance(tags, list) else values["tags"]
        writer.writerow([*(values[f] for f in FIELDS), *(str(extra.get(k, "")) for k in attributes)])
    return out.getvalue().encode(), {h: h for h in header}


def _mapping(raw: str | None) -> dict[str, str] | None:
    if raw is None:
        return None
    try:
        mapping = orjson.loads(raw)
    except orjson.JSONDecodeError:
        mapping = None
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise ValidationError("mapping", "must be a JSON object of header -> field")
    return mapping


async def import_contacts(request: web.Request) -> web.Response:
    query = read_query(request, ImportQuery)
    membership = await auth.business_for(request, query.business_id)
    list_id = as_optional_uuid(query.list_id, "listId")
    if list_id is not None and await lists.owner(request.app[POOL], list_id) != membership.business_id:
        raise NotFound("list not found")
    mapping = _mapping(query.mapping)
    data = await _upload(request)
    if request.content_type == "application/json":
        data, mapping = _json_as_csv(data)
    options = imports.ImportOptions(query.default_country.upper(), mapping, list_id, query.consent_source)
    import_id = await imports.start(request.app[POOL], membership.business_id, data, options,
                                    now=datetime.datetime.now(datetime.UTC))
    return struct_response(ImportStarted(import_id=str(import_id)), status=202)


async def get_import(request: web.Request) -> web.Response:
    business_id, import_id = await owned(request, "id", imports.owner, "import")
    found = await imports.get(request.app[POOL], business_id, import_id)
    c = found.counts
    return struct_response(ImportOut(
        id=str(found.id), status=found.status, counts=ImportCounts(created=c["created"], updated=c["updated"],
                                                                    duplicate=c["duplicate"], invalid=c["invalid"],
                                                                    opted_out=c["optedOut"]),
        error=found.error, created_at=found.created_at.isoformat(),
        finished_at=found.finished_at.isoformat() if found.finished_at else None))


async def import_errors(request: web.Request) -> web.Response:
    business_id, import_id = await owned(request, "id", imports.owner, "import")
    text = await imports.errors_csv(request.app[POOL], business_id, import_id)
    return web.Response(text=text, content_type="text/csv")


ROUTES = (
    Route("POST", "/api/contacts/import", import_contacts,
          "Import contacts from a CSV body (or JSON {contacts: [...]}), merged by a background job", "contacts",
          "jwt", (Reply(202, ImportStarted, description="Queued"),), errors=(403, 404, 413, 422), query=ImportQuery),
    Route("GET", "/api/contacts/imports/{id}", get_import, "An import's status and counts", "contacts", "jwt",
          (Reply(200, ImportOut),), errors=(404,)),
    Route("GET", "/api/contacts/imports/{id}/errors.csv", import_errors, "The rows an import left out: line, reason",
          "contacts", "jwt", (Reply(200, media_type="text/csv", description="line,reason rows"),), errors=(404,)),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)

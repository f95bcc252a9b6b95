"""Contact imports: the upload is stored and a job parses it off the event loop and merges it into the contacts.

The merge is one transaction: every valid row upserted (a phone the business already has is
updated, its empty fields kept), added to the chosen list, and its consent recorded when the
upload names a consent source. Opted-out phones are imported (so the dashboard shows them as
opted out) but counted apart, and an import never lifts an opt-out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import uuid
from typing import Any, Final

import asyncpg
import orjson
import structlog

from jobs import queue
from jobs.queue import Job
from messaging.csv_rows import MalformedFile, Parsed, parse
from messaging.errors import NotFound
from storage.executor import Connection, Executor
from storage.transactions import transaction

log = structlog.get_logger(__name__)
IMPORT_KIND: Final = "messaging.import"


@dataclasses.dataclass(frozen=True)
class ImportOptions:
    default_country: str = "US"
    mapping: dict[str, str] | None = None
    list_id: uuid.UUID | None = None
    consent_source: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"defaultCountry": self.default_country, "mapping": self.mapping,
                "listId": str(self.list_id) if self.list_id else None, "consentSource": self.consent_source}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ImportOptions:
        return cls(raw.get("defaultCountry") or "US", raw.get("mapping"),
                   uuid.UUID(raw["listId"]) if raw.get("listId") else None, raw.get("consentSource"))


@dataclasses.dataclass(frozen=True)
class ImportRecord:
    id: uuid.UUID
    status: str
    counts: dict[str, int]
    error: str | None
    created_at: datetime.datetime
    finished_at: datetime.datetime | None


async def start(db: Executor, business_id: uuid.UUID, data: bytes, options: ImportOptions, *,
                now: datetime.datetime) -> uuid.UUID:
    """Store the upload and queue its job in one transaction."""
    async with transaction(db) as conn:
        import_id: uuid.UUID = await conn.fetchval(
            "INSERT INTO contact_imports (business_id, options, file, created_at) VALUES ($1, $2, $3, $4)"
            " RETURNING id", business_id, options.to_json(), data, now)
        await queue.enqueue(conn, IMPORT_KIND, {"importId": str(import_id)}, now=now, business_id=business_id,
                            dedupe_key=str(import_id))
    return import_id


async def get(db: Executor, business_id: uuid.UUID, import_id: uuid.UUID) -> ImportRecord:
    row = await db.fetchrow("SELECT id, status, created, updated, duplicate, invalid, opted_out, error, created_at,"
                            " finished_at FROM contact_imports WHERE id = $1 AND business_id = $2",
                            import_id, business_id)
    if row is None:
        raise NotFound("import not found")
    counts = {"created": row["created"], "updated": row["updated"], "duplicate": row["duplicate"],
              "invalid": row["invalid"], "optedOut": row["opted_out"]}
    return ImportRecord(row["id"], row["status"], counts, row["error"], row["created_at"], row["finished_at"])


async def errors_csv(db: Executor, business_id: uuid.UUID, import_id: uuid.UUID) -> str:
    found: str | None = await db.fetchval("SELECT errors_csv FROM contact_imports WHERE id = $1 AND business_id = $2",
                                          import_id, business_id)
    if found is None:
        raise NotFound("import not found")
    return found


async def owner(db: Executor, import_id: uuid.UUID) -> uuid.UUID | None:
    found: uuid.UUID | None = await db.fetchval("SELECT business_id FROM contact_imports WHERE id = $1", import_id)
    return found


_MERGE: Final = """
WITH up AS (
    INSERT INTO contacts AS c (business_id, phone, first_name, last_name, email, tags, attributes, timezone,
                               consent_source, consent_at)
    SELECT $1, r.phone, r.first_name, r.last_name, nullif(r.email, ''), r.tags, r.attributes::jsonb,
           nullif(r.timezone, ''), $3, CASE WHEN $3::text IS NULL THEN NULL ELSE $4::timestamptz END
      FROM import_rows r
    ON CONFLICT (business_id, phone) WHERE deleted_at IS NULL DO UPDATE SET
        first_name = CASE WHEN excluded.first_name <> '' THEN excluded.first_name ELSE c.first_name END,
        last_name = CASE WHEN excluded.last_name <> '' THEN excluded.last_name ELSE c.last_name END,
        email = coalesce(excluded.email, c.email),
        tags = ARRAY(SELECT DISTINCT t FROM unnest(c.tags || excluded.tags) t ORDER BY t),
        attributes = c.attributes || excluded.attributes,
        timezone = coalesce(excluded.timezone, c.timezone),
        consent_source = coalesce(excluded.consent_source, c.consent_source),
        consent_at = coalesce(excluded.consent_at, c.consent_at),
        updated_at = $4
    RETURNING c.id, c.phone, (xmax = 0) AS inserted
), members AS (
    INSERT INTO contact_list_members (list_id, contact_id) SELECT $2, id FROM up WHERE $2::uuid IS NOT NULL
    ON CONFLICT DO NOTHING
), consented AS (
    INSERT INTO consent_events (business_id, phone, action, source, detail, created_at)
    SELECT $1, phone, 'opt_in', 'import', $3, $4 FROM up WHERE $3::text IS NOT NULL
)
SELECT count(*) FILTER (WHERE up.inserted AND s.phone IS NULL) AS created,
       count(*) FILTER (WHERE NOT up.inserted AND s.phone IS NULL) AS updated,
       count(s.phone) AS opted_out
  FROM up LEFT JOIN suppressions s ON s.business_id = $1 AND s.phone = up.phone
"""


async def merge(conn: Connection, business_id: uuid.UUID, parsed: Parsed, options: ImportOptions, *,
                now: datetime.datetime) -> dict[str, int]:
    """Upsert the parsed rows (inside the caller's transaction); returns created/updated/optedOut."""
    if options.list_id is not None and not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM contact_lists WHERE id = $1 AND business_id = $2)",
            options.list_id, business_id):
        raise MalformedFile("the list to import into no longer exists")
    await conn.execute("CREATE TEMP TABLE import_rows (phone text, first_name text, last_name text, email text,"
                       " tags text[], attributes text, timezone text) ON COMMIT DROP")
    await conn.copy_records_to_table("import_rows", records=[
        (r.phone, r.first_name, r.last_name, r.email, sorted(r.tags), orjson.dumps(r.attributes).decode(), r.timezone)
        for r in parsed.rows])
    row = await conn.fetchrow(_MERGE, business_id, options.list_id, options.consent_source, now)
    assert row is not None
    return {"created": row["created"], "updated": row["updated"], "optedOut": row["opted_out"]}


class ImportJob:
    """The `messaging.import` handler: parse in a worker thread, merge in one transaction, record the outcome."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def __call__(self, job: Job) -> None:
        import_id = uuid.UUID(job.payload["importId"])
        row = await self._pool.fetchrow("UPDATE contact_imports SET status = 'running' WHERE id = $1"
                                        " AND status IN ('queued', 'running') RETURNING business_id, options, file",
                                        import_id)
        if row is None:
            return
        options = ImportOptions.from_json(row["options"])
        now = datetime.datetime.now(datetime.UTC)
        try:
            parsed = await asyncio.to_thread(parse, row["file"], default_country=options.default_country,
                                             mapping=options.mapping)
            async with transaction(self._pool) as conn:
                counts = await merge(conn, row["business_id"], parsed, options, now=now)
                await conn.execute(
                    "UPDATE contact_imports SET status = 'done', file = NULL, created = $2, updated = $3,"
                    " duplicate = $4, invalid = $5, opted_out = $6, errors_csv = $7, finished_at = $8 WHERE id = $1",
                    import_id, counts["created"], counts["updated"], parsed.duplicates, len(parsed.invalid),
                    counts["optedOut"], parsed.errors_csv(), now)
        except MalformedFile as exc:
            await self._pool.execute("UPDATE contact_imports SET status = 'failed', file = NULL, error = $2,"
                                     " finished_at = $3 WHERE id = $1", import_id, str(exc), now)
            log.info("contact_import_failed", import_id=str(import_id), reason=str(exc))
            return
        log.info("contact_import_done", import_id=str(import_id), rows=len(parsed.rows))

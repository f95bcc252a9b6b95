"""Contact imports through the API and the job runner: exact counts, errors.csv, a malformed file failing whole."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from messaging import consent, contacts
from tests.conftest import MakeClient
from tests.messaging.conftest import Shop

Client = TestClient[web.Request, web.Application]


async def upload(client: Client, shop: Shop, data: bytes, content_type: str = "text/csv", **params: str) -> Any:
    resp = await client.post("/api/contacts/import", data=data, params=params,
                             headers={**shop.headers, "Content-Type": content_type})
    assert resp.status == 202, await resp.text()
    import_id = (await resp.json())["importId"]
    async with asyncio.timeout(10):
        while True:
            found = await (await client.get(f"/api/contacts/imports/{import_id}", headers=shop.headers)).json()
            if found["status"] in ("done", "failed"):
                return found
            await asyncio.sleep(0.05)


async def test_a_messy_csv_imports_with_exact_counts(make_client: MakeClient, shop: Shop, pool: asyncpg.Pool) -> None:
    client = await make_client()
    await contacts.create(pool, shop.business_id, contacts.NewContact("+14155550101", first_name="Old",
                                                                      last_name="Kept"))
    await consent.opt_out(pool, shop.business_id, "+14155550102", source=consent.Source.KEYWORD)
    listed = await (await client.post("/api/lists", json={"name": "Spring"}, headers=shop.headers)).json()
    data = ("\ufeffTéléphone;Prénom;Ville;Tags\n"
            "(415) 555-0101;Renée;Paris;vip\n"         # updates the existing contact
            "415.555.0102;Ana;Lyon;\n"                  # opted out: imported, counted apart
            "+1 415 555 0103;\"Ben; Jr\";Nice;a,b\n"    # created, quoted separator
            "4155550103;;Nice;c\n"                      # duplicate of the row above, merged
            "555-0199;Bad;;\n"                          # invalid
            ";;;\n").encode()                           # blank: skipped
    found = await upload(client, shop, data, listId=listed["id"], consentSource="spring form",
                         mapping='{"Téléphone": "phone", "Prénom": "firstName", "Ville": "attributes.city",'
                                 ' "Tags": "tags"}')
    assert found["status"] == "done", found
    assert found["counts"] == {"created": 1, "updated": 1, "duplicate": 1, "invalid": 1, "optedOut": 1}
    updated = await contacts.by_phone(pool, shop.business_id, "+14155550101")
    assert updated is not None
    assert (updated.first_name, updated.last_name, updated.attributes) == ("Renée", "Kept", {"city": "Paris"})
    merged = await contacts.by_phone(pool, shop.business_id, "+14155550103")
    assert merged is not None and (merged.first_name, merged.tags) == ("Ben; Jr", ["a", "b", "c"])
    assert merged.consent_source == "spring form" and merged.consent_at is not None
    assert await consent.is_suppressed(pool, shop.business_id, "+14155550102"), "an import never lifts an opt-out"
    members = await (await client.get("/api/contacts", params={"listId": listed["id"]}, headers=shop.headers)).json()
    assert len(members["contacts"]) == 3
    errors = await client.get(f"/api/contacts/imports/{found['id']}/errors.csv", headers=shop.headers)
    assert (errors.content_type, await errors.text()) == ("text/csv", "line,reason\n6,invalid phone '555-0199'\n")


async def test_cp1252_and_json_rows(make_client: MakeClient, shop: Shop, pool: asyncpg.Pool) -> None:
    client = await make_client()
    found = await upload(client, shop, "phone,name\n4155550111,Jos\xe9\n".encode("cp1252"))
    assert found["counts"]["created"] == 1
    found = await upload(client, shop, b'{"contacts": [{"phone": "4155550112", "firstName": "Kim", "tags": ["x"],'
                                       b' "attributes": {"plan": "gold"}}, {"phone": "nope"}]}', "application/json")
    assert found["counts"] == {"created": 1, "updated": 0, "duplicate": 0, "invalid": 1, "optedOut": 0}
    kim = await contacts.by_phone(pool, shop.business_id, "+14155550112")
    assert kim is not None and (kim.tags, kim.attributes) == (["x"], {"plan": "gold"})
    jose = await contacts.by_phone(pool, shop.business_id, "+14155550111")
    assert jose is not None and jose.first_name == "José"


async def test_a_malformed_file_fails_whole_and_imports_nothing(make_client: MakeClient, shop: Shop,
                                                                pool: asyncpg.Pool) -> None:
    client = await make_client()
    found = await upload(client, shop, b'phone,name\n4155550121,Ann\n"4155550122,Bob\n')
    assert (found["status"], found["counts"]["created"]) == ("failed", 0)
    assert "line" in found["error"]
    assert await pool.fetchval("SELECT count(*) FROM contacts") == 0

"""The wall between the portal and the dashboard, walked over the app's whole route table.

A customer's token on every route outside the portal is 403 CUSTOMER_NOT_ALLOWED and writes
nothing; a dashboard token on every portal route is 403; a forged, expired, logged-out or
disabled customer's token is 401.
"""

from __future__ import annotations

import datetime
import re
import uuid

import asyncpg
import jwt

from agent_server.api.routes_table import ROUTES
from agent_server.customer_auth import PORTAL_PREFIX
from tests.agent_server.test_tenant_enumeration import registered_routes, row_counts
from tests.customers.conftest import CUSTOMER_SECRET, Client, Shop, invite, sign_in

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _concrete(path: str) -> str:
    return _PARAM.sub(lambda m: "1" if m.group(1) == "version" else str(uuid.uuid4()), path)


def _portal_routes() -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in ROUTES if r.auth == "customer"]


async def test_every_customer_route_is_under_the_portal_prefix(client: Client) -> None:
    assert all(path.startswith(PORTAL_PREFIX) for _, path in _portal_routes())
    assert len(_portal_routes()) >= 9


async def test_a_customer_token_on_every_route_outside_the_portal_is_403_and_writes_nothing(
        client: Client, pool: asyncpg.Pool, signed_in: dict[str, str]) -> None:
    walked = 0
    before = await row_counts(pool)
    for key in sorted(registered_routes(client.app)):
        method, path = key.split(" ", 1)
        if path.startswith(PORTAL_PREFIX):
            continue
        resp = await client.request(method, _concrete(path), headers=signed_in, json={})
        assert resp.status == 403, f"{key}: {resp.status}"
        assert (await resp.json())["error"]["code"] == "CUSTOMER_NOT_ALLOWED", key
        walked += 1
    assert await row_counts(pool) == before
    assert walked > 50


async def test_a_dashboard_token_on_every_portal_route_is_403(client: Client, shop: Shop,
                                                              signed_in: dict[str, str]) -> None:
    for method, path in _portal_routes():
        resp = await client.request(method, _concrete(path), headers=shop.tenant.headers, json={})
        assert resp.status == 403, f"{method} {path}: {resp.status}"
        assert (await resp.json())["error"]["code"] == "DASHBOARD_TOKEN_NOT_ALLOWED"


def _forge(secret: str, **changes: object) -> str:
    now = int(datetime.datetime.now(datetime.UTC).timestamp())
    claims: dict[str, object] = {"sub": str(uuid.uuid4()), "bid": str(uuid.uuid4()), "sid": str(uuid.uuid4()),
                                 "aud": "customer-portal", "role": "customer", "iat": now, "exp": now + 3600}
    claims.update(changes)
    return jwt.encode(claims, secret, algorithm="HS256")


async def test_forged_and_expired_customer_tokens_are_401(client: Client, signed_in: dict[str, str]) -> None:
    real = jwt.decode(signed_in["Authorization"].split()[1], CUSTOMER_SECRET, algorithms=["HS256"],
                      audience="customer-portal")
    past = int(datetime.datetime.now(datetime.UTC).timestamp()) - 7200
    for token in (_forge("not-the-secret-but-as-long-as-the-real-one", **real), _forge(CUSTOMER_SECRET, **{**real, "exp": past, "iat": past - 60}),
                  _forge(CUSTOMER_SECRET), "not.a.jwt"):
        resp = await client.get("/api/customers/portal/me", headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 401, token
    assert (await client.get("/api/customers/portal/me")).status == 401


async def test_logout_ends_the_session_at_once(client: Client, signed_in: dict[str, str]) -> None:
    assert (await client.post("/api/customers/portal/logout", headers=signed_in)).status == 204
    assert (await client.get("/api/customers/portal/me", headers=signed_in)).status == 401


async def test_one_customer_signed_in_twice_keeps_the_other_session(client: Client, pool: asyncpg.Pool,
                                                                    shop: Shop) -> None:
    customer_id = await invite(client, shop, "maria@example.com")
    first = await sign_in(client, pool, "maria@example.com")
    await client.post("/api/customers/login-link", headers=shop.tenant.headers, json={"customer_id": str(customer_id)})
    second = await sign_in(client, pool, "maria@example.com")
    await client.post("/api/customers/portal/logout", headers=first)
    assert (await client.get("/api/customers/portal/me", headers=second)).status == 200

"""Sign-in links: one use, 15 minutes, one winner among simultaneous uses, a GET consumes nothing, one renewal."""

from __future__ import annotations

import asyncio

import asyncpg

from agent_server.config import Settings
from tests.customers.conftest import Client, Shop, deliver, exchange, invite, latest_token


async def test_a_link_opens_a_session_once_and_its_reuse_is_410(client: Client, pool: asyncpg.Pool,
                                                                  shop: Shop) -> None:
    await invite(client, shop, "maria@example.com")
    token = await latest_token(pool, "maria@example.com")
    status, body = await exchange(client, token)
    assert status == 200
    assert body["customer"]["email"] == "maria@example.com"  # type: ignore[index]
    assert await pool.fetchval("SELECT status FROM customers") == "active"
    assert await exchange(client, token) == (410, {"error": {"code": "LINK_EXPIRED",
                                                             "message": "this sign-in link was used or has expired"}})


async def test_a_link_15_minutes_and_1_second_old_is_410(client: Client, pool: asyncpg.Pool, shop: Shop) -> None:
    await invite(client, shop, "maria@example.com")
    token = await latest_token(pool, "maria@example.com")
    await pool.execute("UPDATE customer_login_links SET created_at = created_at - interval '15 minutes 1 second',"
                       " expires_at = expires_at - interval '15 minutes 1 second'")
    status, body = await exchange(client, token)
    assert (status, body["error"]["code"]) == (410, "LINK_EXPIRED")  # type: ignore[index]


async def test_a_link_14_minutes_59_seconds_old_still_works(client: Client, pool: asyncpg.Pool, shop: Shop) -> None:
    await invite(client, shop, "maria@example.com")
    token = await latest_token(pool, "maria@example.com")
    await pool.execute("UPDATE customer_login_links SET created_at = created_at - interval '14 minutes 59 seconds',"
                       " expires_at = expires_at - interval '14 minutes 59 seconds'")
    assert (await exchange(client, token))[0] == 200


async def test_an_unknown_token_is_401_and_a_missing_one_422(client: Client) -> None:
    status, body = await exchange(client, "x" * 43)
    assert (status, body["error"]["code"]) == (401, "LINK_INVALID")  # type: ignore[index]
    resp = await client.post("/api/customers/portal/session", json={})
    assert resp.status == 422


async def test_two_simultaneous_exchanges_of_one_link_let_exactly_one_through_100_times(
        client: Client, pool: asyncpg.Pool, shop: Shop) -> None:
    customer_id = await invite(client, shop, "maria@example.com")
    for _ in range(100):
        await client.post("/api/customers/login-link", headers=shop.tenant.headers,
                          json={"customer_id": str(customer_id)})
        token = await latest_token(pool, "maria@example.com")
        statuses = sorted(s for s, _ in await asyncio.gather(exchange(client, token), exchange(client, token)))
        assert statuses == [200, 410]
        await pool.execute("DELETE FROM rate_limits")  # 200 exchanges from one IP: the limit is tested elsewhere
    assert await pool.fetchval("SELECT count(*) FROM customer_sessions") == 100


async def test_a_get_consumes_nothing(client: Client, pool: asyncpg.Pool, shop: Shop) -> None:
    """Mail scanners prefetch links: the link's page is the portal's, and no GET of ours spends a token."""
    await invite(client, shop, "maria@example.com")
    token = await latest_token(pool, "maria@example.com")
    for path in (f"/api/customers/portal/session?token={token}", f"/api/customers/portal/login?token={token}"):
        resp = await client.get(path)
        assert resp.status in (404, 405)
    assert await pool.fetchval("SELECT count(*) FROM customer_login_links WHERE used_at IS NULL") == 1
    assert (await exchange(client, token))[0] == 200


async def test_an_expired_link_asks_for_a_fresh_one_once(client: Client, pool: asyncpg.Pool, shop: Shop,
                                                        portal_settings: Settings) -> None:
    await invite(client, shop, "maria@example.com")
    await deliver(pool, portal_settings)
    token = await latest_token(pool, "maria@example.com")
    await pool.execute("UPDATE customer_login_links SET created_at = created_at - interval '1 hour',"
                       " expires_at = expires_at - interval '1 hour'")
    for _ in range(2):
        resp = await client.post("/api/customers/portal/login-link", json={"token": token})
        assert resp.status == 202
    mails = await deliver(pool, portal_settings)
    assert [m["To"] for m in mails] == ["maria@example.com"], "renewed once, not twice"
    fresh = await latest_token(pool, "maria@example.com")
    assert fresh != token and (await exchange(client, fresh))[0] == 200


async def test_exchanges_beyond_20_a_minute_from_one_ip_are_429(client: Client) -> None:
    statuses = [(await exchange(client, "y" * 43))[0] for _ in range(21)]
    assert statuses == [401] * 20 + [429]

"""Asking for a link by address: the same answer for every address, mail only where it is a customer, limits."""

from __future__ import annotations

import asyncpg
from multidict import CIMultiDictProxy

from agent_server.config import Settings
from tests.conftest import MakeBusiness
from tests.customers.conftest import Client, Shop, deliver, invite, latest_token, open_shop

_VARYING = {"X-Request-ID", "Date"}


def _headers(headers: CIMultiDictProxy[str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in headers.items() if k not in _VARYING))


async def _ask(client: Client, email: str, *, dashboard_route: bool = False) -> tuple[int, bytes, tuple[tuple[str, str], ...]]:
    if dashboard_route:
        resp = await client.post("/api/customers/send-login-link", params={"email": email})
    else:
        resp = await client.post("/api/customers/portal/login-link", json={"email": email})
    return resp.status, await resp.read(), _headers(resp.headers)


async def test_known_unknown_and_disabled_addresses_get_the_same_answer_and_only_the_known_one_mail(
        client: Client, pool: asyncpg.Pool, shop: Shop, portal_settings: Settings) -> None:
    await invite(client, shop, "known@example.com")
    gone = await invite(client, shop, "disabled@example.com")
    await client.delete(f"/api/customers/{gone}", headers=shop.tenant.headers)
    await deliver(pool, portal_settings)  # the invitations
    for dashboard_route in (False, True):
        answers = {await _ask(client, email, dashboard_route=dashboard_route)
                   for email in ("known@example.com", "nobody@example.com", "disabled@example.com")}
        assert len(answers) == 1, answers
        status, body, _ = answers.pop()
        assert status == 202 and b"accepted" in body
        await pool.execute("DELETE FROM rate_limits")
    mails = await deliver(pool, portal_settings)
    assert [m["To"] for m in mails] == ["known@example.com", "known@example.com"]


async def test_a_fourth_link_within_15_minutes_is_not_sent_and_the_answer_is_the_same(
        client: Client, pool: asyncpg.Pool, shop: Shop, portal_settings: Settings) -> None:
    await invite(client, shop, "maria@example.com")  # the invitation is the first link
    answers = set()
    for _ in range(3):
        answers.add(await _ask(client, "maria@example.com"))
        await deliver(pool, portal_settings)
    assert len(answers) == 1
    assert await pool.fetchval("SELECT count(*) FROM customer_login_links") == 3
    assert await pool.fetchval("SELECT count(*) FROM email_outbox WHERE template = 'customer_sign_in'") == 3


async def test_an_address_that_is_a_customer_of_two_businesses_gets_a_link_from_each(
        client: Client, pool: asyncpg.Pool, shop: Shop, make_business: MakeBusiness,
        portal_settings: Settings) -> None:
    other = await open_shop(pool, make_business, "Florist")
    await invite(client, shop, "maria@example.com")
    await invite(client, other, "maria@example.com")
    await deliver(pool, portal_settings)
    await pool.execute("UPDATE customer_login_links SET created_at = created_at - interval '1 hour',"
                       " expires_at = expires_at - interval '1 hour'")  # the invitations are of an hour ago
    await _ask(client, "maria@example.com")
    mails = await deliver(pool, portal_settings)
    assert sorted(m["Subject"] for m in mails) == ["Your sign-in link for Bakery", "Your sign-in link for Florist"]
    assert await latest_token(pool, "maria@example.com")


async def test_more_than_10_requests_an_hour_from_one_ip_are_429(client: Client) -> None:
    statuses = [(await _ask(client, f"n{i}@example.com"))[0] for i in range(11)]
    assert statuses == [202] * 10 + [429]

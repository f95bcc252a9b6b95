"""Inline and hosted chat (issue 22): the inline script, the hosted page, and the message aliases."""

from __future__ import annotations

import asyncpg

from agent_server.config import Settings
from tests.conftest import PUBLIC_URL, MakeClient
from tests.fake_openai import FakeOpenAi
from tests.messaging.conftest import Shop

ORIGIN = {"Origin": PUBLIC_URL}
ELSEWHERE = {"Origin": "https://elsewhere.example"}


async def _messenger(pool: asyncpg.Pool, shop: Shop, *, enabled: bool = True, name: str = "Receptionist",
                     allowed: list[str] | None = None) -> None:
    await pool.execute("UPDATE agents SET name = $2, allowed_origins = $3, channels = $4 WHERE id = $1",
                       shop.agent_id, name, allowed or [],
                       {"widget": {"messengerEnabled": enabled, "greeting": "Ask us <anything>!"}})


async def test_hosted_page_shows_a_script_name_as_text_and_is_never_indexed(
        make_client: MakeClient, messaging_settings: Settings, shop: Shop, pool: asyncpg.Pool) -> None:
    await _messenger(pool, shop, name="<script>alert(1)</script> Dental")
    client = await make_client(messaging_settings)
    resp = await client.get(f"/m/{shop.agent_id}")
    assert resp.status == 200 and resp.content_type == "text/html"
    page = await resp.text()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Dental" in page and "Ask us &lt;anything&gt;!" in page
    assert '<meta name="robots" content="noindex, nofollow">' in page
    assert resp.headers["X-Robots-Tag"] == "noindex, nofollow"
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert f'src="/api/widget/{shop.agent_id}/script.js" data-auto-open="0"' in page
    auto = await (await client.get(f"/m/{shop.agent_id}?autoOpen=1")).text()
    assert 'data-auto-open="1"' in auto


async def test_hosted_page_is_cached_by_version_and_an_edit_changes_its_etag(
        make_client: MakeClient, messaging_settings: Settings, shop: Shop, pool: asyncpg.Pool) -> None:
    await _messenger(pool, shop)
    client = await make_client(messaging_settings)
    first = await client.get(f"/m/{shop.agent_id}")
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, max-age=300"
    again = await client.get(f"/m/{shop.agent_id}", headers={"If-None-Match": etag})
    assert again.status == 304 and await again.read() == b""
    await pool.execute("UPDATE agents SET version = version + 1 WHERE id = $1", shop.agent_id)
    edited = await client.get(f"/m/{shop.agent_id}", headers={"If-None-Match": etag})
    assert edited.status == 200 and edited.headers["ETag"] != etag


async def test_hosted_page_is_a_404_while_the_messenger_is_off(
        make_client: MakeClient, messaging_settings: Settings, shop: Shop, pool: asyncpg.Pool) -> None:
    await _messenger(pool, shop, enabled=False)
    client = await make_client(messaging_settings)
    off = await client.get(f"/m/{shop.agent_id}")
    missing = await client.get("/m/00000000-0000-0000-0000-000000000000")
    assert off.status == missing.status == 404
    assert await off.json() == await missing.json()


async def test_hosted_pages_own_origin_may_chat_even_when_the_agent_lists_other_sites(
        make_client: MakeClient, messaging_settings: Settings, shop: Shop, pool: asyncpg.Pool) -> None:
    await _messenger(pool, shop, allowed=["https://dental.example"])
    client = await make_client(messaging_settings)
    assert (await client.get(f"/api/widget/{shop.agent_id}/config", headers=ORIGIN)).status == 200
    assert (await client.get(f"/api/widget/{shop.agent_id}/config", headers=ELSEWHERE)).status == 403
    await _messenger(pool, shop, enabled=False, allowed=["https://dental.example"])
    assert (await client.get(f"/api/widget/{shop.agent_id}/config", headers=ORIGIN)).status == 403


async def test_inline_script_is_the_widget_script_with_a_versioned_etag(
        make_client: MakeClient, messaging_settings: Settings, shop: Shop) -> None:
    client = await make_client(messaging_settings)
    resp = await client.get(f"/api/chat/inline/{shop.agent_id}.js")
    assert resp.status == 200 and resp.content_type == "application/javascript"
    assert "data-target" in await resp.text()
    cached = await client.get(f"/api/chat/inline/{shop.agent_id}.js", headers={"If-None-Match": resp.headers["ETag"]})
    assert cached.status == 304
    assert (await client.get("/api/chat/inline/00000000-0000-0000-0000-000000000000.js")).status == 404


async def test_both_message_aliases_answer_like_the_widget_route_and_check_the_origin(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop) -> None:
    client = await make_client(messaging_settings)
    fake_openai.state.script("Yes, we take new patients.")
    by_path = await client.post(f"/api/chat/messenger/{shop.agent_id}", json={"text": "New patients?"},
                                headers=ORIGIN)
    fake_openai.state.script("Yes, we take new patients.")
    by_body = await client.post("/api/chat/inline", json={"chatbotId": str(shop.agent_id), "text": "New patients?"},
                                headers=ORIGIN)
    for resp in (by_path, by_body):
        assert resp.status == 200
        assert (await resp.json())["text"] == "Yes, we take new patients."
    refused = await client.post("/api/chat/inline", json={"chatbotId": str(shop.agent_id), "text": "Hours?"},
                                headers=ELSEWHERE)
    assert refused.status == 403
    unknown = await client.post("/api/chat/inline", json={"chatbotId": "00000000-0000-0000-0000-000000000000",
                                                          "text": "Hours?"}, headers=ORIGIN)
    assert unknown.status == 404

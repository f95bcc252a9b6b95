"""The answer cache through the widget (plain POST and socket) and SMS, with the OpenAI fake counting requests."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server import agents
from agent_server.config import Settings
from conversations import answer_cache
from conversations.widget_messages import Delta, Done
from knowledge import store
from tests.conftest import MakeBusiness, MakeClient, MakeSettings, fund_wallet
from tests.fake_openai import FakeOpenAi
from tests.knowledge.published import dentist_site
from tests.messaging.conftest import TWILIO_TOKEN, Shop, messaging_settings, shop  # noqa: F401  (fixtures)
from tests.messaging.test_paid_replies import drain_wallet, usage_details, usage_entries
from tests.messaging.test_twilio_sms import text
from tests.messaging.test_widget import ORIGIN, ask, socket_path, with_messaging

Client = TestClient[web.Request, web.Application]
PARKING = [{"title": "Parking", "url": "https://dentist.example/parking"}]


async def post(client: Client, agent_id: uuid.UUID, question: str,
               conversation_id: str | None = None) -> dict[str, Any]:
    """A visitor's message through the plain POST (a new conversation unless one is named)."""
    body = {"text": question, **({"conversationId": conversation_id} if conversation_id else {})}
    resp = await client.post(f"/api/widget/{agent_id}/message", headers=ORIGIN, json=body)
    assert resp.status == 200, await resp.text()
    reply: dict[str, Any] = await resp.json()
    return reply


def requests(fake_openai: FakeOpenAi) -> int:
    return len(fake_openai.state.chat_requests)


async def test_the_same_first_question_twice_makes_one_llm_request(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    await dentist_site(pool, shop.business_id, shop.agent_id)
    fake_openai.state.script("Park free in the garage under the practice.")
    client = await make_client(messaging_settings)
    first = await post(client, shop.agent_id, "Where can I park my car?")
    second = await post(client, shop.agent_id, "  where can I park my car ")
    async with client.ws_connect(socket_path(shop), headers=ORIGIN) as ws:
        received = await ask(ws, "WHERE CAN I PARK MY CAR??")

    assert requests(fake_openai) == 1
    assert first["answeredBy"] == "llm" and first["sources"] == PARKING
    assert (second["answeredBy"], second["text"], second["sources"]) == ("cache", first["text"], PARKING)
    assert "".join(m.text for m in received if isinstance(m, Delta)) == first["text"]
    done = received[-1]
    assert isinstance(done, Done) and [{"title": t, "url": u} for t, u in done.sources] == PARKING
    row = await pool.fetchrow("SELECT answered_by, prompt_tokens + completion_tokens AS tokens FROM widget_messages"
                              " WHERE id = $1", done.message_id)
    assert row is not None and (row["answered_by"], row["tokens"]) == ("cache", 0)
    used = await pool.fetchval("SELECT prompt_tokens + completion_tokens FROM widget_messages WHERE id = $1",
                               uuid.UUID(first["messageId"]))
    assert await answer_cache.stats(pool, shop.agent_id) == answer_cache.CacheStats(1, 2, 2 * used)


async def test_after_an_faq_prompt_or_knowledge_edit_the_question_goes_to_the_model_again(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    client = await make_client(with_messaging(messaging_settings, ip_burst=20))
    question = "Do you take new patients?"
    counts = []

    async def ask_twice() -> None:
        await post(client, shop.agent_id, question)
        await post(client, shop.agent_id, question)
        counts.append(requests(fake_openai))

    await ask_twice()
    await pool.execute("""UPDATE agents SET faq = faq || '[{"question": "Parking?", "answer": "Garage."}]'"""
                       " WHERE id = $1", shop.agent_id)
    await ask_twice()
    await pool.execute("UPDATE agents SET system_prompt = 'Answer in one sentence.' WHERE id = $1", shop.agent_id)
    await ask_twice()
    await dentist_site(pool, shop.business_id, shop.agent_id)
    await ask_twice()
    (source,) = await store.sources_of(pool, shop.agent_id)
    await store.delete_source(pool, source.id, shop.agent_id)
    await ask_twice()
    await pool.execute("UPDATE agents SET greeting = 'Welcome!' WHERE id = $1", shop.agent_id)
    await ask_twice()
    # One request per version (each edit misses once, then hits); the greeting shapes no answer.
    assert counts == [1, 2, 3, 4, 5, 5]


async def test_a_question_with_history_is_never_answered_from_or_kept_in_the_cache(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    client = await make_client(messaging_settings)
    greeting = await post(client, shop.agent_id, "Hello")
    await post(client, shop.agent_id, "How much is a cleaning?", greeting["conversationId"])
    assert requests(fake_openai) == 2
    fresh = await post(client, shop.agent_id, "How much is a cleaning?")  # the follow-up's answer was not kept
    assert fresh["answeredBy"] == "llm" and requests(fake_openai) == 3

    other = await post(client, shop.agent_id, "hello!")
    assert other["answeredBy"] == "cache"
    follow_up = await post(client, shop.agent_id, "How much is a cleaning?", other["conversationId"])
    assert follow_up["answeredBy"] == "llm" and requests(fake_openai) == 4


async def test_another_agent_or_business_never_gets_the_cached_answer(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    colleague = await agents.create_agent(pool, shop.business_id, "Billing desk")
    other = await make_business("Other Dental")
    stranger = await agents.create_agent(pool, other.business_id, "Receptionist",
                                         system_prompt="You are the receptionist of Corner Dental.")
    await fund_wallet(pool, other.business_id)
    client = await make_client(messaging_settings)
    for agent_id in (shop.agent_id, shop.agent_id, colleague, stranger):
        await post(client, agent_id, "Can I pay by card?")
    assert requests(fake_openai) == 3


async def test_a_first_text_is_answered_from_the_cache_and_a_thread_never_is(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    fake_openai.state.script("Yes, we see children from age three.")
    client = await make_client(messaging_settings)
    first = await text(client, "Do you treat children?", sender="+14155550111")
    again = await text(client, "do you treat children", sender="+14155550122")
    assert first == again == "Yes, we see children from age three." and requests(fake_openai) == 1
    answered_by = await pool.fetch("SELECT answered_by FROM sms_messages WHERE direction = 'outbound'"
                                   " ORDER BY created_at, id")
    assert [r["answered_by"] for r in answered_by] == ["llm", "cache"]

    await text(client, "Do you treat children?", sender="+14155550122")  # now with a thread: asked
    assert requests(fake_openai) == 2
    await post(client, shop.agent_id, "Do you treat children?")  # the widget is prompted differently
    assert requests(fake_openai) == 3


async def test_a_cache_hit_is_free_by_default_even_for_an_empty_wallet(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    await fund_wallet(pool, shop.business_id, 1_000_000)
    client = await make_client(messaging_settings)
    await post(client, shop.agent_id, "Is the practice accessible by wheelchair?")
    charged = await usage_entries(pool, "chat_usage")
    await drain_wallet(pool, shop)
    hit = await post(client, shop.agent_id, "Is the practice accessible by wheelchair?")
    assert hit["answeredBy"] == "cache" and requests(fake_openai) == 1
    assert await usage_entries(pool, "chat_usage") == charged
    resp = await client.post(f"/api/widget/{shop.agent_id}/message", headers=ORIGIN, json={"text": "Anything new?"})
    assert resp.status == 402 and requests(fake_openai) == 1


async def test_a_cache_hit_is_charged_the_cache_hit_price_as_one_reply(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    billing = dataclasses.replace(messaging_settings.billing, answer_cache_hit_minor=3)
    client = await make_client(dataclasses.replace(messaging_settings, billing=billing))
    await text(client, "Can I bring my dog?", sender="+14155550111")
    await text(client, "Can I bring my dog?", sender="+14155550122")
    await post(client, shop.agent_id, "Can I bring my dog?")
    await post(client, shop.agent_id, "Can I bring my dog?")
    assert requests(fake_openai) == 2
    assert await usage_entries(pool, "sms_usage") == [messaging_settings.billing.sms_per_reply_minor, 3]
    assert (await usage_entries(pool, "chat_usage"))[-1] == 3
    assert (await usage_details(pool, "chat_usage"))[-1] == (1, "replies")


async def test_an_agent_with_the_cache_off_always_asks_the_model(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE agents SET answer_cache_enabled = false WHERE id = $1", shop.agent_id)
    client = await make_client(messaging_settings)
    await post(client, shop.agent_id, "Can I bring my dog?")
    await post(client, shop.agent_id, "Can I bring my dog?")
    assert requests(fake_openai) == 2
    assert await pool.fetchval("SELECT count(*) FROM answer_cache") == 0


async def test_answers_of_the_local_responder_are_not_served_once_a_model_is_configured(
        make_client: MakeClient, make_settings: MakeSettings, messaging_settings: Settings,  # noqa: F811
        fake_openai: FakeOpenAi, shop: Shop) -> None:  # noqa: F811
    without_key = await make_client(make_settings(TWILIO_AUTH_TOKEN=TWILIO_TOKEN))
    assert (await post(without_key, shop.agent_id, "Can I bring my dog?"))["answeredBy"] == "llm"
    assert (await post(without_key, shop.agent_id, "Can I bring my dog?"))["answeredBy"] == "cache"
    with_model = await make_client(messaging_settings)
    assert (await post(with_model, shop.agent_id, "Can I bring my dog?"))["answeredBy"] == "llm"
    assert requests(fake_openai) == 1

"""The portal's reads: only the assigned agents' conversations, messages and leads, with summary, outcome and lead."""

from __future__ import annotations

import datetime
import uuid

import asyncpg
import orjson

from conversations import records
from media import call_records
from phone_numbers import registry
from tests.conftest import MakeBusiness
from tests.customers.conftest import Client, Shop, invite, open_shop, sign_in

NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)


async def _widget(pool: asyncpg.Pool, shop: Shop, agent_id: uuid.UUID, *, summary: str | None = None,
                  lead_name: str | None = None) -> uuid.UUID:
    conversation_id = uuid.uuid4()
    await records.create_conversation(pool, conversation_id, agent_id=agent_id, business_id=shop.business_id,
                                      origin="https://bakery.example")
    await records.add_widget_message(pool, conversation_id, "user", "Do you make wedding cakes?")
    await records.add_widget_message(pool, conversation_id, "assistant", "We do!")
    if summary is not None:
        await _outcome(pool, shop, agent_id, conversation_id, "widget", summary=summary, lead_name=lead_name)
    return conversation_id


async def _outcome(pool: asyncpg.Pool, shop: Shop, agent_id: uuid.UUID, conversation_id: uuid.UUID, channel: str, *,
                   summary: str, lead_name: str | None = None, contact: str | None = None,
                   ours: str | None = None, first: datetime.datetime = NOW - datetime.timedelta(minutes=10)) -> None:
    analysis = {"summary": summary, "outcome": "needs_followup", "sentiment": "positive"}
    await pool.execute(
        "INSERT INTO conversation_outcomes (id, business_id, agent_id, channel, contact_address, our_address,"
        " first_message_at, last_message_at, ended_at, end_reason, analysis_status, analysis)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $7::timestamptz + interval '1 minute', $7::timestamptz + interval '2 minutes',"
        " 'timeout', 'analysed', $8)", conversation_id, shop.business_id, agent_id, channel, contact, ours, first,
        orjson.loads(orjson.dumps(analysis)))
    if lead_name is not None:
        contact_id = await pool.fetchval(
            "INSERT INTO lead_contacts (business_id, name, email, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $4) RETURNING id", shop.business_id, lead_name, f"{uuid.uuid4().hex}@x.example",
            NOW)
        await pool.execute(
            "INSERT INTO leads (business_id, conversation_id, channel, contact_id, name, confidence, created_at)"
            " VALUES ($1, $2, $3, $4, $5, 80, $6)", shop.business_id, conversation_id, channel, contact_id,
            lead_name, NOW)


async def _call(pool: asyncpg.Pool, shop: Shop, agent_id: uuid.UUID) -> uuid.UUID:
    number = await registry.add_number(pool, shop.business_id, f"+1415555{uuid.uuid4().int % 10000:04d}",
                                       agent_id=agent_id)
    call_id = await call_records.record_inbound_call(
        pool, call_sid="CA" + uuid.uuid4().hex, business_id=shop.business_id, number_id=number, agent_id=agent_id,
        from_number="+15551230000", to_number="+14155550100")
    for seq, (role, text) in enumerate((("assistant", "Bakery, how can I help?"), ("user", "A cake, please"))):
        await pool.execute("INSERT INTO call_turns (call_id, seq, role, text) VALUES ($1, $2, $3, $4)",
                           call_id, seq, role, text)
    return call_id


async def _get(client: Client, path: str, headers: dict[str, str], **params: str) -> tuple[int, dict[str, object]]:
    resp = await client.get(path, headers=headers, params=params)
    return resp.status, await resp.json()


async def test_the_customer_sees_its_agents_conversations_with_summary_outcome_and_lead(
        client: Client, pool: asyncpg.Pool, shop: Shop, signed_in: dict[str, str]) -> None:
    mine = await _widget(pool, shop, shop.agent_1, summary="Asked about a wedding cake.", lead_name="Ana")
    call = await _call(pool, shop, shop.agent_1)
    await _widget(pool, shop, shop.agent_2, summary="Not Maria's agent.")
    status, page = await _get(client, "/api/customers/portal/conversations", signed_in)
    assert status == 200
    found = {c["id"]: c for c in page["conversations"]}  # type: ignore[attr-defined]
    assert set(found) == {str(mine), str(call)}
    assert found[str(mine)]["summary"] == "Asked about a wedding cake."
    assert found[str(mine)]["outcome"] == "needs_followup"
    assert found[str(mine)]["lead"]["name"] == "Ana"
    assert found[str(call)]["channel"] == "voice"
    _, calls = await _get(client, "/api/customers/portal/voice-call-logs", signed_in)
    assert [c["id"] for c in calls["conversations"]] == [str(call)]  # type: ignore[index]
    _, widgets = await _get(client, "/api/customers/portal/chatbot-conversations", signed_in)
    assert [c["id"] for c in widgets["conversations"]] == [str(mine)]  # type: ignore[index]
    _, agents = await _get(client, "/api/customers/portal/agents", signed_in)
    assert [a["id"] for a in agents["agents"]] == [str(shop.agent_1)]  # type: ignore[index]


async def test_messages_and_a_calls_transcript_are_read_oldest_first(
        client: Client, pool: asyncpg.Pool, shop: Shop, signed_in: dict[str, str]) -> None:
    chat = await _widget(pool, shop, shop.agent_1)
    call = await _call(pool, shop, shop.agent_1)
    _, messages = await _get(client, f"/api/customers/portal/conversations/{chat}/messages", signed_in)
    assert [(m["role"], m["text"]) for m in messages["messages"]] == [  # type: ignore[index]
        ("user", "Do you make wedding cakes?"), ("assistant", "We do!")]
    _, transcript = await _get(client, f"/api/customers/portal/conversations/{call}/messages", signed_in)
    assert [m["text"] for m in transcript["messages"]] == ["Bakery, how can I help?", "A cake, please"]  # type: ignore[index]


async def test_an_sms_stretch_is_a_conversation_with_its_texts(
        client: Client, pool: asyncpg.Pool, shop: Shop, signed_in: dict[str, str]) -> None:
    ours, theirs = "+14155550100", "+15551112222"
    for direction, sender, to, body in (("inbound", theirs, ours, "Open Sunday?"), ("outbound", ours, theirs, "Yes")):
        await pool.execute("INSERT INTO sms_messages (business_id, direction, from_number, to_number, body, agent_id,"
                           " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)", shop.business_id, direction, sender,
                           to, body, shop.agent_1, NOW + datetime.timedelta(seconds=len(body)))
    stretch = uuid.uuid4()
    await _outcome(pool, shop, shop.agent_1, stretch, "sms", summary="Asked about Sunday.", contact=theirs, ours=ours,
                   first=NOW)
    _, page = await _get(client, "/api/customers/portal/conversations", signed_in, channel="sms")
    assert [c["id"] for c in page["conversations"]] == [str(stretch)]  # type: ignore[index]
    _, messages = await _get(client, f"/api/customers/portal/conversations/{stretch}/messages", signed_in)
    assert [(m["role"], m["text"]) for m in messages["messages"]] == [  # type: ignore[index]
        ("assistant", "Yes"), ("user", "Open Sunday?")]


async def test_another_agents_or_businesss_conversations_and_leads_are_404_like_missing_ones(
        client: Client, pool: asyncpg.Pool, shop: Shop, make_business: MakeBusiness,
        signed_in: dict[str, str]) -> None:
    other_agent = await _widget(pool, shop, shop.agent_2, summary="Agent 2's.", lead_name="Bo")
    rival = await open_shop(pool, make_business, "Rival")
    other_business = await _widget(pool, rival, rival.agent_1, summary="B's.", lead_name="Cy")
    missing = await _get(client, f"/api/customers/portal/conversations/{uuid.uuid4()}/messages", signed_in)
    assert missing[0] == 404
    for conversation in (other_agent, other_business):
        assert await _get(client, f"/api/customers/portal/conversations/{conversation}/messages",
                          signed_in) == missing
    missing_agent = await _get(client, "/api/customers/portal/conversations", signed_in, agentId=str(uuid.uuid4()))
    assert missing_agent[0] == 404
    for agent in (shop.agent_2, rival.agent_1):
        for path in ("/api/customers/portal/conversations", "/api/customers/portal/leads",
                     "/api/customers/portal/voice-call-logs"):
            assert await _get(client, path, signed_in, agentId=str(agent)) == missing_agent, path
    _, leads = await _get(client, "/api/customers/portal/leads", signed_in)
    assert leads["leads"] == []


async def test_an_unassigned_agent_disappears_from_the_portal_at_once(
        client: Client, pool: asyncpg.Pool, shop: Shop) -> None:
    customer_id = await invite(client, shop, "maria@example.com", shop.agent_1, shop.agent_2)
    portal = await sign_in(client, pool, "maria@example.com")
    chat = await _widget(pool, shop, shop.agent_2, summary="Soon hidden.", lead_name="Di")
    assert (await _get(client, f"/api/customers/portal/conversations/{chat}/messages", portal))[0] == 200
    _, leads = await _get(client, "/api/customers/portal/leads", portal)
    assert [lead["name"] for lead in leads["leads"]] == ["Di"]  # type: ignore[index]
    await client.put(f"/api/customers/{customer_id}/chatbots", headers=shop.tenant.headers,
                     json={"chatbot_ids": [str(shop.agent_1)]})
    assert (await _get(client, f"/api/customers/portal/conversations/{chat}/messages", portal))[0] == 404
    _, leads = await _get(client, "/api/customers/portal/leads", portal)
    assert leads["leads"] == []
    _, page = await _get(client, "/api/customers/portal/conversations", portal)
    assert page["conversations"] == []


async def test_pages_follow_the_cursor_without_repeats(client: Client, pool: asyncpg.Pool, shop: Shop,
                                                       signed_in: dict[str, str]) -> None:
    made = {str(await _widget(pool, shop, shop.agent_1)) for _ in range(55)}
    _, first = await _get(client, "/api/customers/portal/conversations", signed_in)
    assert len(first["conversations"]) == 50 and first["next_cursor"]  # type: ignore[arg-type]
    _, second = await _get(client, "/api/customers/portal/conversations", signed_in,
                           cursor=str(first["next_cursor"]))
    seen = [c["id"] for c in first["conversations"] + second["conversations"]]  # type: ignore[operator]
    assert sorted(seen) == sorted(made) and second["next_cursor"] is None


async def test_figures_count_only_the_assigned_agents_against_the_tables(
        client: Client, pool: asyncpg.Pool, shop: Shop, make_business: MakeBusiness,
        signed_in: dict[str, str]) -> None:
    for _ in range(3):
        await _widget(pool, shop, shop.agent_1, summary="Mine.", lead_name="Ed")
    call = await _call(pool, shop, shop.agent_1)
    await pool.execute("UPDATE calls SET duration_seconds = 90 WHERE id = $1", call)
    await _widget(pool, shop, shop.agent_2, summary="Not mine.", lead_name="Fay")
    rival = await open_shop(pool, make_business, "Rival")
    await _widget(pool, rival, rival.agent_1, summary="B's.", lead_name="Gus")
    status, body = await _get(client, "/api/customers/portal/analytics", signed_in)
    assert status == 200
    (mine,) = body["agents"]  # type: ignore[misc]
    expected_widgets = await pool.fetchval("SELECT count(*) FROM widget_conversations WHERE agent_id = $1",
                                           shop.agent_1)
    expected_leads = await pool.fetchval("SELECT count(*) FROM leads l JOIN conversation_outcomes o"
                                         " ON o.id = l.conversation_id WHERE o.agent_id = $1", shop.agent_1)
    assert mine["agent_id"] == str(shop.agent_1)
    assert mine["conversations"] == {"widget": expected_widgets, "sms": 0, "whatsapp": 0, "voice": 1}
    assert (mine["call_minutes"], mine["leads"], mine["outcomes"]) == (1.5, expected_leads, {"needs_followup": 3})
    assert (await _get(client, "/api/customers/portal/analytics", signed_in, agentId=str(shop.agent_2)))[0] == 404

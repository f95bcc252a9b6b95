"""Conversations end once: after the agent's timeout of silence (injected clock), by request, or at hang-up."""

from __future__ import annotations

import dataclasses
import datetime
import uuid

import asyncpg

from agent_server.config import Settings
from agent_server.outcome_jobs import RECURRING, CallOutcomes, handlers, unsubscribe_links
from jobs.runner import Runner
from media.call_records import record_inbound_call
from media.pipeline.hooks import CallInfo, CallOutcome
from media.pipeline.lifecycle import EndReason
from outcomes import ending, records
from tests.conftest import MakeBusiness, MakeClient
from tests.jobs.clock import ManualClock
from tests.outcomes.conftest import OUR_NUMBER, Shop, sms_thread, widget_conversation

CHAT = [("user", "Hi, do you make wedding cakes?"), ("assistant", "We do!"), ("user", "Great, thanks.")]


async def _analysis_jobs(pool: asyncpg.Pool, outcome_id: uuid.UUID) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM jobs WHERE kind = $1 AND dedupe_key = $2",
                                     ending.ANALYSE_KIND, f"analyse:{outcome_id}")
    return count


async def test_a_silent_widget_conversation_ends_once_after_the_agents_timeout(
        pool: asyncpg.Pool, shop: Shop, clock: ManualClock) -> None:
    conversation_id = await widget_conversation(pool, shop, CHAT)
    clock.advance(minutes=29)
    assert await ending.end_idle(pool, now=clock.now) == 0
    clock.advance(minutes=2)
    assert await ending.end_idle(pool, now=clock.now) == 1
    outcome = await records.find(pool, conversation_id)
    assert outcome is not None
    assert (outcome.channel, outcome.end_reason, outcome.ended_at) == ("widget", "timeout", clock.now)
    clock.advance(hours=1)
    assert await ending.end_idle(pool, now=clock.now) == 0
    ended_again = await records.find(pool, conversation_id)
    assert ended_again is not None and ended_again.ended_at == outcome.ended_at
    assert await _analysis_jobs(pool, conversation_id) == 1


async def test_an_agents_own_timeout_is_respected(pool: asyncpg.Pool, shop: Shop, clock: ManualClock) -> None:
    await pool.execute("UPDATE agents SET session_timeout_minutes = 5 WHERE id = $1", shop.agent_id)
    await widget_conversation(pool, shop, CHAT)
    clock.advance(minutes=6)
    assert await ending.end_idle(pool, now=clock.now) == 1


async def test_the_recurring_sweep_ends_conversations_through_the_runner(
        pool: asyncpg.Pool, outcome_settings: Settings, shop: Shop, clock: ManualClock) -> None:
    conversation_id = await widget_conversation(pool, shop, CHAT)
    async with handlers(outcome_settings, pool, clock=clock) as kinds:
        runner = Runner(pool, kinds, outcome_settings.jobs, recurring=RECURRING, clock=clock)
        await runner.run_once()  # first sight of the schedule: only recorded
        clock.advance(minutes=31)
        await runner.run_once()
    outcome = await records.find(pool, conversation_id)
    assert outcome is not None and outcome.end_reason == "timeout"


async def test_an_sms_thread_ends_in_stretches_split_by_silence(
        pool: asyncpg.Pool, shop: Shop, clock: ManualClock) -> None:
    sender = "+14155559876"
    await sms_thread(pool, shop, sender, [("user", "Hi"), ("assistant", "Hello!"), ("user", "Open today?")],
                     at=clock.now - datetime.timedelta(hours=2))
    await sms_thread(pool, shop, sender, [("user", "Me again")], at=clock.now - datetime.timedelta(minutes=5))
    assert await ending.end_idle(pool, now=clock.now) == 1, "the second stretch is still within its timeout"
    clock.advance(minutes=30)
    assert await ending.end_idle(pool, now=clock.now) == 1
    assert await ending.end_idle(pool, now=clock.now) == 0
    rows = await pool.fetch("SELECT channel, contact_address, our_address FROM conversation_outcomes"
                            " ORDER BY first_message_at")
    assert [tuple(r) for r in rows] == [("sms", sender, OUR_NUMBER)] * 2


async def test_the_end_route_ends_once_and_its_alias_finds_it_ended(
        make_client: MakeClient, outcome_settings: Settings, pool: asyncpg.Pool, shop: Shop) -> None:
    client = await make_client(outcome_settings)
    conversation_id = await widget_conversation(pool, shop, CHAT)
    first = await client.post(f"/api/chat/conversations/{conversation_id}/end", headers=shop.headers)
    assert first.status == 200, await first.text()
    body = await first.json()
    assert (body["ended"], body["analysisStatus"]) == (True, "pending")
    again = await client.post("/api/chat/detect-end", json={"conversationId": str(conversation_id)},
                              headers=shop.headers)
    assert again.status == 200
    assert (await again.json())["ended"] is False
    assert (await again.json())["endedAt"] == body["endedAt"]
    assert await _analysis_jobs(pool, conversation_id) == 1
    missing = await client.post(f"/api/chat/conversations/{uuid.uuid4()}/end", headers=shop.headers)
    assert missing.status == 404


async def _sms_ids(pool: asyncpg.Pool, sender: str) -> list[uuid.UUID]:
    rows = await pool.fetch("SELECT id FROM sms_messages WHERE from_number = $1 OR to_number = $1"
                            " ORDER BY created_at, id", sender)
    return [r["id"] for r in rows]


async def test_the_end_route_ends_an_sms_stretch_by_its_id_or_any_message_id_once(
        make_client: MakeClient, outcome_settings: Settings, pool: asyncpg.Pool, shop: Shop,
        make_business: MakeBusiness) -> None:
    client = await make_client(outcome_settings)
    sender = "+14155559876"
    now = datetime.datetime.now(datetime.UTC)
    await sms_thread(pool, shop, sender, [("user", "Hi"), ("assistant", "Hello!"), ("user", "Open today?")],
                     at=now - datetime.timedelta(minutes=2))
    first, _, last = await _sms_ids(pool, sender)
    stretch = records.sms_stretch_id(first)
    stranger = await make_business("Other")
    for foreign in (stretch, last):
        refused = await client.post(f"/api/chat/conversations/{foreign}/end", headers=stranger.headers)
        assert refused.status == 404 and (await refused.json())["error"]["message"] == "no such conversation"
    ended = await client.post(f"/api/chat/conversations/{stretch}/end", headers=shop.headers)
    assert ended.status == 200, await ended.text()
    body = await ended.json()
    assert (body["conversationId"], body["ended"], body["analysisStatus"]) == (str(stretch), True, "pending")
    by_message = await client.post(f"/api/chat/conversations/{last}/end", headers=shop.headers)
    again = await client.post("/api/chat/detect-end", json={"conversationId": str(stretch)}, headers=shop.headers)
    for repeat in (by_message, again):
        assert repeat.status == 200
        assert (await repeat.json()) == {**body, "ended": False}
    outcome = await records.find(pool, stretch)
    assert outcome is not None and (outcome.channel, outcome.end_reason) == ("sms", "request")
    assert await _analysis_jobs(pool, stretch) == 1

    await sms_thread(pool, shop, sender, [("user", "One more thing")])
    newest = (await _sms_ids(pool, sender))[-1]
    second = await client.post(f"/api/chat/conversations/{newest}/end", headers=shop.headers)
    assert (await second.json())["conversationId"] == str(records.sms_stretch_id(newest))
    assert (await second.json())["ended"] is True


async def test_ending_a_whatsapp_stretch_ends_the_earlier_silent_ones_of_its_thread_first(
        make_client: MakeClient, outcome_settings: Settings, pool: asyncpg.Pool, shop: Shop) -> None:
    """A stretch the sweep has not reached yet would be left behind a later one ended by request."""
    client = await make_client(outcome_settings)
    sender = "whatsapp:+14155559876"
    now = datetime.datetime.now(datetime.UTC)
    await sms_thread(pool, shop, sender, [("user", "Hola"), ("user", "Cakes?")], at=now - datetime.timedelta(hours=3))
    await sms_thread(pool, shop, sender, [("user", "Still there?")], at=now - datetime.timedelta(minutes=1))
    old, _, recent = await _sms_ids(pool, sender)
    ended = await client.post(f"/api/chat/conversations/{recent}/end", headers=shop.headers)
    assert ended.status == 200, await ended.text()
    assert (await ended.json())["conversationId"] == str(records.sms_stretch_id(recent))
    rows = await pool.fetch("SELECT id, channel, end_reason FROM conversation_outcomes ORDER BY first_message_at")
    assert [(r["id"], r["channel"], r["end_reason"]) for r in rows] == [
        (records.sms_stretch_id(old), "whatsapp", "timeout"), (records.sms_stretch_id(recent), "whatsapp", "request")]
    assert [await _analysis_jobs(pool, r["id"]) for r in rows] == [1, 1]
    assert await ending.end_idle(pool, now=now + datetime.timedelta(hours=1)) == 0


@dataclasses.dataclass
class _Call:
    info: CallInfo

    def elapsed(self) -> float:
        return 12.0

    def request_end(self, reason: EndReason, *, goodbye: str | None = None) -> None:
        return None


async def test_a_call_ends_at_hang_up_once(pool: asyncpg.Pool, shop: Shop, clock: ManualClock,
                                           outcome_settings: Settings) -> None:
    call_id = await record_inbound_call(pool, call_sid="CA" + "1" * 32, business_id=shop.business_id,
                                        number_id=shop.number_id, agent_id=shop.agent_id,
                                        from_number="+14155551234", to_number=OUR_NUMBER)
    call = _Call(CallInfo(call_id, "CA" + "1" * 32, shop.business_id, shop.agent_id, "+14155551234", OUR_NUMBER))
    observer = CallOutcomes(pool, unsubscribe_links(outcome_settings), clock=clock)
    for _ in range(2):
        await observer.call_ended(call, CallOutcome(EndReason.CALLER_HUNG_UP, 12.0))
    outcome = await records.find(pool, call_id)
    assert outcome is not None
    assert (outcome.channel, outcome.end_reason, outcome.contact_address) == ("call", "hangup", "+14155551234")
    assert await _analysis_jobs(pool, call_id) == 1

"""Leads: a real name and a phone or email the person gave, E.164 phones, one contact per person, the sweep."""

from __future__ import annotations

import asyncio
import datetime
import sys
import uuid
from pathlib import Path

import asyncpg
import orjson
import pytest

from agent_server.config import Settings
from outcomes import ending, lead_records, leads, records
from outcomes.analysis import Analyser
from tests.conftest import MakeClient
from tests.fake_openai import FakeOpenAi, ScriptedReply
from tests.jobs.clock import ManualClock
from tests.outcomes.conftest import Shop, analysis_json, sms_thread, widget_conversation

ROOT = Path(__file__).resolve().parents[2]


def _claim(name: str | None, phone: str | None = None, email: str | None = None) -> leads.LeadClaim:
    return leads.LeadClaim(name, phone, email)


@pytest.mark.parametrize("name", ["test", "User", "asdf", "John Doe", "aaaa", "x", "R2D2", "n/a", "test user"])
def test_a_placeholder_name_is_no_lead(name: str) -> None:
    decision = leads.decide(_claim(name, "(415) 555-0123"), person_text=f"I'm {name}, call (415) 555-0123",
                            channel_id=None, region="US")
    assert not decision.accepted


def test_a_local_phone_the_person_gave_is_stored_in_e164() -> None:
    decision = leads.decide(_claim("Maria Lopez", "(415) 555-0123"), person_text="reach me at 415 555 0123",
                            channel_id=None, region="US")
    assert (decision.accepted, decision.phone, decision.from_channel_id) == (True, "+14155550123", False)
    uk = leads.decide(_claim("Tom Jones", "020 7946 0958"), person_text="ring 020 7946 0958", channel_id=None,
                      region="GB")
    assert uk.phone == "+442079460958"


def test_a_phone_or_email_the_person_never_gave_does_not_count() -> None:
    invented = leads.decide(_claim("Maria Lopez", "+14155550123", "maria@example.com"),
                            person_text="I'm Maria, I want a cake", channel_id=None, region="US")
    assert (invented.accepted, invented.reason) == (False, "no phone or email the person gave")


def test_the_caller_id_is_only_a_hint() -> None:
    alone = leads.decide(_claim("Maria Lopez"), person_text="I'm Maria Lopez", channel_id="whatsapp:+14155550123",
                         region="US")
    assert not alone.accepted
    with_email = leads.decide(_claim("Maria Lopez", None, "Maria@Example.com"),
                              person_text="I'm Maria Lopez, maria@example.com", channel_id="whatsapp:+14155550123",
                              region="US")
    assert (with_email.accepted, with_email.phone, with_email.from_channel_id, with_email.email) == (
        True, "+14155550123", True, "Maria@example.com")


async def test_a_lead_with_a_name_and_a_local_phone_is_stored_in_e164(
        pool: asyncpg.Pool, shop: Shop, clock: ManualClock, analyser: Analyser, fake_openai: FakeOpenAi) -> None:
    fake_openai.state.script(ScriptedReply(json=analysis_json(phone="(415) 555-0123")))
    conversation_id = await widget_conversation(pool, shop, [
        ("user", "Hi, Maria Lopez here, I need a wedding cake"), ("assistant", "Lovely! Your number?"),
        ("user", "It's (415) 555-0123")])
    await ending.end_widget(pool, conversation_id, reason="request", now=clock.now)
    await analyser.analyse_one(conversation_id)
    lead = await lead_records.lead_of(pool, conversation_id)
    assert lead is not None
    assert (lead.name, lead.phone, lead.from_channel_id, lead.channel) == ("Maria Lopez", "+14155550123", False,
                                                                           "widget")


async def test_a_placeholder_name_from_the_model_stores_no_lead(
        pool: asyncpg.Pool, shop: Shop, clock: ManualClock, analyser: Analyser, fake_openai: FakeOpenAi) -> None:
    fake_openai.state.script(ScriptedReply(json=analysis_json(name="test", email="test@example.com")))
    conversation_id = await widget_conversation(pool, shop, [
        ("user", "test"), ("assistant", "Hello!"), ("user", "test@example.com")])
    await ending.end_widget(pool, conversation_id, reason="request", now=clock.now)
    analysed = await analyser.analyse_one(conversation_id)
    assert analysed is not None and analysed.analysis is not None
    assert analysed.analysis["leadCheck"] == {"accepted": False, "reason": "not a real name: 'test'"}
    assert await lead_records.lead_of(pool, conversation_id) is None


async def test_an_sms_and_a_widget_conversation_of_one_person_merge_into_one_contact(
        pool: asyncpg.Pool, shop: Shop, clock: ManualClock, analyser: Analyser, fake_openai: FakeOpenAi) -> None:
    sender = "+14155559876"
    await sms_thread(pool, shop, sender, [("user", "Hi it's Maria Lopez"), ("assistant", "Hi Maria!"),
                                          ("user", "Email me at maria@example.com")],
                     at=clock.now - datetime.timedelta(hours=1))
    assert await ending.end_idle(pool, now=clock.now) == 1
    widget_id = await widget_conversation(pool, shop, [("user", "Maria Lopez again"), ("assistant", "Hello"),
                                                       ("user", "call me on 415 555 0123 or maria@example.com")])
    await ending.end_widget(pool, widget_id, reason="request", now=clock.now)
    fake_openai.state.script(ScriptedReply(json=analysis_json(email="maria@example.com")),
                             ScriptedReply(json=analysis_json(email="maria@example.com", phone="415 555 0123")))
    (sms_outcome,) = await records.claim_batch(pool, now=clock.now, limit=10, channel="sms",
                                               until=clock.now + datetime.timedelta(minutes=5))
    await analyser.analyse(sms_outcome)
    await analyser.analyse_one(widget_id)
    sms_lead = await lead_records.lead_of(pool, sms_outcome.id)
    widget_lead = await lead_records.lead_of(pool, widget_id)
    assert sms_lead is not None and widget_lead is not None
    assert (sms_lead.phone, sms_lead.from_channel_id) == (sender, True)
    assert sms_lead.contact_id == widget_lead.contact_id
    assert sorted(widget_lead.contact_conversations) == sorted([sms_outcome.id, widget_id])
    (contact,) = await lead_records.contacts_of(pool, shop.business_id)
    assert (contact["email"], contact["phone"]) == ("maria@example.com", "+14155550123")


async def _sweep_process(database_url: str, fake_openai: FakeOpenAi, batch: int) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.outcomes.sweep_worker", database_url, fake_openai.base_url,
        fake_openai.state.options.api_key, str(batch), cwd=ROOT, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    ready = await asyncio.wait_for(proc.stdout.readline(), 30)
    if ready.strip() != b"ready":
        _, err = await proc.communicate()
        raise AssertionError(f"sweep worker did not start: {ready!r} {err.decode()[-2000:]}")
    return proc


@pytest.mark.timeout(90)
async def test_two_sweeps_at_once_analyse_each_conversation_once(
        database_url: str, pool: asyncpg.Pool, shop: Shop, clock: ManualClock, fake_openai: FakeOpenAi) -> None:
    """Two OS processes sweep the same database at once, in small runs so their claims interleave; no
    conversation is claimed twice: one analysis each, one LLM request each in the fake's log."""
    fake_openai.state.options.first_token_delay = 0.05
    conversations = 24
    ids = [await widget_conversation(pool, shop, [("user", f"Hi {i}"), ("assistant", "Hello"), ("user", "Bye")])
           for i in range(conversations)]
    for conversation_id in ids:
        await ending.end_widget(pool, conversation_id, reason="request", now=clock.now)
    workers = await asyncio.gather(*(_sweep_process(database_url, fake_openai, batch=4) for _ in range(2)))
    for proc in workers:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    outputs = await asyncio.gather(*(proc.communicate() for proc in workers))
    for proc, (_, err) in zip(workers, outputs, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]
    counts = [orjson.loads(out.splitlines()[-1]) for out, _ in outputs]
    assert sum(c["requests"] for c in counts) == conversations, counts

    asked = [r["messages"][-1]["content"] for r in fake_openai.state.chat_requests]
    assert len(asked) == conversations
    assert sorted(next(i for i in range(conversations) if f"Customer: Hi {i}\n" in text) for text in asked) == \
        list(range(conversations)), "each conversation asked about exactly once"
    statuses = await pool.fetch("SELECT analysis_status, analysis_attempts FROM conversation_outcomes")
    assert len(statuses) == conversations and {tuple(r) for r in statuses} == {("analysed", 1)}


async def test_leads_are_listed_in_pages_and_as_csv_and_a_batch_is_queued(
        make_client: MakeClient, outcome_settings: Settings, pool: asyncpg.Pool, shop: Shop, clock: ManualClock,
        analyser: Analyser, fake_openai: FakeOpenAi) -> None:
    client = await make_client(outcome_settings)
    fake_openai.state.default_reply = ScriptedReply(json=analysis_json(email="maria@example.com",
                                                                       company="=HYPERLINK(\"x\")"))
    for _ in range(2):
        conversation_id = await widget_conversation(pool, shop, [("user", "Maria Lopez"), ("assistant", "Hi"),
                                                                 ("user", "maria@example.com")])
        await ending.end_widget(pool, conversation_id, reason="request", now=clock.now)
        await analyser.analyse_one(conversation_id)
    page = await client.get("/api/leads", headers=shop.headers)
    assert page.status == 200, await page.text()
    body = await page.json()
    assert len(body["leads"]) == 2 and body["nextCursor"] is None
    assert body["leads"][0]["contactId"] == body["leads"][1]["contactId"]
    csv_resp = await client.get("/api/leads", headers={**shop.headers, "Accept": "text/csv"})
    assert csv_resp.content_type == "text/csv"
    lines = (await csv_resp.text()).splitlines()
    assert lines[0].startswith("createdAt,channel,name") and len(lines) == 3
    assert "'=HYPERLINK" in lines[1], "a formula is defused"
    bad = await client.get("/api/leads?cursor=nonsense", headers=shop.headers)
    assert bad.status == 422
    batch = await client.post("/api/leads/extract-batch", headers=shop.headers,
                              json={"from": "2026-01-01", "to": "2026-02-01", "channel": "sms"})
    assert batch.status == 202 and (await batch.json())["jobId"] is not None
    foreign = await client.post("/api/leads/extract", headers=shop.headers, json={"conversationId": str(uuid.uuid4())})
    assert foreign.status == 404

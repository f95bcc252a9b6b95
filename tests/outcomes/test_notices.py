"""Emails while a conversation happens: it started (widget, SMS/WhatsApp stretch, call), the agent failed in it."""

from __future__ import annotations

import dataclasses
import datetime
import itertools

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server import agents
from agent_server.config import Settings
from agent_server.outcome_jobs import CallOutcomes, unsubscribe_links
from conversations.widget_messages import Done, UserMessage, parse_server_message
from mail import outbox
from media.call_records import FaultRecord, insert_fault, record_inbound_call
from media.pipeline.hooks import CallInfo, CallOutcome
from media.pipeline.lifecycle import EndReason
from outcomes import ending, notices, records
from outcomes.notifications import Preferences, save_preferences
from tests.conftest import PUBLIC_URL, MakeClient, MakeSettings
from tests.fake_openai import FakeOpenAi, ScriptedReply
from tests.jobs.clock import ManualClock
from tests.messaging.conftest import TWILIO_SID, TWILIO_TOKEN, signed
from tests.outcomes.conftest import OUR_NUMBER, Shop

Client = TestClient[web.Request, web.Application]
ORIGIN = {"Origin": PUBLIC_URL}
SENDER = "+14155550123"
SMS_PATH = "/api/voice-agent/handle-sms"
SCRIPT = "<script>alert(1)</script>"
_sids = itertools.count(1)


@pytest.fixture
def sms_settings(make_settings: MakeSettings, fake_openai: FakeOpenAi) -> Settings:
    """Twilio's token for signed webhooks, the LLM at the fake, no in-process runner (emails stay queued)."""
    settings = make_settings(TWILIO_AUTH_TOKEN=TWILIO_TOKEN, OPENAI_API_KEY=fake_openai.state.options.api_key,
                             OPENAI_BASE_URL=fake_openai.base_url)
    return dataclasses.replace(settings, jobs=dataclasses.replace(settings.jobs, run_in_process=False))


async def _want_starts(pool: asyncpg.Pool, shop: Shop) -> None:
    await save_preferences(pool, shop.tenant.user_id, shop.business_id, Preferences(conversation_started=True),
                           now=datetime.datetime.now(datetime.UTC))


async def _emails(pool: asyncpg.Pool, template: str) -> list[outbox.OutboxEmail]:
    return [e for e in await outbox.list_emails(pool) if e.template == template]


async def _text(client: Client, body: str, *, sender: str = SENDER) -> None:
    form = {"MessageSid": f"SM{next(_sids):032x}", "AccountSid": TWILIO_SID, "From": sender, "To": OUR_NUMBER,
            "Body": body, "NumMedia": "0"}
    resp = await client.post(SMS_PATH, data=form, headers=signed(SMS_PATH, form))
    assert resp.status == 200, await resp.text()


@dataclasses.dataclass
class _Call:
    info: CallInfo

    def elapsed(self) -> float:
        return 30.0

    def request_end(self, reason: EndReason, *, goodbye: str | None = None) -> None:
        return None


async def test_a_widget_conversation_queues_one_started_email_with_its_first_message_escaped(
        make_client: MakeClient, outcome_settings: Settings, fake_openai: FakeOpenAi, pool: asyncpg.Pool,
        shop: Shop) -> None:
    await _want_starts(pool, shop)
    client = await make_client(outcome_settings)
    first = await client.post(f"/api/widget/{shop.agent_id}/message", json={"text": f"Cake? {SCRIPT}"},
                              headers=ORIGIN)
    assert first.status == 200, await first.text()
    conversation_id = (await first.json())["conversationId"]
    again = await client.post(f"/api/widget/{shop.agent_id}/message",
                              json={"text": "and cupcakes", "conversationId": conversation_id}, headers=ORIGIN)
    assert again.status == 200
    (email,) = await outbox.list_emails(pool)
    assert (email.template, email.recipient) == ("conversation_started", "owner@bakery.example")
    assert email.subject == "Bakery: a new website chat conversation with Baker"
    assert conversation_id in email.text_body and SCRIPT in email.text_body
    assert email.html_body is not None and SCRIPT not in email.html_body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html_body
    assert email.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


async def test_a_widget_socket_conversation_queues_its_started_email_once(
        make_client: MakeClient, outcome_settings: Settings, fake_openai: FakeOpenAi, pool: asyncpg.Pool,
        shop: Shop) -> None:
    await _want_starts(pool, shop)
    client = await make_client(outcome_settings)
    async with client.ws_connect(f"/api/widget/{shop.agent_id}/ws", headers=ORIGIN) as ws:
        for text in ("Do you bake bread?", "Sourdough?"):
            await ws.send_str(UserMessage(text).encode().decode())
            while not isinstance(parse_server_message((await ws.receive(timeout=10)).data), Done):
                pass
    (email,) = await outbox.list_emails(pool)
    assert email.template == "conversation_started" and "Do you bake bread?" in email.text_body


async def test_started_emails_are_off_unless_a_member_turns_them_on(
        make_client: MakeClient, outcome_settings: Settings, fake_openai: FakeOpenAi, pool: asyncpg.Pool,
        shop: Shop) -> None:
    client = await make_client(outcome_settings)
    assert (await client.post(f"/api/widget/{shop.agent_id}/message", json={"text": "hi"},
                              headers=ORIGIN)).status == 200
    assert await outbox.list_emails(pool) == []


async def test_the_text_that_opens_an_sms_stretch_queues_a_started_email_and_the_rest_of_it_none(
        make_client: MakeClient, sms_settings: Settings, fake_openai: FakeOpenAi, pool: asyncpg.Pool,
        shop: Shop) -> None:
    await _want_starts(pool, shop)
    client = await make_client(sms_settings)
    await _text(client, "Hi, do you deliver?")
    await _text(client, "To Oakland")
    await _text(client, "STOP", sender="+14155550999")
    (started,) = await _emails(pool, "conversation_started")
    first_id = await pool.fetchval("SELECT id FROM sms_messages WHERE body = 'Hi, do you deliver?'")
    assert str(records.sms_stretch_id(first_id)) in started.text_body
    assert SENDER in started.text_body and started.subject == "Bakery: a new SMS conversation with Baker"

    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=31)
    assert await ending.end_idle(pool, now=later) == 2  # the STOP sender's one text is a stretch too
    await _text(client, "One more question")
    assert len(await _emails(pool, "conversation_started")) == 2
    await _text(client, "Hello", sender="whatsapp:" + SENDER)
    whatsapp = [e for e in await _emails(pool, "conversation_started") if "WhatsApp" in e.subject]
    assert len(whatsapp) == 1


async def test_a_model_failing_on_the_widget_emails_one_agent_error_however_often_it_fails(
        make_client: MakeClient, outcome_settings: Settings, fake_openai: FakeOpenAi, pool: asyncpg.Pool,
        shop: Shop) -> None:
    fake_openai.state.script(*[ScriptedReply(status=400, error_message=f"model {SCRIPT} not found")] * 3)
    client = await make_client(outcome_settings)
    for _ in range(3):
        resp = await client.post(f"/api/widget/{shop.agent_id}/message", json={"text": "hi"}, headers=ORIGIN)
        assert resp.status == 503
    (email,) = await outbox.list_emails(pool)
    assert (email.template, email.recipient) == ("agent_error", "owner@bakery.example")
    assert email.subject == "Bakery: Baker could not answer on website chat"
    assert "not found" in email.text_body
    assert email.html_body is not None and SCRIPT not in email.html_body


async def test_an_sms_reply_the_model_failed_emails_an_agent_error_with_the_stored_reply(
        make_client: MakeClient, sms_settings: Settings, fake_openai: FakeOpenAi, pool: asyncpg.Pool,
        shop: Shop) -> None:
    fake_openai.state.script(ScriptedReply(status=400, error_message="invalid model"))
    client = await make_client(sms_settings)
    await _text(client, "hello")
    (email,) = await outbox.list_emails(pool)
    assert email.template == "agent_error" and "SMS" in email.subject
    assert "invalid model" in email.text_body and SENDER in email.text_body
    assert await pool.fetchval("SELECT answered_by FROM sms_messages WHERE direction = 'outbound'") == "fallback"


async def test_agent_errors_are_emailed_once_per_agent_and_hour(pool: asyncpg.Pool, shop: Shop,
                                                                outcome_settings: Settings) -> None:
    links = unsubscribe_links(outcome_settings)
    other_agent = await agents.create_agent(pool, shop.business_id, "Night shift")
    ten = datetime.datetime(2030, 5, 6, 10, 5, tzinfo=datetime.UTC)
    moments = [(shop.agent_id, ten), (shop.agent_id, ten + datetime.timedelta(minutes=50)),
               (other_agent, ten + datetime.timedelta(minutes=51)), (shop.agent_id, ten + datetime.timedelta(hours=1))]
    queued = [await notices.agent_error(pool, shop.business_id, agent, channel="sms", problem="timeout", now=at,
                                        links=links) for agent, at in moments]
    assert [len(q) for q in queued] == [1, 0, 1, 1]


async def test_a_call_start_and_its_llm_faults_are_emailed_and_tts_faults_are_not(
        pool: asyncpg.Pool, shop: Shop, clock: ManualClock, outcome_settings: Settings) -> None:
    await _want_starts(pool, shop)
    observer = CallOutcomes(pool, unsubscribe_links(outcome_settings), clock=clock)
    calls = []
    for n, stage in enumerate(("tts", "llm")):
        sid = f"CA{n:032d}"
        call_id = await record_inbound_call(pool, call_sid=sid, business_id=shop.business_id,
                                            number_id=shop.number_id, agent_id=shop.agent_id,
                                            from_number="+14155551234", to_number=OUR_NUMBER)
        call = _Call(CallInfo(call_id, sid, shop.business_id, shop.agent_id, "+14155551234", OUR_NUMBER))
        await observer.call_started(call)
        await insert_fault(pool, call_id, 1, FaultRecord(stage, "timeout", clock.now, "no first token within 4 s"))
        for _ in range(2):
            await observer.call_ended(call, CallOutcome(EndReason.CALLER_HUNG_UP, 30.0))
        calls.append(call_id)
        assert len(await _emails(pool, "agent_error")) == (stage == "llm")
    started = await _emails(pool, "conversation_started")
    assert len(started) == 2 and all(str(c) in e.text_body for e, c in zip(
        sorted(started, key=lambda e: e.id), calls, strict=True))
    assert all("phone call" in e.subject for e in started)
    (error,) = await _emails(pool, "agent_error")
    assert "llm timeout: no first token within 4 s" in error.text_body and str(calls[1]) in error.text_body
    ended = await pool.fetch("SELECT id FROM conversation_outcomes WHERE channel = 'call'")
    assert {r["id"] for r in ended} == set(calls)


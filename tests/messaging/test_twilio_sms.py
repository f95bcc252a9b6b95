"""The Twilio messaging webhook: replies in time or through the REST API, opt-outs, signatures."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server.config import Settings
from tests.conftest import MakeClient
from tests.fake_openai import FakeOpenAi, ScriptedReply
from tests.messaging.conftest import OUR_NUMBER, TWILIO_SID, Shop, signed

PATH = "/api/voice-agent/handle-sms"
SENDER = "+14155550123"
_sids = itertools.count(1)


async def text(client: TestClient[web.Request, web.Application], body: str, *, sender: str = SENDER,
               to: str = OUR_NUMBER, sid: str | None = None) -> str | None:
    """Send one signed inbound message; return the TwiML reply text (None for empty TwiML)."""
    form = {"MessageSid": sid or f"SM{next(_sids):032x}", "AccountSid": TWILIO_SID, "From": sender, "To": to,
            "Body": body, "NumMedia": "0"}
    resp = await client.post(PATH, data=form, headers=signed(PATH, form))
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/xml"
    message = ET.fromstring(await resp.text()).find("Message")
    return None if message is None else message.text


async def stored(pool: asyncpg.Pool) -> list[tuple[str, str, str, str]]:
    rows = await pool.fetch("SELECT direction, from_number, body, status FROM sms_messages ORDER BY created_at, id")
    return [(r["direction"], r["from_number"], r["body"], r["status"]) for r in rows]


async def test_reply_in_time_comes_back_as_twiml_and_both_messages_are_stored(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    """The agent's answer goes back in the webhook response; in and out are stored."""
    fake_openai.state.script("Sure, we can see you on Tuesday.")
    client = await make_client(messaging_settings)
    assert await text(client, "Can I come in Tuesday?") == "Sure, we can see you on Tuesday."
    assert await stored(pool) == [("inbound", SENDER, "Can I come in Tuesday?", "received"),
                                  ("outbound", OUR_NUMBER, "Sure, we can see you on Tuesday.", "replied")]


async def test_thread_memory_gives_the_model_earlier_messages_of_this_sender(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop) -> None:
    """The second request carries the first exchange; another sender's thread is not mixed in."""
    fake_openai.state.script("Tuesday works.", "Other thread.", "See you then, Sam.")
    client = await make_client(messaging_settings)
    await text(client, "Hi, this is Sam, can I come Tuesday?")
    await text(client, "Any chance of Friday?", sender="+14155550999")
    await text(client, "Great, 10am please")
    messages = fake_openai.state.chat_requests[-1]["messages"]
    assert [(m["role"], m["content"]) for m in messages[1:]] == [
        ("user", "Hi, this is Sam, can I come Tuesday?"), ("assistant", "Tuesday works."),
        ("user", "Great, 10am please")]
    assert "Corner Dental" in messages[0]["content"]


async def test_stop_silences_the_agent_until_start(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    """STOP (any synonym) is recorded and answered with empty TwiML; START resumes replies."""
    client = await make_client(messaging_settings)
    assert await text(client, " Unsubscribe ") is None
    assert await text(client, "hello? are you there") is None
    assert fake_openai.state.chat_requests == []
    assert await pool.fetchval("SELECT count(*) FROM sms_opt_outs") == 1
    assert await text(client, "START") is None
    fake_openai.state.script("Welcome back!")
    assert await text(client, "hello again") == "Welcome back!"
    assert await pool.fetchval("SELECT count(*) FROM sms_opt_outs") == 0
    assert len(fake_openai.state.chat_requests) == 1


async def test_help_is_left_to_the_carrier(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop) -> None:
    """HELP gets Twilio's auto-reply, not ours, and does not opt the sender out."""
    client = await make_client(messaging_settings)
    assert await text(client, "help") is None
    fake_openai.state.script("Yes?")
    assert await text(client, "help me book please") == "Yes?"


async def test_forged_webhook_is_refused_and_writes_nothing(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    """A signature made with another token answers 403; nothing is stored, no model is asked."""
    client = await make_client(messaging_settings)
    form = {"MessageSid": "SM" + "f" * 32, "From": SENDER, "To": OUR_NUMBER, "Body": "hi"}
    resp = await client.post(PATH, data=form, headers=signed(PATH, form, token="not-the-token"))
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "TWILIO_SIGNATURE_INVALID"
    tampered = signed(PATH, form)
    resp = await client.post(PATH, data={**form, "Body": "changed"}, headers=tampered)
    assert resp.status == 403
    assert await stored(pool) == []
    assert fake_openai.state.chat_requests == []


async def test_retried_webhook_is_not_answered_twice(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    """Twilio's retry carries the same MessageSid: stored once, answered once."""
    client = await make_client(messaging_settings)
    assert await text(client, "Can I bring my dog?", sid="SM" + "1" * 32) is not None
    assert await text(client, "Can I bring my dog?", sid="SM" + "1" * 32) is None
    assert len(fake_openai.state.chat_requests) == 1
    assert len(await stored(pool)) == 2


async def test_faq_match_answers_without_the_model(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    """A question that clearly matches an FAQ entry is answered from it, with no LLM request."""
    client = await make_client(messaging_settings)
    assert await text(client, "what are your opening hours?") == "We are open Monday to Friday, nine to five."
    assert fake_openai.state.chat_requests == []
    assert await pool.fetchval("SELECT answered_by FROM sms_messages WHERE direction = 'outbound'") == "faq"


async def test_whatsapp_sender_is_answered_the_same_way(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    """`whatsapp:` addresses route by the bare number and keep their own thread."""
    fake_openai.state.script("Hello on WhatsApp!")
    client = await make_client(messaging_settings)
    reply = await text(client, "hi there", sender="whatsapp:" + SENDER, to="whatsapp:" + OUR_NUMBER)
    assert reply == "Hello on WhatsApp!"
    assert (await stored(pool))[1][1] == "whatsapp:" + OUR_NUMBER


async def test_model_failure_sends_the_unavailable_text(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop) -> None:
    """A failing model does not leave the sender in silence."""
    fake_openai.state.script(ScriptedReply(status=400, error_message="bad request"))
    client = await make_client(messaging_settings)
    assert await text(client, "hello") == messaging_settings.messaging.unavailable_text


async def test_unknown_number_gets_no_reply(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop) -> None:
    client = await make_client(messaging_settings)
    assert await text(client, "hello", to="+14155550777") is None
    assert fake_openai.state.chat_requests == []

"""Notifications through the outbox: preferences, escaped values, no header injection, the test email, the form."""

from __future__ import annotations

import dataclasses
import datetime
from email.message import EmailMessage

import asyncpg

from agent_server.config import Settings
from jobs.queue import Job
from mail import outbox
from mail.sending import SendEmail
from mail.smtp import SmtpMailer, SmtpTarget
from outcomes import ending
from outcomes.analysis import Analyser
from agent_server.outcome_jobs import unsubscribe_secret
from agent_server.state import POOL
from outcomes import notifications, unsubscribe
from outcomes.notifications import Preferences, save_preferences
from tests.conftest import PUBLIC_URL, MakeBusiness, MakeClient
from tests.fake_openai import FakeOpenAi, ScriptedReply
from tests.fake_smtp import FakeSmtp
from tests.jobs.clock import ManualClock
from tests.outcomes.conftest import Shop, analysis_json, widget_conversation

SCRIPT = "<script>alert(1)</script>"


async def _lead_conversation(pool: asyncpg.Pool, shop: Shop, clock: ManualClock, analyser: Analyser,
                             fake_openai: FakeOpenAi) -> None:
    fake_openai.state.script(ScriptedReply(json=analysis_json(email="maria@example.com", company=SCRIPT)))
    conversation_id = await widget_conversation(pool, shop, [("user", "Maria Lopez"), ("assistant", "Hi"),
                                                             ("user", "maria@example.com")])
    await ending.end_widget(pool, conversation_id, reason="request", now=clock.now)
    await analyser.analyse_one(conversation_id)


async def _deliver(pool: asyncpg.Pool, email: outbox.OutboxEmail, clock: ManualClock) -> EmailMessage:
    """Send one outbox email through the mail.send handler to a local SMTP server; the message it received."""
    async with FakeSmtp() as smtp:
        mailer = SmtpMailer(SmtpTarget.parse(smtp.url), timeout_seconds=5)
        try:
            await SendEmail(pool, mailer, sender="alerts@agent.example")(
                Job(1, outbox.SEND_KIND, {"outboxId": email.id}, None, None, 1, clock.now))
        finally:
            await mailer.close()
        (message,) = smtp.received
    return message


async def test_a_new_lead_is_mailed_with_its_values_escaped(
        pool: asyncpg.Pool, shop: Shop, clock: ManualClock, analyser: Analyser, fake_openai: FakeOpenAi) -> None:
    await _lead_conversation(pool, shop, clock, analyser, fake_openai)
    (email,) = await outbox.list_emails(pool, business_id=shop.business_id)
    assert (email.template, email.recipient) == ("new_lead", "owner@bakery.example")
    message = await _deliver(pool, email, clock)
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    assert html is not None and text is not None
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html.get_content()
    assert SCRIPT not in html.get_content()
    assert SCRIPT in text.get_content(), "the plain-text part shows it as text"


async def test_preferences_off_queue_nothing(pool: asyncpg.Pool, shop: Shop, clock: ManualClock,
                                            analyser: Analyser, fake_openai: FakeOpenAi) -> None:
    await save_preferences(pool, shop.tenant.user_id, shop.business_id,
                           Preferences(new_lead=False, conversation_ended=False), now=clock.now)
    await _lead_conversation(pool, shop, clock, analyser, fake_openai)
    assert await outbox.list_emails(pool) == []


async def test_an_override_address_receives_the_conversation_summary(
        pool: asyncpg.Pool, shop: Shop, clock: ManualClock, analyser: Analyser, fake_openai: FakeOpenAi) -> None:
    await save_preferences(pool, shop.tenant.user_id, shop.business_id,
                           Preferences(new_lead=False, conversation_ended=True, override_address="Desk@Bakery.Example"),
                           now=clock.now)
    await _lead_conversation(pool, shop, clock, analyser, fake_openai)
    (email,) = await outbox.list_emails(pool)
    assert (email.template, email.recipient) == ("conversation_ended", "Desk@bakery.example")
    assert "Maria asked about a wedding cake." in email.text_body


async def test_the_test_email_reaches_only_the_callers_own_address(
        make_client: MakeClient, outcome_settings: Settings, pool: asyncpg.Pool, shop: Shop,
        make_business: MakeBusiness) -> None:
    client = await make_client(outcome_settings)
    other = await client.post("/api/notifications/test", json={"to": "victim@example.com"}, headers=shop.headers)
    assert other.status == 403
    assert await outbox.list_emails(pool) == []
    own = await client.post("/api/notifications/test", json={"to": "OWNER@bakery.example"}, headers=shop.headers)
    assert own.status == 202, await own.text()
    listed = await client.get("/api/notifications/outbox?status=queued", headers=shop.headers)
    (email,) = (await listed.json())["emails"]
    assert (email["recipient"], email["template"]) == ("owner@bakery.example", "test")
    stranger = await make_business("Other")
    assert (await (await client.get("/api/notifications/outbox", headers=stranger.headers)).json())["emails"] == []


async def test_preferences_round_trip_and_a_bad_override_is_refused(
        make_client: MakeClient, outcome_settings: Settings, shop: Shop) -> None:
    client = await make_client(outcome_settings)
    first = await (await client.get("/api/notifications/preferences", headers=shop.headers)).json()
    assert (first["newLead"], first["conversationEnded"]) == (True, False)
    put = await client.put("/api/notifications/preferences", json={"newLead": False, "overrideAddress": "a@b.example"},
                           headers=shop.headers)
    assert put.status == 200
    after = await (await client.get("/api/notifications/preferences", headers=shop.headers)).json()
    assert (after["newLead"], after["overrideAddress"], after["weeklySummary"]) == (False, "a@b.example", True)
    for bad in ("not-an-address", "a@b.example\r\nBcc: x@y.example"):
        refused = await client.put("/api/notifications/preferences", json={"overrideAddress": bad},
                                   headers=shop.headers)
        assert refused.status == 422, bad


async def test_a_one_click_unsubscribe_turns_the_summary_off_without_signing_in(
        make_client: MakeClient, outcome_settings: Settings, shop: Shop) -> None:
    client = await make_client(outcome_settings)
    what = unsubscribe.Unsubscribe(shop.tenant.user_id, shop.business_id, "weekly_summary")
    url = unsubscribe.headers(PUBLIC_URL, unsubscribe_secret(outcome_settings), what)["List-Unsubscribe"][1:-1]
    path = url.removeprefix(PUBLIC_URL)
    page = await client.get(path)
    assert page.status == 200 and "weekly summary" in await page.text()
    assert (await notifications.preferences(client.app[POOL], shop.tenant.user_id, shop.business_id)).weekly_summary
    done = await client.post(path, data="List-Unsubscribe=One-Click",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status == 200, await done.text()
    prefs = await notifications.preferences(client.app[POOL], shop.tenant.user_id, shop.business_id)
    assert (prefs.weekly_summary, prefs.new_lead) == (False, True)
    forged = unsubscribe.token(b"not the key", what)
    assert (await client.post("/api/notifications/unsubscribe", params={"token": forged})).status == 404


async def test_a_conversation_summary_carries_a_one_click_link_that_turns_summaries_off_without_signing_in(
        make_client: MakeClient, outcome_settings: Settings, pool: asyncpg.Pool, shop: Shop, clock: ManualClock,
        analyser: Analyser, fake_openai: FakeOpenAi) -> None:
    """RFC 8058 on the summary emails: the new lead (which repeats the summary) carries its own link too."""
    await save_preferences(pool, shop.tenant.user_id, shop.business_id, Preferences(conversation_ended=True),
                           now=clock.now)
    await _lead_conversation(pool, shop, clock, analyser, fake_openai)
    emails = {e.template: e for e in await outbox.list_emails(pool)}
    assert set(emails) == {"conversation_ended", "new_lead"}
    delivered = await _deliver(pool, emails["conversation_ended"], clock)
    assert delivered["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = str(delivered["List-Unsubscribe"]).strip()
    assert link.startswith(f"<{PUBLIC_URL}/api/notifications/unsubscribe?token=") and link.endswith(">")
    lead_link = emails["new_lead"].headers["List-Unsubscribe"]
    assert lead_link != link and emails["new_lead"].headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    client = await make_client(outcome_settings)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    done = await client.post(link[1:-1].removeprefix(PUBLIC_URL), data="List-Unsubscribe=One-Click", headers=form)
    assert done.status == 200, await done.text()
    assert (await done.json()) == {"event": "conversation_ended", "unsubscribed": True}
    prefs = await notifications.preferences(pool, shop.tenant.user_id, shop.business_id)
    assert (prefs.conversation_ended, prefs.new_lead, prefs.weekly_summary) == (False, True, True)
    assert (await client.post(lead_link[1:-1].removeprefix(PUBLIC_URL), data="List-Unsubscribe=One-Click",
                              headers=form)).status == 200
    prefs = await notifications.preferences(pool, shop.tenant.user_id, shop.business_id)
    assert (prefs.conversation_ended, prefs.new_lead) == (False, False)
    assert await notifications.recipients(pool, shop.business_id, "conversation_ended") == []


async def test_the_contact_form_refuses_header_injection_drops_the_honeypot_and_limits_each_ip(
        make_client: MakeClient, outcome_settings: Settings, pool: asyncpg.Pool) -> None:
    settings = dataclasses.replace(outcome_settings, outcomes=dataclasses.replace(
        outcome_settings.outcomes, contact_inbox="inbox@agent.example"))
    client = await make_client(settings)
    form = {"name": "Maria", "email": "maria@example.com", "subject": "Cakes", "message": "Do you deliver?"}
    injected = await client.post("/api/notifications/contact",
                                 json={**form, "subject": "Cakes\r\nBcc: everyone@example.com"})
    assert injected.status == 422
    assert (await injected.json())["error"]["field"] == "subject"
    bot = await client.post("/api/notifications/contact", json={**form, "website": "http://spam.example"})
    assert bot.status == 202 and (await bot.json())["outboxId"] is None
    assert await outbox.list_emails(pool) == []
    statuses = [(await client.post("/api/notifications/contact", json=form)).status for _ in range(6)]
    assert statuses == [202] * 5 + [429]
    emails = await outbox.list_emails(pool)
    assert len(emails) == 5 and {e.recipient for e in emails} == {"inbox@agent.example"}
    assert emails[0].created_at <= datetime.datetime.now(datetime.UTC)

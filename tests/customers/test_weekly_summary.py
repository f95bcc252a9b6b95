"""Customers' weekly summary: their assigned agents' figures only, once per ISO week, and a link that turns it off."""

from __future__ import annotations

import datetime
import urllib.parse
import uuid

import asyncpg

from agent_server import agents
from agent_server.config import Settings
from agent_server.customer_jobs import summary_links
from agent_server.outcome_jobs import WeeklySummaries, unsubscribe_secret
from customers import weekly_summary
from jobs.queue import Job
from outcomes import unsubscribe, weekly
from outcomes.weekly import WEEKLY_KIND
from tests.customers.conftest import Client, Shop, deliver, invite



def _last_monday_0900() -> datetime.datetime:
    """The latest Monday 09:00 UTC in the past (the mail jobs it queues are due for the real-clock runner)."""
    now = datetime.datetime.now(datetime.UTC)
    monday = (now - datetime.timedelta(days=now.weekday())).replace(hour=9, minute=0, second=0, microsecond=0)
    return monday if monday < now - datetime.timedelta(hours=1) else monday - datetime.timedelta(days=7)


# A Monday, 09:00 in the shops' zone (UTC): the summary covers the 7 days before.
DUE = _last_monday_0900()
ISO_WEEK = "{0}-W{1:02d}".format(*DUE.isocalendar())
WEEK_START = DUE - datetime.timedelta(days=7)


async def activity(pool: asyncpg.Pool, business_id: uuid.UUID, agent_id: uuid.UUID, n: int,
                   at: datetime.datetime) -> None:
    """`n` ended widget conversations (3 messages, a lead and a topic each), `n` SMS messages, a call of `n` minutes."""
    for i in range(n):
        started = at + datetime.timedelta(minutes=i)
        conversation = await pool.fetchval(
            "INSERT INTO widget_conversations (agent_id, business_id, created_at, updated_at) VALUES ($1, $2, $3, $3)"
            " RETURNING id", agent_id, business_id, started)
        await pool.executemany(
            "INSERT INTO widget_messages (conversation_id, role, text, prompt_tokens, completion_tokens, created_at)"
            " VALUES ($1, $2, 'hi', $3, 5, $4)",
            [(conversation, role, 10 * (i + 1), started + datetime.timedelta(seconds=s))
             for s, role in enumerate(("user", "assistant", "user"))])
        await pool.execute(
            "INSERT INTO conversation_outcomes (id, business_id, agent_id, channel, first_message_at, last_message_at,"
            " ended_at, end_reason, analysis_status, analysis, prompt_tokens, completion_tokens)"
            " VALUES ($1, $2, $3, 'widget', $4, $4, $4, 'timeout', 'analysed', $5, 100, 20)",
            conversation, business_id, agent_id, started, {"topics": [f"topic of {agent_id}"], "outcome": "resolved"})
        contact = await pool.fetchval("INSERT INTO lead_contacts (business_id, name, created_at, updated_at)"
                                      " VALUES ($1, 'Ann', $2, $2) RETURNING id", business_id, started)
        await pool.execute("INSERT INTO leads (business_id, conversation_id, channel, contact_id, name, confidence,"
                           " created_at) VALUES ($1, $2, 'widget', $3, 'Ann', 80, $4)",
                           business_id, conversation, contact, started)
        await pool.execute("INSERT INTO sms_messages (business_id, agent_id, direction, from_number, to_number, body,"
                           " prompt_tokens, completion_tokens, created_at) VALUES ($1, $2, 'outbound', '+15550001111',"
                           " '+15550002222', 'hello', 7, 3, $3)", business_id, agent_id, started)
    await pool.execute("INSERT INTO calls (call_sid, business_id, agent_id, from_number, to_number, started_at,"
                       " duration_seconds) VALUES ($1, $2, $3, '+15550003333', '+15550004444', $4, $5)",
                       f"CA{uuid.uuid4().hex}", business_id, agent_id, at, 60 * n)


async def sql_totals(pool: asyncpg.Pool, business_id: uuid.UUID, agent_ids: list[uuid.UUID]) -> dict[str, int]:
    """The week's totals of these agents, straight from the tables."""
    args = (business_id, agent_ids, WEEK_START, DUE)
    return {
        "conversations": await pool.fetchval(
            "SELECT count(*) FROM conversation_outcomes WHERE business_id = $1 AND agent_id = ANY($2)"
            " AND ended_at >= $3 AND ended_at < $4", *args),
        "widget_messages": await pool.fetchval(
            "SELECT count(*) FROM widget_messages m JOIN widget_conversations c ON c.id = m.conversation_id"
            " WHERE c.business_id = $1 AND c.agent_id = ANY($2) AND m.created_at >= $3 AND m.created_at < $4", *args),
        "sms_messages": await pool.fetchval(
            "SELECT count(*) FROM sms_messages WHERE business_id = $1 AND agent_id = ANY($2)"
            " AND created_at >= $3 AND created_at < $4", *args),
        "calls": await pool.fetchval("SELECT count(*) FROM calls WHERE business_id = $1 AND agent_id = ANY($2)"
                                     " AND started_at >= $3 AND started_at < $4", *args),
        "call_seconds": await pool.fetchval(
            "SELECT sum(duration_seconds) FROM calls WHERE business_id = $1 AND agent_id = ANY($2)"
            " AND started_at >= $3 AND started_at < $4", *args),
        "leads": await pool.fetchval(
            "SELECT count(*) FROM leads l JOIN conversation_outcomes o ON o.id = l.conversation_id"
            " WHERE l.business_id = $1 AND o.agent_id = ANY($2) AND l.created_at >= $3 AND l.created_at < $4", *args),
    }


async def test_a_customers_weekly_figures_count_only_its_assigned_agents(pool: asyncpg.Pool, shop: Shop) -> None:
    third = await agents.create_agent(pool, shop.business_id, "Bakery weekends")
    for agent_id, n in ((shop.agent_1, 1), (shop.agent_2, 2), (third, 4)):
        await activity(pool, shop.business_id, agent_id, n, WEEK_START + datetime.timedelta(days=2))
    await activity(pool, shop.business_id, shop.agent_1, 3, WEEK_START - datetime.timedelta(days=2))  # the week before

    mine = [shop.agent_1, third]
    week = await weekly.figures(pool, shop.business_id, WEEK_START, DUE, agent_ids=mine)
    expected = await sql_totals(pool, shop.business_id, mine)
    assert expected["conversations"] == 5, "agents 1 and 3 only, this week only"
    assert week.channels["widget"]["conversations"] == expected["conversations"]
    assert week.channels["widget"]["messages"] == expected["widget_messages"]
    assert week.channels["widget"]["leads"] == expected["leads"]
    assert week.channels["sms"]["messages"] == expected["sms_messages"]
    assert week.channels["call"]["calls"] == expected["calls"] == 2
    assert week.channels["call"]["call_minutes"] == expected["call_seconds"] // 60 == 5
    assert {t for t, _ in week.topics} == {f"topic of {shop.agent_1}", f"topic of {third}"}
    assert week.spend is None, "a customer is not shown the business's spend"

    everyone = await weekly.figures(pool, shop.business_id, WEEK_START, DUE)
    total = await sql_totals(pool, shop.business_id, [shop.agent_1, shop.agent_2, third])
    assert everyone.channels["widget"]["conversations"] == total["conversations"] == 7
    assert everyone.spend == {}


async def _run_weekly(pool: asyncpg.Pool, settings: Settings, now: datetime.datetime) -> None:
    job = Job(id=0, kind=WEEKLY_KIND, payload={}, business_id=None, dedupe_key=None, attempt=1, run_at=now)
    await WeeklySummaries(pool, settings, clock=lambda: now)(job)


async def test_the_weekly_job_mails_each_active_subscribed_customer_once_a_week(
        client: Client, pool: asyncpg.Pool, shop: Shop, portal_settings: Settings) -> None:
    await activity(pool, shop.business_id, shop.agent_1, 2, WEEK_START + datetime.timedelta(days=1))
    await activity(pool, shop.business_id, shop.agent_2, 3, WEEK_START + datetime.timedelta(days=1))
    maria = await invite(client, shop, "maria@example.com", shop.agent_1)
    await invite(client, shop, "invited@example.com", shop.agent_1)
    opted_out = await invite(client, shop, "quiet@example.com", shop.agent_1)
    gone = await invite(client, shop, "gone@example.com", shop.agent_1)
    await pool.execute("UPDATE customers SET status = 'active' WHERE id = ANY($1)", [maria, opted_out, gone])
    await pool.execute("UPDATE customers SET weekly_summary_enabled = false WHERE id = $1", opted_out)
    await pool.execute("UPDATE customers SET status = 'disabled' WHERE id = $1", gone)
    await deliver(pool, portal_settings)  # the invitations

    await _run_weekly(pool, portal_settings, DUE - datetime.timedelta(hours=1))
    assert await pool.fetchval("SELECT count(*) FROM email_outbox WHERE template = 'weekly_summary'") == 0
    await _run_weekly(pool, portal_settings, DUE + datetime.timedelta(minutes=2))
    await _run_weekly(pool, portal_settings, DUE + datetime.timedelta(minutes=50))
    owner = await pool.fetchval("SELECT email FROM users WHERE id = $1", shop.tenant.user_id)
    rows = await pool.fetch("SELECT recipient, dedupe_key FROM email_outbox WHERE template = 'weekly_summary'"
                            " ORDER BY recipient = $1", owner)
    assert [r["recipient"] for r in rows] == ["maria@example.com", owner], "once each"
    assert rows[0]["dedupe_key"] == f"weekly_summary:{shop.business_id}:customer:{maria}:{ISO_WEEK}"

    mailed = {str(m["To"]): m.get_body(("plain",)) for m in await deliver(pool, portal_settings)
              if "your week" in str(m["Subject"])}
    text = mailed["maria@example.com"].get_content()  # type: ignore[union-attr]
    assert "Agents: Bakery front desk" in text and "after hours" not in text
    assert "conversations 2 (+2)" in text and "Spend" not in text
    owners = mailed[owner].get_content()  # type: ignore[union-attr]
    assert "conversations 5 (+5)" in owners and "Spend" in owners
    link = summary_links(portal_settings).url(weekly_summary.Subscriber(maria, shop.business_id))
    assert f"Unsubscribe: {link}" in text
    headers = await pool.fetchval("SELECT headers FROM email_outbox WHERE recipient = 'maria@example.com'"
                                  " AND template = 'weekly_summary'")
    assert headers == {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


async def test_the_unsubscribe_link_shows_a_page_on_get_and_clears_the_flag_on_post(
        client: Client, pool: asyncpg.Pool, shop: Shop, portal_settings: Settings) -> None:
    maria = await invite(client, shop, "maria@example.com", shop.agent_1)
    await pool.execute("UPDATE customers SET status = 'active' WHERE id = $1", maria)
    url = urllib.parse.urlsplit(summary_links(portal_settings).url(weekly_summary.Subscriber(maria, shop.business_id)))
    path = f"{url.path}?{url.query}"

    for _ in range(2):
        page = await client.get(path)
        assert page.status == 200 and "<form method=\"post\">" in await page.text()
    enabled = "SELECT weekly_summary_enabled FROM customers WHERE id = $1"
    assert await pool.fetchval(enabled, maria) is True, "a GET (a mail scanner's prefetch) changes nothing"

    done = await client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status == 200 and await done.json() == {"weeklySummaryEnabled": False}
    assert await pool.fetchval(enabled, maria) is False
    await _run_weekly(pool, portal_settings, DUE)
    assert await pool.fetchval("SELECT count(*) FROM email_outbox WHERE recipient = 'maria@example.com'"
                               " AND template = 'weekly_summary'") == 0


async def test_a_forged_or_foreign_unsubscribe_token_changes_nothing(
        client: Client, pool: asyncpg.Pool, shop: Shop, portal_settings: Settings) -> None:
    maria = await invite(client, shop, "maria@example.com", shop.agent_1)
    good = weekly_summary.token(summary_links(portal_settings).secret, weekly_summary.Subscriber(maria,
                                                                                                  shop.business_id))
    member = unsubscribe.token(unsubscribe_secret(portal_settings),
                               unsubscribe.Unsubscribe(shop.tenant.user_id, shop.business_id, "weekly_summary"))
    other_key = weekly_summary.token(b"another key", weekly_summary.Subscriber(maria, shop.business_id))
    for bad in (good[:-1] + ("0" if good[-1] != "0" else "1"), member, other_key, "garbage"):
        for method in ("GET", "POST"):
            resp = await client.request(method, weekly_summary.UNSUBSCRIBE_PATH, params={"token": bad})
            assert resp.status == 404, (bad, method)
            assert (await resp.json())["error"]["code"] == "NOT_FOUND"
    assert await pool.fetchval("SELECT weekly_summary_enabled FROM customers WHERE id = $1", maria) is True

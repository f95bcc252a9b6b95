"""The weekly summary: Monday 09:00 in the business's zone, figures equal to the ledger and usage, once a week."""

from __future__ import annotations

import datetime
import functools
import urllib.parse

import asyncpg

from billing.usage import USAGE_KINDS
from mail import outbox
from media.call_records import record_inbound_call
from outcomes import ending, unsubscribe, weekly
from outcomes.analysis import Analyser
from tests.conftest import PUBLIC_URL
from tests.fake_openai import FakeOpenAi, ScriptedReply
from tests.jobs.clock import ManualClock
from tests.outcomes.conftest import OUR_NUMBER, Shop, analysis_json, sms_thread, widget_conversation

SECRET = b"test unsubscribe key"


def _next_monday_0900(zone: str) -> datetime.datetime:
    tz = weekly.zone(zone)
    local = datetime.datetime.now(tz)
    monday = (local + datetime.timedelta(days=(7 - local.weekday()) % 7 or 7)).replace(
        hour=9, minute=0, second=0, microsecond=0)
    return monday.astimezone(datetime.UTC)


async def test_weekly_figures_equal_the_ledger_and_usage_and_a_second_run_sends_nothing(
        pool: asyncpg.Pool, shop: Shop, clock: ManualClock, analyser: Analyser, fake_openai: FakeOpenAi) -> None:
    await pool.execute("UPDATE businesses SET timezone = 'Europe/Berlin' WHERE id = $1", shop.business_id)
    fake_openai.state.script(ScriptedReply(json=analysis_json(phone="415 555 0123")))
    conversation_id = await widget_conversation(pool, shop, [("user", "Maria Lopez, wedding cake"),
                                                             ("assistant", "Sure"), ("user", "415 555 0123")])
    await ending.end_widget(pool, conversation_id, reason="request", now=clock.now)
    await analyser.analyse_one(conversation_id)
    call_id = await record_inbound_call(pool, call_sid="CA" + "2" * 32, business_id=shop.business_id,
                                        number_id=shop.number_id, agent_id=shop.agent_id,
                                        from_number="+14155551234", to_number=OUR_NUMBER)
    await pool.execute("UPDATE calls SET duration_seconds = 150 WHERE id = $1", call_id)
    await sms_thread(pool, shop, "+14155559876", [("user", "Hi"), ("assistant", "Hello"), ("user", "Bye")])

    due = _next_monday_0900("Europe/Berlin")
    week = await weekly.figures(pool, shop.business_id, due - datetime.timedelta(days=7), due)
    assert week.channels["widget"]["conversations"] == 1
    assert week.channels["widget"]["messages"] == 3
    assert week.channels["widget"]["leads"] == 1
    assert week.channels["widget"]["tokens"] > 0
    assert (week.channels["call"]["calls"], week.channels["call"]["call_minutes"]) == (1, 2)
    assert week.channels["sms"]["messages"] == 3
    assert week.topics == [("wedding cake", 1)]
    spent = await pool.fetchval(
        "SELECT -sum(e.amount) FROM ledger_entries e JOIN wallets w ON w.id = e.wallet_id"
        " WHERE w.business_id = $1 AND e.kind = ANY($2)", shop.business_id, list(USAGE_KINDS))
    assert spent > 0 and week.spend == {"USD": spent}

    send = functools.partial(weekly.send_due, pool, public_url=PUBLIC_URL, secret=SECRET)
    assert await send(now=due - datetime.timedelta(hours=1)) == 0, "08:00 local is not yet due"
    assert await send(now=due + datetime.timedelta(minutes=3)) == 1
    assert await send(now=due + datetime.timedelta(minutes=40)) == 0, "once per ISO week"
    emails = [e for e in await outbox.list_emails(pool, business_id=shop.business_id) if e.template == "weekly_summary"]
    assert len(emails) == 1 and emails[0].recipient == "owner@bakery.example"
    assert f"{spent / 100:.2f} USD" in emails[0].text_body
    assert "wedding cake (1)" in emails[0].text_body
    assert emails[0].headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = emails[0].headers["List-Unsubscribe"]
    assert link.startswith(f"<{PUBLIC_URL}/api/notifications/unsubscribe?token=") and link.endswith(">")
    token = urllib.parse.unquote(link[1:-1].split("token=", 1)[1])
    assert unsubscribe.read(SECRET, token) == unsubscribe.Unsubscribe(shop.tenant.user_id, shop.business_id,
                                                                       "weekly_summary")
    assert unsubscribe.read(b"another key", token) is None

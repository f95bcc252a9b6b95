"""The outbox dispatcher against the fake Twilio: callbacks named, segments debited once, carrier errors handled."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator

import asyncpg
import pytest

from billing.cost_config import ProviderCostsConfig
from messaging import consent
from messaging.sending import NoConsent
from tests.conftest import MakeBusiness
from tests.messaging.outbox_world import CALLBACK, World, opened_world

START = datetime.datetime(2026, 7, 1, 16, 0, tzinfo=datetime.UTC)  # noon in New York
OURS = "+14155550100"
ALICE = "+14155550123"


@pytest.fixture
async def world(pool: asyncpg.Pool, make_business: MakeBusiness) -> AsyncIterator[World]:
    async with opened_world(pool, make_business, START) as world:
        yield world


async def debits(pool: asyncpg.Pool) -> list[tuple[str, int]]:
    rows = await pool.fetch("SELECT idempotency_key, amount FROM ledger_entries WHERE kind = 'sms_usage' ORDER BY id")
    return [(r["idempotency_key"], r["amount"]) for r in rows]


async def test_a_queued_text_goes_out_with_its_callback_and_is_paid_once(world: World) -> None:
    await world.number(OURS)
    message = await world.text(ALICE, "a" * 200)
    assert message.segments == 2
    assert await world.dispatcher.run_once() == 1
    [sent] = world.twilio.messages
    assert (sent["from"], sent["to"], sent["body"]) == (OURS, ALICE, "a" * 200)
    assert sent["status_callback"] == f"{CALLBACK}?m={message.id}"
    assert sent["validity_period"] is None, "transactional texts keep Twilio's default validity"
    assert await debits(world.pool) == [(f"sms:{sent['sid']}", -4)]
    row = await world.pool.fetchrow("SELECT status, message_sid, price_minor FROM sms_outbox WHERE id = $1",
                                    message.id)
    assert row is not None
    assert (row["status"], row["message_sid"], row["price_minor"]) == ("sending", sent["sid"], 4)
    detail = await world.pool.fetchrow("SELECT d.quantity, d.unit, d.cost_micros, d.cost_estimated FROM usage_details d"
                                       " JOIN ledger_entries e ON e.id = d.entry_id WHERE e.idempotency_key = $1",
                                       f"sms:{sent['sid']}")
    assert detail is not None and (detail["quantity"], detail["unit"]) == (2, "segments"), "for the statement"
    us_segment = ProviderCostsConfig().sms_per_segment_micros["US"]
    assert (detail["cost_micros"], detail["cost_estimated"]) == (2 * us_segment, False), "for the books report"


async def test_a_long_code_sends_one_segment_a_second_and_a_toll_free_three(world: World) -> None:
    await world.number(OURS)
    toll_free = "+18005550100"
    toll_free_id = await world.number(toll_free, "toll_free")
    for i in range(4):
        await world.text(ALICE, f"long {i}")
        await world.text("+14155550124", f"free {i}", from_number_id=toll_free_id)
    sends: list[tuple[float, str]] = []
    for _ in range(40):
        before = len(world.twilio.messages)
        while await world.dispatcher.run_once():
            pass
        sends += [((world.clock.now - START).total_seconds(), m["from"]) for m in world.twilio.messages[before:]]
        world.clock.advance(0.1)
    long_code = [round(t, 1) for t, sender in sends if sender == OURS]
    assert long_code == [0.0, 1.0, 2.0, 3.0]
    free = [t for t, sender in sends if sender == toll_free]
    assert len(free) == 4 and free[-1] < 1.5
    assert all(len([u for u in free if t <= u < t + 1]) <= 3 for t in free)


async def test_an_opt_out_committed_before_the_claim_stops_the_next_message(world: World) -> None:
    await world.number(OURS)
    message = await world.text(ALICE)
    await consent.opt_out(world.pool, world.business_id, ALICE, source=consent.Source.KEYWORD)
    await world.dispatcher.run_once()
    assert world.twilio.messages == []
    assert await world.status(message.id) == "canceled"


async def test_twilio_21610_records_an_opt_out_for_all_numbers(world: World) -> None:
    await world.number(OURS)
    world.twilio.opted_out.add(ALICE)
    message = await world.text(ALICE)
    await world.dispatcher.run_once()
    assert await world.status(message.id) == "failed"
    assert await consent.is_suppressed(world.pool, world.business_id, ALICE)
    assert [(a, s) for a, s, _ in await consent.history(world.pool, world.business_id, ALICE)] == \
        [("opt_out", "carrier")]
    assert await debits(world.pool) == []


async def test_a_rate_limited_send_waits_its_backoff_then_goes_once(world: World) -> None:
    await world.number(OURS)
    world.twilio.fail("POST", r"Messages\.json$", status=429, code=20429, message="Too Many Requests")
    message = await world.text(ALICE)
    await world.dispatcher.run_once()
    not_before = await world.pool.fetchval("SELECT not_before FROM sms_outbox WHERE id = $1", message.id)
    assert START + datetime.timedelta(seconds=1) <= not_before <= START + datetime.timedelta(seconds=3)
    assert await world.dispatcher.run_once() == 0, "not before its backoff"
    world.clock.now = not_before
    assert await world.dispatcher.run_once() == 1
    assert len(world.twilio.messages) == 1
    assert len(world.twilio.requests_to("GET", r"Messages\.json")) == 0, "a 429 is not ambiguous: no lookup"


async def test_a_lost_answer_is_looked_up_and_never_sent_twice(world: World) -> None:
    """Twilio took the message, then answered 500: the retry finds it and sends nothing."""
    await world.number(OURS)
    world.twilio.fail("POST", r"Messages\.json$", status=500, code=20500, message="Internal", after=True)
    message = await world.text(ALICE)
    await world.drain(10)
    assert len(world.twilio.messages) == 1
    assert len(world.twilio.requests_to("POST", r"Messages\.json$")) == 1
    assert len(world.twilio.requests_to("GET", r"Messages\.json")) == 1
    assert await world.pool.fetchval("SELECT message_sid FROM sms_outbox WHERE id = $1", message.id) == \
        world.twilio.messages[0]["sid"]
    assert len(await debits(world.pool)) == 1


async def test_a_timeout_is_looked_up_and_never_sent_twice(world: World) -> None:
    await world.number(OURS)
    world.twilio.slow_answer("POST", r"Messages\.json$", 0.5)
    message = await world.text(ALICE)
    await world.dispatcher.run_once()
    assert await world.pool.fetchval("SELECT message_sid FROM sms_outbox WHERE id = $1", message.id) is None, \
        "the answer did not come within the carrier's 0.3 s"
    world.twilio._slow_answers.clear()
    await world.drain(10)
    assert len(world.twilio.messages) == 1
    assert len(world.twilio.requests_to("POST", r"Messages\.json$")) == 1


async def test_a_500_before_sending_is_looked_up_then_sent_once(world: World) -> None:
    await world.number(OURS)
    world.twilio.fail("POST", r"Messages\.json$", status=500, code=20500, message="Internal")
    await world.text(ALICE)
    await world.drain(10)
    assert len(world.twilio.messages) == 1
    assert len(world.twilio.requests_to("POST", r"Messages\.json$")) == 2


async def test_an_invalid_phone_is_marked_undeliverable_and_skipped_after(world: World) -> None:
    await world.number(OURS)
    world.twilio.fail("POST", r"Messages\.json$", status=400, code=21211, message="Invalid 'To' Phone Number")
    first = await world.text(ALICE)
    await world.dispatcher.run_once()
    assert await world.status(first.id) == "failed"
    assert await consent.is_undeliverable(world.pool, world.business_id, ALICE)
    second = await world.text(ALICE)
    await world.dispatcher.run_once()
    assert await world.status(second.id) == "canceled"
    assert len(world.twilio.requests_to("POST", r"Messages\.json$")) == 1


async def test_a_send_left_open_by_a_dead_process_is_looked_up_not_resent(world: World) -> None:
    await world.number(OURS)
    message = await world.text(ALICE)
    await world.carrier.send_message(OURS, ALICE, "Hello there", status_callback="x")  # the dead process's send
    await world.pool.execute("UPDATE sms_outbox SET status = 'sending', attempts = 1, send_started_at = $2"
                             " WHERE id = $1", message.id, START)
    world.clock.advance(121)
    await world.drain(3)
    assert len(world.twilio.messages) == 1
    assert await world.pool.fetchval("SELECT message_sid FROM sms_outbox WHERE id = $1", message.id) == \
        world.twilio.messages[0]["sid"]


async def test_quiet_hours_each_recipient_gets_it_at_their_own_eight_oclock(world: World) -> None:
    """New York, Los Angeles and Honolulu recipients, zones from their numbers; the clock starts before dawn in all."""
    await world.number(OURS)
    phones = {"America/New_York": "+12125550100", "America/Los_Angeles": "+13105550100",
              "Pacific/Honolulu": "+18085550100"}
    world.clock.now = datetime.datetime(2026, 7, 1, 11, 0, tzinfo=datetime.UTC)
    for phone in phones.values():
        await world.text(phone, "Sale today", category="marketing", contact_id=await world.contact(phone))
    assert await world.dispatcher.run_once() == 0
    received: dict[str, int] = {}
    for hour in range(11, 20):
        world.clock.now = datetime.datetime(2026, 7, 1, hour, 0, tzinfo=datetime.UTC)
        while await world.dispatcher.run_once():
            pass
        for m in world.twilio.messages:
            received.setdefault(m["to"], hour)
    assert received == {phones["America/New_York"]: 12, phones["America/Los_Angeles"]: 15,
                        phones["Pacific/Honolulu"]: 18}
    assert {m["validity_period"] for m in world.twilio.messages} == {"36000"}


async def test_a_marketing_text_late_in_the_day_is_valid_only_until_the_window_closes(world: World) -> None:
    await world.number(OURS)
    world.clock.now = datetime.datetime(2026, 7, 2, 0, 30, tzinfo=datetime.UTC)  # 20:30 in New York
    phone = "+12125550100"
    await world.text(phone, "Last call", category="marketing", contact_id=await world.contact(phone))
    await world.dispatcher.run_once()
    assert world.twilio.messages[0]["validity_period"] == "1800"


async def test_a_marketing_text_without_consent_is_refused(world: World) -> None:
    await world.number(OURS)
    contact = await world.contact(ALICE, consent=False)
    with pytest.raises(NoConsent):
        await world.text(ALICE, category="marketing", contact_id=contact)

"""Stripe event payloads: parsing and its reverse, exact refusals, and order-independent effects."""

from __future__ import annotations

import asyncio
import copy
import itertools
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from billing import ledger, topups
from billing.money import Currency
from billing.stripe_events import (
    ChargeObject,
    CheckoutSessionObject,
    Outcome,
    RefundNotRoutable,
    StripeEvent,
    apply_event,
    plan_session,
)
from tests.conftest import MakeBusiness
from tests.fake_stripe import FakeStripe

ROOT = Path(__file__).resolve().parents[2]


def captured(business_id: uuid.UUID | None = None) -> dict[str, Any]:
    """A completed-session event as the fake (shaped like Stripe's) emits it."""
    fake = FakeStripe()
    bid = str(business_id or uuid.uuid4())
    session = fake._new_session({"mode": "payment", "client_reference_id": bid, "success_url": "https://x/s",
                                 "cancel_url": "https://x/c", "metadata": {"business_id": bid},
                                 "line_items": [{"quantity": "1", "price_data": {"currency": "usd",
                                                                                 "unit_amount": "2500"}}]})
    return fake.complete_session(session["id"])


CHARGE = {"id": "evt_c", "object": "event", "type": "charge.refunded", "created": 10, "livemode": False,
          "data": {"object": {"id": "ch_1", "object": "charge", "amount": 1000, "amount_refunded": 300,
                              "currency": "usd", "payment_intent": {"id": "pi_1", "object": "payment_intent"},
                              "metadata": {"business_id": "x"}}}}
OTHER = {"id": "evt_o", "object": "event", "type": "invoice.paid", "created": 10, "livemode": True,
         "data": {"object": {"id": "in_1"}}}


@pytest.mark.parametrize("payload", [captured(), CHARGE, OTHER], ids=["session", "charge", "other"])
def test_fixtures_round_trip(payload: dict[str, Any]) -> None:
    """parse(to_dict(parse(x))) == parse(x) for every captured shape."""
    event = StripeEvent.parse(payload)
    assert StripeEvent.parse(event.to_dict()) == event
    assert event.id == payload["id"] and event.type == payload["type"]


def test_expanded_payment_intent_is_read_as_its_id() -> None:
    event = StripeEvent.parse(CHARGE)
    assert isinstance(event.object, ChargeObject) and event.object.payment_intent == "pi_1"


def _broken(path: list[str | int], value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    payload = copy.deepcopy(base or captured())
    node: Any = payload
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return payload


@pytest.mark.parametrize(("payload", "message"), [
    (_broken(["object"], "list"), "object must be 'event'"),
    (_broken(["type"], 5), "event.type must be a string"),
    (_broken(["created"], "yesterday"), "event.created must be an integer"),
    (_broken(["livemode"], "no"), "event.livemode must be a boolean"),
    (_broken(["data"], None), "data.object must be an object"),
    (_broken(["data", "object", "object"], "charge"), "data.object.object must be 'checkout.session'"),
    (_broken(["data", "object", "amount_total"], 25.0), "data.object.amount_total must be null or an integer"),
    (_broken(["data", "object", "amount_total"], True), "data.object.amount_total must be null or an integer"),
    (_broken(["data", "object", "payment_status"], KeyError), "data.object.payment_status must be a string"),
    (_broken(["data", "object", "metadata"], {"a": 1}), "data.object.metadata must be an object of strings"),
    (_broken(["data", "object", "amount_refunded"], 2000, CHARGE), "data.object.amount_refunded must be between 0 and amount"),
    (_broken(["data", "object", "currency"], None, CHARGE), "data.object.currency must be a string"),
])
def test_invalid_payloads_raise_exact_value_errors(payload: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        StripeEvent.parse(payload)


def _session(status: str) -> CheckoutSessionObject:
    return CheckoutSessionObject(id="cs", amount_total=1, currency="usd", payment_status=status, status="complete",
                                 client_reference_id=None, payment_intent=None)


@pytest.mark.parametrize(("type_", "payment_status", "plan"), [
    ("checkout.session.completed", "paid", ("paid", True)),
    ("checkout.session.completed", "unpaid", ("pending", False)),
    ("checkout.session.completed", "no_payment_required", ("paid", False)),
    ("checkout.session.async_payment_succeeded", "paid", ("paid", True)),
    ("checkout.session.async_payment_failed", "unpaid", ("failed", False)),
    ("checkout.session.expired", "unpaid", ("expired", False)),
])
def test_only_paid_sessions_move_money(type_: str, payment_status: str, plan: tuple[str, bool]) -> None:
    decided = plan_session(type_, _session(payment_status))
    assert (decided.status, decided.credit) == plan


def test_status_never_moves_backwards() -> None:
    for a, b in itertools.permutations(topups.STATUS_ORDER, 2):
        assert topups.later_status(a, b) == topups.later_status(b, a)
    assert topups.later_status("paid", "expired") == "paid"


async def _final_state(pool: asyncpg.Pool, business_id: uuid.UUID, session_id: str) -> tuple[Any, ...]:
    wallet = await ledger.get_wallet(pool, business_id, Currency.USD)
    entries = await ledger.list_entries(pool, business_id, limit=100)
    by_kind: dict[str, int] = {}
    for e in entries:
        by_kind[e.kind.value] = by_kind.get(e.kind.value, 0) + e.amount
    return (wallet.balance if wallet else 0, sorted(by_kind.items()), await topups.topup_status(pool, session_id))


async def test_any_order_of_payment_events_ends_in_the_same_state(pool: asyncpg.Pool,
                                                                 make_business: MakeBusiness) -> None:
    """Property 12, exhaustively: all 24 orders of completed / async_succeeded / two refunds, with the
    session's `expired` event slipped in at every position in turn."""
    states = set()
    for n, order in enumerate(itertools.permutations(range(4))):
        tenant = await make_business()
        fake = FakeStripe()
        bid = str(tenant.business_id)
        session = fake._new_session({
            "mode": "payment", "client_reference_id": bid, "success_url": "https://x/s", "cancel_url": "https://x/c",
            "metadata": {"business_id": bid}, "payment_intent_data": {"metadata": {"business_id": bid}},
            "line_items": [{"quantity": "1", "price_data": {"currency": "usd", "unit_amount": "1000"}}]})
        events = [fake.complete_session(session["id"]), fake.async_payment_succeeded(session["id"]),
                  fake.refund(session["id"], 300), fake.refund(session["id"], 200)]
        sequence = [events[i] for i in order]
        sequence.insert(n % 5, fake.expire_session(session["id"]))
        for event in sequence:
            await apply_event(pool, StripeEvent.parse(event))
        states.add(repr(await _final_state(pool, tenant.business_id, session["id"])))
    assert states == {repr((500, [("refund", -500), ("topup", 1000)], "paid"))}


async def test_refund_before_completion_without_metadata_waits(pool: asyncpg.Pool,
                                                                make_business: MakeBusiness) -> None:
    """Without the business in the charge's metadata, a refund first is retried, then booked once routable."""
    tenant = await make_business()
    fake = FakeStripe()
    bid = str(tenant.business_id)
    session = fake._new_session({
        "mode": "payment", "client_reference_id": bid, "success_url": "https://x/s", "cancel_url": "https://x/c",
        "line_items": [{"quantity": "1", "price_data": {"currency": "usd", "unit_amount": "1000"}}]})
    completed = fake.complete_session(session["id"])
    refund = StripeEvent.parse(fake.refund(session["id"], 1000))
    with pytest.raises(RefundNotRoutable):
        await apply_event(pool, refund)
    assert await apply_event(pool, StripeEvent.parse(completed)) is Outcome.CREDITED
    assert await apply_event(pool, refund) is Outcome.REFUNDED
    assert await _final_state(pool, tenant.business_id, session["id"]) == (0, [("refund", -1000), ("topup", 1000)], "paid")


async def test_session_for_unknown_business_is_recorded_not_credited(pool: asyncpg.Pool) -> None:
    event = StripeEvent.parse(captured(uuid.uuid4()))
    assert await apply_event(pool, event) is Outcome.UNROUTABLE
    assert await apply_event(pool, event) is Outcome.DUPLICATE
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries") == 0


async def test_deliveries_from_separate_processes_credit_once(pool: asyncpg.Pool, database_url: str,
                                                              make_business: MakeBusiness) -> None:
    """Property 3 across processes: four server processes receiving one event (and its async twin) at once."""
    tenant = await make_business()
    completed = captured(tenant.business_id)
    twin = {**completed, "id": completed["id"] + "_twin", "type": "checkout.session.async_payment_succeeded"}
    procs = []
    for payload in (completed, completed, twin, twin):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.billing.event_worker", database_url, cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(orjson.dumps(payload) + b"\n")
        await proc.stdin.drain()
        procs.append(proc)
    for proc in procs:
        assert proc.stdout is not None
        while (line := await proc.stdout.readline()) and line.strip() != b"ready":
            pass  # start-up log lines
        assert line.strip() == b"ready", await proc.communicate()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    outputs = await asyncio.gather(*(proc.communicate() for proc in procs))
    for out, err in outputs:
        assert out.strip(), err.decode()
    outcomes = sorted(out.decode().strip().splitlines()[-1] for out, _ in outputs)
    assert outcomes == ["credited", "credited", "duplicate", "duplicate"], outputs
    wallet = await ledger.get_wallet(pool, tenant.business_id, Currency.USD)
    assert wallet is not None and wallet.balance == 2500
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries") == 1

"""A seeded simulation of a prepaid wallet under calls, top-ups, refunds, SMS and faults ("VOPR-lite").

One seed drives everything: which operation comes next, its amounts, whether Stripe
delivers an event twice, concurrently or out of order, and whether an operation is
interrupted mid-flight (its task cancelled, as when a process dies) or its database
connection killed. An interrupted operation is retried with the same idempotency keys, as
a restarted process or a redelivering provider would. A plain-integer auditor applies
each operation once; after every step the database must agree with it exactly (balance,
held, and how far each platform account moved) and the books must conserve: every wallet
== Σ its entries, every entry has its counter-side, Σ of all accounts = 0 per currency. Calls whose process "died" are settled by two racing
sweepers once their hold expires. Any divergence raises with the seed in the message.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from agent_server import tenants
from billing import accounts, call_meter, ledger, stripe_events, topups, usage
from billing.errors import InsufficientFunds
from billing.ledger import EntryKind
from billing.money import Currency, Money
from billing.pricing import Prices, affordable_seconds, grant_seconds, voice_charge

T = TypeVar("T")
USD = Currency.USD
PRICES = Prices(USD, voice_per_minute=120, sms_per_reply=3, chat_per_1k_tokens=1)
GRANT, MINIMUM, AHEAD, LEASE = 40, 10, 40, 300


class Divergence(AssertionError):
    pass


@dataclasses.dataclass
class CallModel:
    granted: int
    reserved: int
    charged: int = 0
    used: int = 0
    crashed: bool = False
    duration: int | None = None


@dataclasses.dataclass
class Auditor:
    """The wallet as plain integers, each operation applied exactly once."""

    balance: int = 0
    held: int = 0
    calls: dict[str, CallModel] = dataclasses.field(default_factory=dict)
    sessions: dict[str, int] = dataclasses.field(default_factory=dict)
    credited: set[str] = dataclasses.field(default_factory=set)
    refunded: dict[str, int] = dataclasses.field(default_factory=dict)
    moved: dict[str, int] = dataclasses.field(default_factory=dict)

    def move(self, account: str, amount: int) -> None:
        """The platform side of a wallet change: the opposite amount, in `account`."""
        self.moved[account] = self.moved.get(account, 0) + amount

    @property
    def available(self) -> int:
        return self.balance - self.held

    def open_call(self, sid: str) -> int:
        granted = grant_seconds(self.available, PRICES.voice_per_minute, wanted=GRANT, minimum=MINIMUM)
        if granted:
            reserve = voice_charge(granted, PRICES.voice_per_minute)
            self.calls[sid] = CallModel(granted, reserve)
            self.held += reserve
        return granted

    def _charge(self, call: CallModel, used: int, final: bool) -> None:
        target = min(max(used, call.charged), call.granted)
        cost = voice_charge(target, PRICES.voice_per_minute) - voice_charge(call.charged, PRICES.voice_per_minute)
        from_hold = min(call.reserved, cost)
        self.balance -= cost
        self.move("revenue:call", cost)
        self.held -= call.reserved if final else from_hold
        call.reserved = 0 if final else call.reserved - from_hold
        call.charged = target

    def checkpoint(self, sid: str, used: int) -> None:
        call = self.calls[sid]
        self._charge(call, used, final=False)
        ceiling = affordable_seconds(self.available + voice_charge(call.granted, PRICES.voice_per_minute),
                                     PRICES.voice_per_minute)
        extra = max(0, min(max(0, call.charged + AHEAD - call.granted), ceiling - call.granted))
        ext = voice_charge(call.granted + extra, PRICES.voice_per_minute) - voice_charge(call.granted,
                                                                                          PRICES.voice_per_minute)
        self.held += ext
        call.reserved += ext
        call.granted += extra

    def settle(self, sid: str, used: int) -> None:
        self._charge(self.calls.pop(sid), used, final=True)


@dataclasses.dataclass
class Report:
    seed: int
    operations: int = 0
    faults: int = 0
    retries: int = 0
    duplicates: int = 0


class Simulation:
    def __init__(self, pool: asyncpg.Pool, seed: int) -> None:
        self.pool = pool
        self.rng = random.Random(seed)
        self.model = Auditor()
        self.report = Report(seed)
        self.business: uuid.UUID | None = None
        self.books_before: dict[str, int] = {}
        self.n = 0

    def fail(self, message: str) -> Divergence:
        return Divergence(f"seed {self.report.seed}, operation {self.report.operations}: {message}")

    async def faulty(self, op: Callable[[], Awaitable[T]]) -> T:
        """Run `op`, sometimes interrupting it mid-flight or killing a connection first; retry until done."""
        while True:
            fault = self.rng.random()
            try:
                if fault < 0.08:
                    self.report.faults += 1
                    await self.pool.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid() AND state = 'idle'")
                if fault > 0.92:
                    self.report.faults += 1
                    task = asyncio.ensure_future(op())
                    await asyncio.sleep(self.rng.random() * 0.004)
                    if not task.done():
                        task.cancel()
                        await asyncio.gather(task, return_exceptions=True)
                        self.report.retries += 1
                        continue
                    return task.result()
                return await op()
            except (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError,
                    asyncpg.exceptions.AdminShutdownError):
                self.report.retries += 1

    async def check(self) -> None:
        assert self.business is not None
        wallet = await ledger.get_wallet(self.pool, self.business, USD)
        balance, held = (0, 0) if wallet is None else (wallet.balance, wallet.held)
        if (balance, held) != (self.model.balance, self.model.held):
            raise self.fail(f"db (balance, held) = {(balance, held)}, auditor {(self.model.balance, self.model.held)}")
        problems = await ledger.conservation_violations(self.pool)
        if problems:
            raise self.fail(f"conservation: {problems}")
        books = await self.books()
        moved = {a: books.get(a, 0) - self.books_before.get(a, 0) for a in books.keys() | self.books_before.keys()}
        expected = {a: v for a, v in self.model.moved.items() if v}
        if {a: v for a, v in moved.items() if v and a != accounts.WALLETS} != expected:
            raise self.fail(f"platform accounts moved {moved}, auditor {expected}")

    async def books(self) -> dict[str, int]:
        return {r.account: r.balance for r in await accounts.balances(self.pool) if r.currency == USD.value}

    async def run(self, operations: int) -> Report:
        self.business = await tenants.create_business(self.pool, f"sim-{self.report.seed}")
        self.books_before = await self.books()
        steps = [self.topup, self.topup, self.call_start, self.call_start, self.checkpoint, self.checkpoint,
                 self.call_end, self.crash, self.sweep, self.sms, self.refund]
        for _ in range(operations):
            self.report.operations += 1
            await self.rng.choice(steps)()
            await self.check()
        for sid in list(self.model.calls):
            await self._settle(sid, self.model.calls[sid].used)
        await self.sweep(force=True)
        await self.check()
        if self.model.held != 0:
            raise self.fail(f"{self.model.held} still held at the end")
        return self.report

    def key(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.report.seed}x{self.n}"

    async def topup(self) -> None:
        assert self.business is not None
        sid, amount = self.key("cs_"), self.rng.choice((100, 250, 500, 1000))
        await topups.record_session(self.pool, session_id=sid, business_id=self.business,
                                    amount=Money(amount, USD), created_by="sim")
        self.model.sessions[sid] = amount
        events = [self._session_event(sid, amount, "checkout.session.completed"),
                  self._session_event(sid, amount, "checkout.session.async_payment_succeeded")]
        deliveries = [e for e in events for _ in range(self.rng.randint(1, 3))]
        self.rng.shuffle(deliveries)
        self.report.duplicates += len(deliveries) - 1
        await asyncio.gather(*(self.faulty(lambda e=e: stripe_events.apply_event(self.pool, e))
                               for e in deliveries))
        if sid not in self.model.credited:
            self.model.credited.add(sid)
            self.model.balance += amount
            self.model.move("stripe_clearing", -amount)

    def _session_event(self, sid: str, amount: int, type_: str) -> stripe_events.StripeEvent:
        assert self.business is not None
        payload: dict[str, Any] = {
            "id": self.key("evt_"), "object": "event", "type": type_, "created": 1_800_000_000, "livemode": False,
            "data": {"object": {"id": sid, "object": "checkout.session", "amount_total": amount, "currency": "usd",
                                "payment_status": "paid", "payment_intent": f"pi_{sid}",
                                "client_reference_id": str(self.business),
                                "metadata": {"business_id": str(self.business)}}}}
        return stripe_events.StripeEvent.parse(payload)

    async def refund(self) -> None:
        paid = [s for s in self.model.credited if self.model.refunded.get(s, 0) < self.model.sessions[s]]
        if not paid:
            return
        sid = self.rng.choice(sorted(paid))
        total = min(self.model.sessions[sid], self.model.refunded.get(sid, 0) + self.rng.choice((10, 50)))
        event = stripe_events.StripeEvent.parse({
            "id": self.key("evt_"), "object": "event", "type": "charge.refunded", "created": 1_800_000_000,
            "livemode": False, "data": {"object": {
                "id": f"ch_{sid}", "object": "charge", "amount": self.model.sessions[sid],
                "amount_refunded": total, "currency": "usd", "payment_intent": f"pi_{sid}", "metadata": {}}}})
        for _ in range(self.rng.randint(1, 2)):
            await self.faulty(lambda: stripe_events.apply_event(self.pool, event))
        self.model.balance -= total - self.model.refunded.get(sid, 0)
        self.model.move("refunds", total - self.model.refunded.get(sid, 0))
        self.model.refunded[sid] = total

    async def call_start(self) -> None:
        assert self.business is not None
        sid = self.key("CA")
        meter = await self.faulty(lambda: call_meter.open_meter(
            self.pool, business_id=self.business, call_sid=sid, prices=PRICES, wanted=GRANT, minimum=MINIMUM,
            lease_seconds=LEASE))
        expected = self.model.open_call(sid)
        if (meter.granted_seconds if meter else 0) != expected:
            raise self.fail(f"call {sid} granted {meter and meter.granted_seconds}, auditor {expected}")

    def _live(self) -> list[str]:
        return sorted(s for s, c in self.model.calls.items() if not c.crashed)

    async def checkpoint(self) -> None:
        live = self._live()
        if not live:
            return
        sid = self.rng.choice(live)
        call = self.model.calls[sid]
        call.used += self.rng.randint(1, 25)
        used = call.used
        meter = await self.faulty(lambda: call_meter.checkpoint(self.pool, sid, used_seconds=used,
                                                                grant_ahead=AHEAD, lease_seconds=LEASE))
        self.model.checkpoint(sid, used)
        if meter.granted_seconds != call.granted:
            raise self.fail(f"call {sid} grant {meter.granted_seconds}, auditor {call.granted}")

    async def _settle(self, sid: str, used: int) -> None:
        await self.faulty(lambda: call_meter.settle(self.pool, sid, used_seconds=used, source="sim"))
        self.model.settle(sid, used)

    async def call_end(self) -> None:
        live = self._live()
        if live:
            sid = self.rng.choice(live)
            await self._settle(sid, self.model.calls[sid].used + self.rng.randint(0, 30))

    async def crash(self) -> None:
        """The process holding a call dies; Twilio may report the duration, in any order, twice."""
        live = self._live()
        if not live:
            return
        assert self.business is not None
        sid = self.rng.choice(live)
        call = self.model.calls[sid]
        call.crashed = True
        if self.rng.random() < 0.5:
            call.duration = call.used + self.rng.randint(0, 20)
            await self.pool.execute(
                "INSERT INTO calls (call_sid, business_id, from_number, to_number, twilio_duration_seconds)"
                " VALUES ($1, $2, '+15550001', '+15550002', $3)", sid, self.business, call.duration)

    async def sweep(self, force: bool = False) -> None:
        crashed = [s for s, c in self.model.calls.items() if c.crashed]
        if not crashed or not (force or self.rng.random() < 0.6):
            return
        await self.pool.execute(
            "UPDATE holds SET expires_at = now() - interval '1 second' WHERE status = 'active'"
            " AND reference = ANY($1)", [f"call:{s}" for s in crashed])
        await asyncio.gather(call_meter.sweep(self.pool), call_meter.sweep(self.pool))
        for sid in crashed:
            call = self.model.calls[sid]
            self.model.settle(sid, call.duration if call.duration is not None else call.charged)

    async def sms(self) -> None:
        assert self.business is not None
        key = self.key("sms:SM")
        price = Money(PRICES.sms_per_reply, USD)
        try:
            reservation = await self.faulty(lambda: usage.reserve(
                self.pool, business_id=self.business, amount=price, key=key, reference=key))
        except InsufficientFunds:
            if self.model.available >= PRICES.sms_per_reply:
                raise self.fail("an SMS the wallet could pay was refused") from None
            return
        if self.model.available < PRICES.sms_per_reply:
            raise self.fail("an SMS the wallet couldn't pay was reserved")
        await self.faulty(lambda: usage.charge(self.pool, reservation, cost=PRICES.sms_per_reply,
                                               kind=EntryKind.SMS_USAGE, key=key))
        self.model.balance -= PRICES.sms_per_reply
        self.model.move("revenue:sms", PRICES.sms_per_reply)

"""Property 1 as a Hypothesis state machine: random wallet operations against an in-memory auditor.

Each rule runs the real billing function on the test database (on the test's event loop, from
Hypothesis's thread) and the same operation on a plain-integer model; the two must agree on
every accept/refuse decision, and after every step the SQL conservation check must be clean:
wallet balance == Σ entries, and the double entry (each platform account moved as the model
says, Σ of all accounts = 0 per currency).
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
from collections.abc import Coroutine
from typing import Any, TypeVar

import asyncpg
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule, run_state_machine_as_test

from agent_server import tenants
from billing import accounts, disputes, holds, ledger, refunds
from billing.errors import IdempotencyConflict, InsufficientFunds
from billing.ledger import EntryKind
from billing.money import Currency, Money

T = TypeVar("T")
amounts = st.integers(min_value=1, max_value=500)


def machine_for(pool: asyncpg.Pool, loop: asyncio.AbstractEventLoop,
                currency: Currency) -> type[RuleBasedStateMachine]:
    keys = itertools.count()

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)

    class WalletMachine(RuleBasedStateMachine):
        """The model: balance and each open hold's reserve, as plain ints."""

        open_holds = Bundle("open_holds")

        def __init__(self) -> None:
            super().__init__()
            self.business = run(tenants.create_business(pool, "machine"))
            self.balance = 0
            self.reserved: dict[int, int] = {}
            self.last: tuple[str, int] | None = None
            self.overdrawn = False
            self.refunded = 0
            # Platform accounts are shared by every example's business: the model tracks moves.
            self.books_before = self.books()
            self.moved: dict[str, int] = {}
            self.open_disputes: dict[str, int] = {}

        def books(self) -> dict[str, int]:
            return {r.account: r.balance for r in run(accounts.balances(pool)) if r.currency == currency.value}

        def move(self, account: str, amount: int) -> None:
            self.moved[account] = self.moved.get(account, 0) + amount

        @property
        def available(self) -> int:
            return self.balance - sum(self.reserved.values())

        def key(self) -> str:
            return f"sm:{currency.value}:{next(keys)}"

        @rule(amount=amounts)
        def top_up(self, amount: int) -> None:
            key = self.key()
            run(ledger.credit(pool, business_id=self.business, amount=Money(amount, currency), kind=EntryKind.TOPUP,
                              idempotency_key=key, reference=key, actor="sm"))
            self.balance += amount
            self.move("stripe_clearing", -amount)
            self.last = (key, amount)

        @rule(amount=amounts)
        def debit(self, amount: int) -> None:
            key = self.key()
            try:
                run(ledger.debit(pool, business_id=self.business, amount=Money(amount, currency),
                                 kind=EntryKind.SMS_USAGE, idempotency_key=key, reference=key, actor="sm"))
            except InsufficientFunds:
                assert amount > self.available
                return
            assert amount <= self.available
            self.balance -= amount
            self.move("revenue:sms", amount)

        @rule(amount=amounts, kind=st.sampled_from([EntryKind.NUMBER_RENT, EntryKind.NUMBER_PURCHASE]))
        def number_charge(self, amount: int, kind: EntryKind) -> None:
            key = self.key()
            try:
                run(ledger.debit(pool, business_id=self.business, amount=Money(amount, currency), kind=kind,
                                 idempotency_key=key, reference=key, actor="sm"))
            except InsufficientFunds:
                assert amount > self.available
                return
            self.balance -= amount
            self.move(f"revenue:{kind.value}", amount)

        @rule(amount=st.integers(-300, 300).filter(bool))
        def adjust(self, amount: int) -> None:
            key = self.key()
            try:
                run(ledger.post_entry(pool, business_id=self.business, amount=Money(amount, currency),
                                      kind=EntryKind.ADJUSTMENT, idempotency_key=key, reference=key, actor="sm"))
            except InsufficientFunds:
                assert -amount > self.available
                return
            self.balance += amount
            self.move("adjustments", -amount)

        @rule(amount=amounts)
        def refund(self, amount: int) -> None:
            """A Stripe refund: money already gone, so it may take the wallet below zero."""
            self.refunded += amount
            run(refunds.refund_up_to(pool, business_id=self.business, refunded=Money(self.refunded, currency),
                                     charge_reference="stripe:charge:ch_sm", idempotency_key=self.key(), actor="sm"))
            self.balance -= amount
            self.move("refunds", amount)
            self.overdrawn = self.overdrawn or self.available < 0

        @rule(amount=amounts, outcome=st.sampled_from(["needs_response", "won", "lost"]), fee=st.integers(0, 50))
        def dispute(self, amount: int, outcome: str, fee: int) -> None:
            """A dispute as Stripe reports it (opened, or already closed): held at once, may overdraw."""
            dispute_id = self.key()
            run(self.book_dispute(dispute_id, outcome, amount, fee))
            if outcome != "won":
                self.balance -= amount + (fee if outcome == "lost" else 0)
                self.move("disputes", amount + (fee if outcome == "lost" else 0))
            if outcome == "needs_response":
                self.open_disputes[dispute_id] = amount
            self.overdrawn = self.overdrawn or self.available < 0

        @rule(won=st.booleans(), fee=st.integers(0, 50))
        def close_dispute(self, won: bool, fee: int) -> None:
            if not self.open_disputes:
                return
            dispute_id, amount = self.open_disputes.popitem()
            run(self.book_dispute(dispute_id, "won" if won else "lost", amount, fee))
            change = amount if won else -fee
            self.balance += change
            self.move("disputes", -change)
            self.overdrawn = self.overdrawn or self.available < 0

        async def book_dispute(self, dispute_id: str, status: str, amount: int, fee: int) -> None:
            async with pool.acquire() as conn, conn.transaction():
                await disputes.book(conn, business_id=self.business, dispute_id=dispute_id, status=status,
                                    disputed=Money(amount, currency), fee_minor=fee)

        @rule()
        def replay_last_top_up(self) -> None:
            """Property 3: the same key and amount again changes nothing."""
            if self.last is not None:
                key, amount = self.last
                run(ledger.credit(pool, business_id=self.business, amount=Money(amount, currency), kind=EntryKind.TOPUP,
                                  idempotency_key=key, reference=key, actor="sm"))

        @rule()
        def reuse_key_for_other_amount(self) -> None:
            """Property 4: the same key with another amount is refused and changes nothing."""
            if self.last is not None:
                key, amount = self.last
                try:
                    run(ledger.credit(pool, business_id=self.business, amount=Money(amount + 1, currency),
                                      kind=EntryKind.TOPUP, idempotency_key=key, reference=key, actor="sm"))
                except IdempotencyConflict:
                    return
                raise AssertionError("a reused key must conflict")

        @rule(target=open_holds, amount=amounts)
        def place(self, amount: int) -> int:
            try:
                hold = run(holds.place_hold(pool, business_id=self.business, amount=Money(amount, currency),
                                            expires_at=datetime.datetime.now(datetime.UTC), idempotency_key=self.key(),
                                            reference="call"))
            except InsufficientFunds:
                assert amount > self.available
                return -1
            assert amount <= self.available
            self.reserved[hold.id] = amount
            return hold.id

        @rule(hold_id=open_holds, amount=amounts)
        def extend(self, hold_id: int, amount: int) -> None:
            if hold_id not in self.reserved:
                return
            try:
                run(holds.extend_hold(pool, hold_id, amount=Money(amount, currency),
                                      expires_at=datetime.datetime.now(datetime.UTC), idempotency_key=self.key()))
            except InsufficientFunds:
                assert amount > self.available
                return
            self.reserved[hold_id] += amount

        @rule(hold_id=open_holds, amount=st.integers(0, 600))
        def capture(self, hold_id: int, amount: int) -> None:
            if hold_id not in self.reserved:
                return
            beyond = max(0, amount - self.reserved[hold_id])
            try:
                run(holds.capture(pool, hold_id, amount=Money(amount, currency), kind=EntryKind.CALL_USAGE,
                                  idempotency_key=self.key(), actor="sm"))
            except InsufficientFunds:
                assert beyond > self.available
                return
            self.balance -= amount
            self.move("revenue:call", amount)
            self.reserved[hold_id] -= amount - beyond

        @rule(hold_id=consumes(open_holds), amount=st.integers(0, 600))
        def settle(self, hold_id: int, amount: int) -> None:
            if hold_id not in self.reserved:
                return
            beyond = max(0, amount - self.reserved[hold_id])
            try:
                run(holds.settle(pool, hold_id, amount=Money(amount, currency), kind=EntryKind.CALL_USAGE,
                                 idempotency_key=self.key(), actor="sm"))
            except InsufficientFunds:
                assert beyond > self.available
                self.reserved.pop(hold_id)  # consumed from the bundle: release it so the model stays closed
                run(holds.release_hold(pool, hold_id))
                return
            self.balance -= amount
            self.move("revenue:call", amount)
            del self.reserved[hold_id]

        @rule(hold_id=consumes(open_holds))
        def release(self, hold_id: int) -> None:
            if hold_id in self.reserved:
                run(holds.release_hold(pool, hold_id))
                del self.reserved[hold_id]

        @invariant()
        def database_agrees_with_the_model(self) -> None:
            wallet = run(ledger.get_wallet(pool, self.business, currency))
            balance, held = (wallet.balance, wallet.held) if wallet else (0, 0)
            assert (balance, held) == (self.balance, sum(self.reserved.values()))
            assert balance - held >= 0 or self.overdrawn, "only a refund takes a wallet below zero"

        @invariant()
        def conservation(self) -> None:
            assert run(ledger.conservation_violations(pool)) == []

        @invariant()
        def platform_accounts_moved_as_the_model_says(self) -> None:
            now, before = self.books(), self.books_before
            moved = {a: now.get(a, 0) - before.get(a, 0) for a in now.keys() | before.keys() if a != "wallets"}
            assert {a: v for a, v in moved.items() if v} == {a: v for a, v in self.moved.items() if v}
            assert sum(now.values()) == 0

    return WalletMachine


async def test_wallet_state_machine(pool: asyncpg.Pool) -> None:
    """USD, then INR on the same database: the books balance per currency with both in them."""
    config = settings(max_examples=12, stateful_step_count=25, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    for currency in (Currency.USD, Currency.INR):
        machine = machine_for(pool, asyncio.get_running_loop(), currency)
        await asyncio.to_thread(run_state_machine_as_test, machine, settings=config)

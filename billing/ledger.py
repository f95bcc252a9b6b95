"""The wallet ledger: wallets, append-only entries and the guarded balance update (SQL lives here).

Every change to a wallet follows one path: lock the wallet row (``SELECT … FOR UPDATE``),
look the idempotency key up, then apply the change with an ``UPDATE`` whose ``WHERE``
clause refuses to take `available` below ``-credit_limit``, and insert the entry in the same
transaction. The row lock serialises writers of one wallet across every process sharing
the database; the guarded ``UPDATE`` makes an overdraft impossible even if the Python
checks were wrong. Inside a caller's transaction functions run in a savepoint, so the Stripe
webhook can put its own rows and the entry in one commit. Under READ COMMITTED each statement
after the lock sees every row committed before the lock was granted.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import enum
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from billing import accounts
from billing.conservation import conservation_violations as conservation_violations  # its callers' name
from billing.errors import CurrencyMismatch, IdempotencyConflict, InsufficientFunds, InvalidEntry
from billing.money import Currency, Money, available
from billing.usage_details import UsageDetail, detail_columns
from storage.executor import Connection, Executor
from storage.transactions import transaction


class EntryKind(enum.StrEnum):
    """Why money moved; the sign of an entry is fixed by its kind (DB CHECK mirrors `sign_ok`)."""

    TOPUP = "topup"
    REFUND = "refund"
    CALL_USAGE = "call_usage"
    SMS_USAGE = "sms_usage"
    CHAT_USAGE = "chat_usage"
    NUMBER_PURCHASE = "number_purchase"
    NUMBER_RENT = "number_rent"
    ADJUSTMENT = "adjustment"
    # A Stripe dispute: the disputed amount taken when it opens, given back if won, the fee if lost.
    DISPUTE_HOLD = "dispute_hold"
    DISPUTE_RELEASE = "dispute_release"
    DISPUTE_FEE = "dispute_fee"


@dataclass(frozen=True, slots=True)
class Wallet:
    """A snapshot of one wallet row; balance, held and updated_at come from the same read."""

    id: int
    business_id: uuid.UUID
    currency: Currency
    balance: int
    held: int
    credit_limit: int
    updated_at: datetime.datetime

    @property
    def available(self) -> int:
        """Balance less active holds."""
        return available(self.balance, self.held)


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger entry; `amount` is signed (credits positive)."""

    id: int
    wallet_id: int
    business_id: uuid.UUID
    currency: Currency
    amount: int
    kind: EntryKind
    reference: str
    actor: str
    idempotency_key: str
    hold_id: int | None
    balance_after: int
    created_at: datetime.datetime


def sign_ok(kind: EntryKind, amount: int) -> bool:
    """Top-ups and won disputes add money, adjustments go either way, every other kind takes money out."""
    if amount == 0:
        return False
    if kind in (EntryKind.TOPUP, EntryKind.DISPUTE_RELEASE):
        return amount > 0
    if kind is EntryKind.ADJUSTMENT:
        return True
    return amount < 0


def fingerprint(*parts: object) -> str:
    """A digest of what an operation does, stored beside its idempotency key.

    A replay with the same key must describe the same effect; comparing digests tells a
    harmless retry (return the first result) from a key reused for something else (refuse).
    """
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()


def entry_fingerprint(business_id: uuid.UUID, amount: Money, kind: EntryKind, reference: str,
                      hold_id: int | None) -> str:
    """The fingerprint of a ledger entry: everything but who asked and when."""
    return fingerprint("entry", business_id, amount.currency.value, amount.amount, kind.value, reference, hold_id)


_WALLET_COLUMNS = "id, business_id, currency, balance, held, credit_limit, updated_at"


def _wallet(row: asyncpg.Record) -> Wallet:
    return Wallet(row["id"], row["business_id"], Currency(row["currency"]), row["balance"], row["held"],
                  row["credit_limit"], row["updated_at"])


async def lock_wallet(conn: Connection, business_id: uuid.UUID, currency: Currency) -> Wallet:
    """Lock the business's wallet in `currency` for this transaction, creating it on first use.

    Every writer takes this lock before reading keys or amounts, so two processes acting on
    one wallet run one after the other, and a retry always sees the first attempt's rows.
    """
    sql = f"SELECT {_WALLET_COLUMNS} FROM wallets WHERE business_id = $1 AND currency = $2 FOR UPDATE"
    row = await conn.fetchrow(sql, business_id, currency.value)
    if row is None:
        await conn.execute("INSERT INTO wallets (business_id, currency) VALUES ($1, $2)"
                           " ON CONFLICT (business_id, currency) DO NOTHING", business_id, currency.value)
        row = await conn.fetchrow(sql, business_id, currency.value)
    assert row is not None
    return _wallet(row)


async def lock_wallet_by_id(conn: Connection, wallet_id: int) -> Wallet:
    """Lock a wallet known by id (holds know their wallet), same lock as `lock_wallet`."""
    row = await conn.fetchrow(f"SELECT {_WALLET_COLUMNS} FROM wallets WHERE id = $1 FOR UPDATE", wallet_id)
    assert row is not None, "wallet rows are never deleted"
    return _wallet(row)


async def apply_change(conn: Connection, wallet: Wallet, d_balance: int, d_held: int,
                       *, may_overdraw: bool = False) -> Wallet:
    """Change the wallet's balance and held amount, refusing any change that would overdraw it.

    The ``WHERE`` clause is the no-overdraft rule of `billing.money.keeps_available`: a change
    that lowers `available` must leave it at or above ``-credit_limit``. Only a Stripe refund
    (money that already left) passes ``may_overdraw``.

    Raises:
        InsufficientFunds: the guard refused the change; nothing was written.
    """
    row = await conn.fetchrow(
        f"UPDATE wallets SET balance = balance + $2::bigint, held = held + $3::bigint, updated_at = now()"
        f" WHERE id = $1 AND ($4::boolean OR $2::bigint - $3::bigint >= 0 OR balance + $2 - (held + $3) >= -credit_limit)"
        f" RETURNING {_WALLET_COLUMNS}",
        wallet.id, d_balance, d_held, may_overdraw)
    if row is None:
        raise InsufficientFunds(available=wallet.available, requested=d_held - d_balance,
                                currency=wallet.currency.value)
    return _wallet(row)


_ENTRY_COLUMNS = ("e.id, e.wallet_id, w.business_id, w.currency, e.amount, e.kind, e.reference, e.actor,"
                  " e.idempotency_key, e.hold_id, e.balance_after, e.created_at")


def _entry(row: asyncpg.Record) -> Entry:
    return Entry(row["id"], row["wallet_id"], row["business_id"], Currency(row["currency"]), row["amount"],
                 EntryKind(row["kind"]), row["reference"], row["actor"], row["idempotency_key"], row["hold_id"],
                 row["balance_after"], row["created_at"])


async def entry_by_key(db: Executor, idempotency_key: str) -> tuple[Entry, str] | None:
    """The entry written under `idempotency_key` with its fingerprint, if any."""
    row = await db.fetchrow(
        f"SELECT {_ENTRY_COLUMNS}, e.fingerprint FROM ledger_entries e JOIN wallets w ON w.id = e.wallet_id"
        " WHERE e.idempotency_key = $1", idempotency_key)
    return None if row is None else (_entry(row), row["fingerprint"])


_INSERT_TRANSFER = (
    "WITH e AS (INSERT INTO ledger_entries (wallet_id, amount, kind, reference, actor, idempotency_key, fingerprint,"
    " hold_id, balance_after) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id, created_at),"
    " c AS (INSERT INTO platform_entries (entry_id, account, currency, amount) SELECT id, $10, $11, -$2::bigint FROM e),"
    " d AS (INSERT INTO usage_details (entry_id, quantity, unit, cost_micros, cost_estimated)"
    "       SELECT id, $12, $13, $14, $15 FROM e WHERE $12::bigint IS NOT NULL)"
    " SELECT id, created_at FROM e")


async def insert_entry(conn: Connection, wallet: Wallet, *, amount: int, kind: EntryKind,
                       reference: str, actor: str, idempotency_key: str, fingerprint: str,
                       hold_id: int | None = None, detail: UsageDetail | None = None) -> Entry:
    """Append one entry and its counter-side; `wallet` is the row as `apply_change` returned it.

    One statement writes both sides of the transfer (see `billing.accounts`), and a usage
    entry's `detail` with them, so a wallet entry never exists without its platform side,
    and a checkpoint pays one round trip.
    """
    row = await conn.fetchrow(_INSERT_TRANSFER, *_transfer(wallet, wallet.balance, NewEntry(
        amount, kind, reference, actor, idempotency_key, fingerprint, hold_id, detail)))
    assert row is not None
    return Entry(row["id"], wallet.id, wallet.business_id, wallet.currency, amount, kind, reference, actor,
                 idempotency_key, hold_id, wallet.balance, row["created_at"])


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An entry to append (`insert_entries`): `amount` signed, as in `Entry`."""

    amount: int
    kind: EntryKind
    reference: str
    actor: str
    idempotency_key: str
    fingerprint: str
    hold_id: int | None = None
    detail: UsageDetail | None = None


def _transfer(wallet: Wallet, balance_after: int, e: NewEntry) -> tuple[object, ...]:
    return (wallet.id, e.amount, e.kind.value, e.reference, e.actor, e.idempotency_key, e.fingerprint, e.hold_id,
            balance_after, accounts.counter_account(e.kind.value).value, wallet.currency.value,
            *detail_columns(e.detail))


async def insert_entries(conn: Connection, wallet: Wallet, entries: Sequence[NewEntry]) -> None:
    """Append several entries with their counter-sides in one round trip; `wallet` is the row before them.

    Each `balance_after` runs on from `wallet.balance`, as if they were posted one by one (the
    caller applies their sum with one `apply_change`, under the same lock).
    """
    rows, balance = [], wallet.balance
    for entry in entries:
        balance += entry.amount
        rows.append(_transfer(wallet, balance, entry))
    await conn.executemany(_INSERT_TRANSFER, rows)


async def post_entry(db: Executor, *, business_id: uuid.UUID, amount: Money, kind: EntryKind,
                     idempotency_key: str, reference: str, actor: str, may_overdraw: bool = False,
                     detail: UsageDetail | None = None) -> Entry:
    """Write one signed entry and move the balance with it, exactly once per idempotency key.

    Args:
        amount: signed (credits positive); its currency picks the wallet.
        idempotency_key: names the effect (``stripe:checkout_session:{id}``, ``sms:{MessageSid}``).
        may_overdraw: only for refunds Stripe already paid out; everything else is guarded.
        detail: what a usage entry paid for (`billing.usage_details`), written with it.

    Returns:
        The new entry, or the existing one when the same key already did the same thing.

    Raises:
        InvalidEntry: the amount's sign doesn't fit the kind.
        IdempotencyConflict: the key was used for a different effect; nothing written.
        InsufficientFunds: a debit would overdraw the wallet; nothing written.
    """
    if not sign_ok(kind, amount.amount):
        raise InvalidEntry(f"a {kind.value} entry can't be {amount.amount}")
    digest = entry_fingerprint(business_id, amount, kind, reference, None)
    try:
        async with transaction(db) as conn:
            wallet = await lock_wallet(conn, business_id, amount.currency)
            existing = await entry_by_key(conn, idempotency_key)
            if existing is not None:
                return _replayed(existing, digest, idempotency_key)
            wallet = await apply_change(conn, wallet, amount.amount, 0, may_overdraw=may_overdraw)
            return await insert_entry(conn, wallet, amount=amount.amount, kind=kind, reference=reference,
                                      actor=actor, idempotency_key=idempotency_key, fingerprint=digest,
                                      detail=detail)
    except asyncpg.UniqueViolationError:
        # The key was taken meanwhile by an entry of another wallet (ours is locked, so it
        # can't be this wallet): by construction a different effect.
        raise IdempotencyConflict(idempotency_key) from None


def _replayed(existing: tuple[Entry, str], digest: str, key: str) -> Entry:
    entry, stored = existing
    if stored != digest:
        raise IdempotencyConflict(key)
    return entry


async def credit(db: Executor, *, business_id: uuid.UUID, amount: Money, kind: EntryKind,
                 idempotency_key: str, reference: str, actor: str) -> Entry:
    """Add a positive `amount` (a top-up or an operator adjustment); see `post_entry`."""
    _positive(amount)
    return await post_entry(db, business_id=business_id, amount=amount, kind=kind,
                            idempotency_key=idempotency_key, reference=reference, actor=actor)


async def debit(db: Executor, *, business_id: uuid.UUID, amount: Money, kind: EntryKind,
                idempotency_key: str, reference: str, actor: str, may_overdraw: bool = False,
                detail: UsageDetail | None = None) -> Entry:
    """Take a positive `amount` out of the wallet, refused if it would overdraw; see `post_entry`."""
    _positive(amount)
    return await post_entry(db, business_id=business_id, amount=-amount, kind=kind,
                            idempotency_key=idempotency_key, reference=reference, actor=actor,
                            may_overdraw=may_overdraw, detail=detail)


def _positive(amount: Money) -> None:
    if amount.amount <= 0:
        raise InvalidEntry("amount must be positive")


def check_currency(expected: Currency, amount: Money) -> None:
    """Refuse an amount in another currency than the wallet's or hold's; never convert."""
    if amount.currency is not expected:
        raise CurrencyMismatch(expected=expected.value, got=amount.currency.value)


async def set_credit_limit(db: Executor, business_id: uuid.UUID, currency: Currency, limit: int) -> tuple[int, Wallet]:
    """Let the wallet's `available` go down to ``-limit`` (0, the default, means prepaid only).

    Not a balance change, so no entry: the caller logs who changed it. Under the wallet's row
    lock, like every writer, so no debit in flight sees half of it. Lowering the limit below
    credit already used is allowed: the guarded update then refuses every further debit and
    hold until top-ups bring `available` back above ``-limit``.

    Returns:
        The previous limit, and the wallet as it is now.
    """
    if limit < 0:
        raise InvalidEntry("a credit limit cannot be negative")
    async with transaction(db) as conn:
        wallet = await lock_wallet(conn, business_id, currency)
        row = await conn.fetchrow(f"UPDATE wallets SET credit_limit = $2, updated_at = now() WHERE id = $1"
                                  f" RETURNING {_WALLET_COLUMNS}", wallet.id, limit)
    assert row is not None
    return wallet.credit_limit, _wallet(row)


async def get_wallet(db: Executor, business_id: uuid.UUID, currency: Currency) -> Wallet | None:
    """One consistent read of a wallet (a single row, so balance and held agree)."""
    row = await db.fetchrow(f"SELECT {_WALLET_COLUMNS} FROM wallets WHERE business_id = $1 AND currency = $2",
                            business_id, currency.value)
    return None if row is None else _wallet(row)


async def wallets_of(db: Executor, business_id: uuid.UUID) -> list[Wallet]:
    """Every wallet of a business, by currency."""
    rows = await db.fetch(f"SELECT {_WALLET_COLUMNS} FROM wallets WHERE business_id = $1 ORDER BY currency",
                          business_id)
    return [_wallet(r) for r in rows]


def encode_cursor(entry_id: int) -> str:
    """An opaque page cursor, so clients don't build positions themselves."""
    return base64.urlsafe_b64encode(f"e1:{entry_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """Read a cursor from `encode_cursor`.

    Raises:
        ValueError: not a cursor this server issued.
    """
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("invalid cursor") from None
    prefix, _, number = text.partition(":")
    if prefix != "e1" or not number.isdigit():
        raise ValueError("invalid cursor")
    return int(number)


async def list_entries(db: Executor, business_id: uuid.UUID, *, limit: int, before_id: int | None = None,
                       kinds: Sequence[EntryKind] = (), created_from: datetime.datetime | None = None,
                       created_to: datetime.datetime | None = None,
                       currency: Currency | None = None) -> list[Entry]:
    """A business's entries newest first (by id), at most `limit`, strictly before `before_id`.

    ``created_from`` is inclusive and ``created_to`` exclusive, so consecutive ranges don't overlap.
    """
    # Per wallet, then merged: each wallet's newest entries come straight off the
    # (wallet_id, id DESC) index, instead of walking the whole table's primary key backwards
    # until enough entries of this business turn up.
    rows = await db.fetch(
        f"SELECT {_ENTRY_COLUMNS} FROM wallets w CROSS JOIN LATERAL ("
        "   SELECT * FROM ledger_entries le WHERE le.wallet_id = w.id AND ($2::bigint IS NULL OR le.id < $2)"
        "   AND (cardinality($3::text[]) = 0 OR le.kind = ANY($3))"
        "   AND ($4::timestamptz IS NULL OR le.created_at >= $4) AND ($5::timestamptz IS NULL OR le.created_at < $5)"
        "   ORDER BY le.id DESC LIMIT $7) e"
        " WHERE w.business_id = $1 AND ($6::text IS NULL OR w.currency = $6)"
        " ORDER BY e.id DESC LIMIT $7",
        business_id, before_id, [k.value for k in kinds], created_from, created_to,
        None if currency is None else currency.value, limit)
    return [_entry(r) for r in rows]

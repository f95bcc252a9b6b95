"""One OS process of the no-overdraft test: random holds, extensions, captures, settles, releases, debits.

Run as ``python -m tests.billing.wallet_worker DSN BUSINESS_ID WORKER SEED OPS``. It connects, prints
``ready``, waits for a line on stdin (so all workers start together), then prints one JSON line per
operation: ``{"op", "key", "ok", "entry"}``, where ``entry`` says whether an accepted op must have
written exactly one ledger entry under ``key``.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import sys
import uuid
from typing import Any

import asyncpg
import orjson

from billing import holds, ledger
from billing.errors import InsufficientFunds
from billing.ledger import EntryKind
from billing.money import Currency, Money

USD = Currency.USD


def later() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)


async def one_op(conn: asyncpg.Connection, rng: random.Random, business: uuid.UUID, prefix: str, n: int,
                 open_holds: dict[int, int]) -> dict[str, Any]:
    key = f"{prefix}:{n}"
    choices = ["hold", "debit"] + (["extend", "capture", "settle", "release"] if open_holds else [])
    op = rng.choice(choices)
    hold_id = rng.choice(list(open_holds)) if open_holds else 0
    entry = False
    try:
        if op == "hold":
            hold = await holds.place_hold(conn, business_id=business, amount=Money(rng.randint(20, 200), USD),
                                          expires_at=later(), idempotency_key=key, reference=f"call:{key}")
            open_holds[hold.id] = hold.amount
        elif op == "debit":
            await ledger.debit(conn, business_id=business, amount=Money(rng.randint(10, 150), USD),
                               kind=EntryKind.SMS_USAGE, idempotency_key=key, reference=key, actor=prefix)
            entry = True
        elif op == "extend":
            hold = await holds.extend_hold(conn, hold_id, amount=Money(rng.randint(10, 100), USD),
                                           expires_at=later(), idempotency_key=key)
            open_holds[hold_id] = hold.amount
        elif op in ("capture", "settle"):
            charge = rng.randint(0, open_holds[hold_id] + 50)
            action = holds.capture if op == "capture" else holds.settle
            done = await action(conn, hold_id, amount=Money(charge, USD), kind=EntryKind.CALL_USAGE,
                                idempotency_key=key, actor=prefix)
            entry = done.entry is not None
            if op == "settle":
                del open_holds[hold_id]
            else:
                open_holds[hold_id] = done.hold.amount
        else:
            await holds.release_hold(conn, hold_id, idempotency_key=key)
            del open_holds[hold_id]
    except InsufficientFunds:
        return {"op": op, "key": key, "ok": False, "entry": False}
    return {"op": op, "key": key, "ok": True, "entry": entry}


async def main(dsn: str, business: uuid.UUID, worker: str, seed: int, ops: int) -> None:
    rng = random.Random(seed)
    conn = await asyncpg.connect(dsn)
    try:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        open_holds: dict[int, int] = {}
        for n in range(ops):
            result = await one_op(conn, rng, business, f"w{worker}", n, open_holds)
            sys.stdout.write(orjson.dumps(result).decode() + "\n")
        sys.stdout.flush()
    finally:
        await conn.close()


if __name__ == "__main__":
    dsn_arg, business_arg, worker_arg, seed_arg, ops_arg = sys.argv[1:6]
    asyncio.run(main(dsn_arg, uuid.UUID(business_arg), worker_arg, int(seed_arg), int(ops_arg)))

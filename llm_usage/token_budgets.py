"""Per-agent token budgets in PostgreSQL: reserve before a model request, settle after, sweep the abandoned.

Like a wallet hold: `reserve` sets the request's need aside in the agent's day and month rows
(locked in that order, so concurrent requests from any number of processes never admit more
than the limit), `settle` counts what the provider reported and frees the reservation,
`release` frees it unused. Each is one round trip: a SQL function (`token_reserve`,
`token_close`, migration 0112) that locks, checks and writes, so a budget row is locked only
while the database runs it, never while a client is away. A reservation nobody settles (its
process died) expires after `RESERVATION_SECONDS` (a call's block: with the call's longest
duration); `sweep` closes it. Every writer locks the reservation row first, then the day row,
then the month row, so they can't deadlock.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from llm_usage.token_caps import (
    MIN_OUTPUT_TOKENS,
    Period,
    TokenLimitReached,
    period_start,
    prompt_estimate,
    remaining,
    resets_at,
)
from storage.executor import Executor
from storage.transactions import transaction

# A reply streams well within this; longer means its process is gone.
RESERVATION_SECONDS = 300
# Closed reservations are deleted by the sweeper after this long (their tokens live on in token_budgets).
KEEP_CLOSED_SECONDS = 86_400


@dataclass(frozen=True, slots=True)
class Limits:
    """The caps a reservation is checked against (None: no limit in that period)."""

    daily: int | None
    monthly: int | None


@dataclass(frozen=True, slots=True)
class Grant:
    """A reservation taken: send `max_tokens`, then settle or release `id`."""

    id: int
    need: int
    max_tokens: int


@dataclass(frozen=True, slots=True)
class Used:
    """Tokens counted (settled) in the current day and month."""

    day: int
    month: int


def _now(now: datetime.datetime | None) -> datetime.datetime:
    return now if now is not None else datetime.datetime.now(datetime.UTC)


# token_reserve's arguments after the limits and max_tokens, as `reserve_args` orders them.
RESERVE_CALL = "token_reserve($1, $2, $3, {limits}, $4, {max_tokens}, $5, $6, $7)"


def reserve_args(agent_id: uuid.UUID, at: datetime.datetime, *, prompt_chars: int, min_output: int,
                 expires_in: float, call_id: uuid.UUID | None) -> tuple[Any, ...]:
    """The arguments `$1`..`$7` of `RESERVE_CALL` for a request made at `at`."""
    return (agent_id, period_start("day", at), period_start("month", at), prompt_estimate(prompt_chars),
            min_output, at + datetime.timedelta(seconds=expires_in), call_id)


def grant_of(row: asyncpg.Record | None, at: datetime.datetime) -> Grant:
    """The grant in a `token_reserve` row.

    Raises:
        TokenLimitReached: the row names the period that refused; nothing was reserved.
    """
    assert row is not None
    refused: Period | None = row["r_refused"]
    if refused is not None:
        raise TokenLimitReached(refused, resets_at(refused, at))
    return Grant(row["r_id"], row["r_need"], row["r_max_tokens"])


async def reserve(db: Executor, agent_id: uuid.UUID, limits: Limits, *, prompt_chars: int, max_tokens: int,
                  now: datetime.datetime | None = None, min_output: int = MIN_OUTPUT_TOKENS,
                  expires_in: float = RESERVATION_SECONDS, call_id: uuid.UUID | None = None) -> Grant:
    """Reserve what a request of `prompt_chars` characters and `max_tokens` output needs, cutting the output to fit
    (down to `min_output`); the reservation expires `expires_in` seconds from now (a call's block lives longer
    and names its `call_id`, so the sweeper can settle it from the call's rows).

    Raises:
        TokenLimitReached: not even the prompt and `min_output` fit; nothing reserved.
    """
    at = _now(now)
    args = reserve_args(agent_id, at, prompt_chars=prompt_chars, min_output=min_output, expires_in=expires_in,
                        call_id=call_id)
    row = await db.fetchrow("SELECT * FROM " + RESERVE_CALL.format(limits="$8, $9", max_tokens="$10"),
                            *args, limits.daily, limits.monthly, max_tokens)
    return grant_of(row, at)


async def _close(db: Executor, reservation_id: int, used: int | None, now: datetime.datetime | None) -> bool:
    return bool(await db.fetchval("SELECT token_close($1, $2, $3)", reservation_id, _now(now), used))


async def settle(db: Executor, reservation_id: int, used: int, *, now: datetime.datetime | None = None) -> bool:
    """Count the `used` tokens the provider reported in the periods the reservation came from and free it.

    Returns False when it was already settled, released or swept (nothing changes).
    """
    return await _close(db, reservation_id, max(0, used), now)


async def release(db: Executor, reservation_id: int, *, now: datetime.datetime | None = None) -> bool:
    """Free a reservation without counting anything (the model was not asked, or failed); False if closed."""
    return await _close(db, reservation_id, None, now)


# What a call's abandoned block counts: the tokens of every row the call's attempts wrote, less
# what its closed blocks already counted (each row was counted by the block its process held).
_CALL_LEFT = """
SELECT greatest(0, (SELECT coalesce(sum(q.input_tokens + q.output_tokens), 0) FROM llm_requests q
                     WHERE q.conversation_id = $1 AND q.channel = 'voice')
                 - (SELECT coalesce(sum(r.used), 0) FROM token_reservations r
                     WHERE r.call_id = $1 AND r.settled_at IS NOT NULL))"""


async def _sweep_call_block(db: Executor, reservation_id: int, call_id: uuid.UUID, at: datetime.datetime) -> bool:
    """Settle an abandoned block of a call with the call's reported tokens no other block counted.

    A live call counts each of its `llm_requests` rows once, in the block it holds when the
    recorder writes the row, and settles that block with the sum. A process that dies leaves
    its open block(s) unsettled, and maybe rows it wrote but had not counted yet; so the
    sweeper settles an abandoned block with (every row's tokens) - (what the call's closed
    blocks counted), under a lock on all the call's blocks. The first abandoned block takes the
    whole remainder, a second one (the process died between reserving a fresh block and
    settling the old one) finds nothing left: across a call's blocks every row counts exactly
    once. Closed blocks are kept while a sibling is open (see `sweep`), so the subtraction holds.
    """
    async with transaction(db) as conn:
        await conn.execute("SELECT 1 FROM token_reservations WHERE call_id = $1 ORDER BY id FOR UPDATE", call_id)
        left: int = await conn.fetchval(_CALL_LEFT, call_id)
        return await _close(conn, reservation_id, left, at)


async def sweep(db: Executor, *, now: datetime.datetime | None = None, limit: int = 500) -> int:
    """Close reservations past their expiry (their process died mid-request); returns how many.

    A chat reply's reservation is released: the provider's report died with the process (its
    reply was never charged either). A call's block is settled from the call's `llm_requests`
    rows, which the call wrote as it went (`_sweep_call_block`). Safe to run in several
    processes at once: each reservation is closed once. Reservations closed more than
    `KEEP_CLOSED_SECONDS` ago are deleted, unless a block of the same call is still open.
    """
    at = _now(now)
    expired = await db.fetch("SELECT id, call_id FROM token_reservations WHERE settled_at IS NULL AND expires_at <= $1"
                             " ORDER BY expires_at LIMIT $2", at, limit)
    closed = 0
    for r in expired:
        if r["call_id"] is None:
            closed += await release(db, r["id"], now=at)
        else:
            closed += await _sweep_call_block(db, r["id"], r["call_id"], at)
    # A closed reservation is only history once its tokens are in the budget rows: keep a day of it.
    await db.execute(
        "DELETE FROM token_reservations WHERE id IN (SELECT c.id FROM token_reservations c WHERE c.settled_at < $1"
        " AND NOT EXISTS (SELECT 1 FROM token_reservations o WHERE o.call_id = c.call_id AND o.settled_at IS NULL)"
        " LIMIT $2)", at - datetime.timedelta(seconds=KEEP_CLOSED_SECONDS), limit)
    return closed


async def used(db: Executor, agent_id: uuid.UUID, *, now: datetime.datetime | None = None) -> Used:
    """The agent's counted tokens in the current UTC day and month."""
    at = _now(now)
    rows = await db.fetch("SELECT period, used FROM token_budgets WHERE agent_id = $1"
                          " AND ((period = 'day' AND start = $2) OR (period = 'month' AND start = $3))",
                          agent_id, period_start("day", at), period_start("month", at))
    counted = {r["period"]: r["used"] for r in rows}
    return Used(counted.get("day", 0), counted.get("month", 0))


async def spent(db: Executor, agent_id: uuid.UUID, limits: Limits, *, minimum: int,
                now: datetime.datetime | None = None) -> TokenLimitReached | None:
    """The refusal when fewer than `minimum` tokens are left in the day or month (None: there is room).

    A read without locks, for turning a call away at the door: what a call then uses is reserved
    by its own requests.
    """
    at = _now(now)
    day, month = period_start("day", at), period_start("month", at)
    rows = await db.fetch("SELECT period, used, reserved FROM token_budgets WHERE agent_id = $1"
                          " AND ((period = 'day' AND start = $2) OR (period = 'month' AND start = $3))",
                          agent_id, day, month)
    counted = {r["period"]: (r["used"], r["reserved"]) for r in rows}
    lefts = {period: remaining(limit, *counted.get(period, (0, 0)))
             for period, limit in (("day", limits.daily), ("month", limits.monthly))}
    for period in ("month", "day"):
        left = lefts[period]
        if left is not None and left < minimum:
            return TokenLimitReached(period, resets_at(period, at))
    return None

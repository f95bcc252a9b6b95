"""Per-agent token budgets in PostgreSQL: reserve before a model request, settle after, sweep the abandoned.

Like a wallet hold: `reserve` sets the request's need aside in the agent's day and month rows
(locked in that order, in one transaction, so concurrent requests from any number of processes
never admit more than the limit), `settle` counts what the provider reported and frees the
reservation, `release` frees it unused. A reservation nobody settles (its process died) expires
after `RESERVATION_SECONDS`; `sweep` releases it. Every writer locks the reservation row first,
then the day row, then the month row, so they can't deadlock.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from llm_usage.token_caps import (
    MIN_OUTPUT_TOKENS,
    Fit,
    Period,
    TokenLimitReached,
    fit,
    period_start,
    prompt_estimate,
    remaining,
    resets_at,
)
from storage.executor import Connection, Executor
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


async def _lock_budget(conn: Connection, agent_id: uuid.UUID, period: Period, start: datetime.date,
                       limit: int | None) -> int | None:
    row = await conn.fetchrow(
        "INSERT INTO token_budgets (agent_id, period, start, token_limit) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (agent_id, period, start) DO UPDATE SET token_limit = EXCLUDED.token_limit"
        " RETURNING used, reserved", agent_id, period, start, limit)
    assert row is not None
    return remaining(limit, row["used"], row["reserved"])


async def reserve(db: Executor, agent_id: uuid.UUID, limits: Limits, *, prompt_chars: int, max_tokens: int,
                  now: datetime.datetime | None = None, min_output: int = MIN_OUTPUT_TOKENS,
                  expires_in: float = RESERVATION_SECONDS) -> Grant:
    """Reserve what a request of `prompt_chars` characters and `max_tokens` output needs, cutting the output to fit
    (down to `min_output`); the reservation expires `expires_in` seconds from now (a call's block lives longer).

    Raises:
        TokenLimitReached: not even the prompt and `MIN_OUTPUT_TOKENS` fit; nothing reserved.
    """
    at = _now(now)
    day, month = period_start("day", at), period_start("month", at)
    async with transaction(db) as conn:
        day_left = await _lock_budget(conn, agent_id, "day", day, limits.daily)
        month_left = await _lock_budget(conn, agent_id, "month", month, limits.monthly)
        decided = fit(prompt_estimate(prompt_chars), max_tokens, day_left, month_left, min_output=min_output)
        if not isinstance(decided, Fit):
            raise TokenLimitReached(decided, resets_at(decided, at))
        reservation: int = await conn.fetchval(
            "WITH taken AS (UPDATE token_budgets SET reserved = reserved + $2 WHERE agent_id = $1"
            "  AND ((period = 'day' AND start = $3) OR (period = 'month' AND start = $4)))"
            " INSERT INTO token_reservations (agent_id, amount, day_start, month_start, expires_at)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            agent_id, decided.need, day, month, at + datetime.timedelta(seconds=expires_in))
    return Grant(reservation, decided.need, decided.max_tokens)


# One statement: the reservation row first, then its day and month rows locked in that order (the
# sorted FOR UPDATE), the order `reserve` takes them in, so settling can't deadlock with reserving.
_CLOSE = """
WITH r AS (UPDATE token_reservations SET settled_at = $2, used = $3 WHERE id = $1 AND settled_at IS NULL
           RETURNING agent_id, amount, day_start, month_start),
locked AS (SELECT b.period, b.start FROM token_budgets b JOIN r ON b.agent_id = r.agent_id
           AND ((b.period = 'day' AND b.start = r.day_start) OR (b.period = 'month' AND b.start = r.month_start))
           ORDER BY b.period FOR UPDATE OF b)
UPDATE token_budgets b SET used = b.used + coalesce($3, 0), reserved = b.reserved - r.amount
FROM r, locked l WHERE b.agent_id = r.agent_id AND b.period = l.period AND b.start = l.start
RETURNING b.period"""


async def _close(db: Executor, reservation_id: int, used: int | None, now: datetime.datetime | None) -> bool:
    return bool(await db.fetch(_CLOSE, reservation_id, _now(now), used))


async def settle(db: Executor, reservation_id: int, used: int, *, now: datetime.datetime | None = None) -> bool:
    """Count the `used` tokens the provider reported in the periods the reservation came from and free it.

    Returns False when it was already settled, released or swept (nothing changes).
    """
    return await _close(db, reservation_id, max(0, used), now)


async def release(db: Executor, reservation_id: int, *, now: datetime.datetime | None = None) -> bool:
    """Free a reservation without counting anything (the model was not asked, or failed); False if closed."""
    return await _close(db, reservation_id, None, now)


async def sweep(db: Executor, *, now: datetime.datetime | None = None, limit: int = 500) -> int:
    """Release reservations past their expiry (their process died mid-request); returns how many.

    Their tokens are not counted: the provider's report died with the process. Safe to run in
    several processes at once: each reservation is closed once. Reservations closed more than
    `KEEP_CLOSED_SECONDS` ago are deleted.
    """
    at = _now(now)
    expired = await db.fetch("SELECT id FROM token_reservations WHERE settled_at IS NULL AND expires_at <= $1"
                             " ORDER BY expires_at LIMIT $2", at, limit)
    released = sum([await release(db, r["id"], now=at) for r in expired])
    # A closed reservation is only history once its tokens are in the budget rows: keep a day of it.
    await db.execute("DELETE FROM token_reservations WHERE id IN (SELECT id FROM token_reservations"
                     " WHERE settled_at < $1 LIMIT $2)", at - datetime.timedelta(seconds=KEEP_CLOSED_SECONDS), limit)
    return released


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

"""A call's token blocks whose process died: the sweeper settles them from the call's `llm_requests` rows,
counting every row exactly once across the call's blocks; and the database's reserve decides as `fit` does."""

from __future__ import annotations

import asyncio
import datetime
import itertools
import os
import signal
import sys
import uuid

import asyncpg

from agent_server import agents
from llm_usage import requests as llm_requests
from llm_usage import token_budgets
from llm_usage.requests import Attempt, RequestContext, RequestLog
from llm_usage.token_budgets import Limits
from llm_usage.token_calls import CallTokens
from llm_usage.token_caps import Fit, TokenLimitReached, fit, prompt_estimate
from tests.conftest import MakeBusiness
from tests.llm_usage import call_token_worker
from tests.llm_usage.test_token_budgets import ROOT, budget

BLOCK_LIFE = 60.0


class Call:
    """A call's identity and the rows its recorder writes (as `agent_server.call_llm_rows` does)."""

    def __init__(self, pool: asyncpg.Pool, business_id: uuid.UUID, agent_id: uuid.UUID) -> None:
        self.pool = pool
        self.id = uuid.uuid4()
        self.agent_id = agent_id
        self.context = RequestContext(business_id, agent_id, None, "voice", conversation_id=self.id,
                                      call_sid="CA" + self.id.hex)

    async def row(self, input_tokens: int, output_tokens: int) -> int:
        attempt = Attempt("gpt-4o-mini", "gpt-4o-mini", 1, "ok", 200, input_tokens, 0, output_tokens)
        await llm_requests.insert(self.pool, RequestLog(self.context, (attempt,)), ledger_key=None, prices={})
        return input_tokens + output_tokens


async def new_call(pool: asyncpg.Pool, make_business: MakeBusiness) -> Call:
    tenant = await make_business()
    return Call(pool, tenant.business_id, await agents.create_agent(pool, tenant.business_id, "Phone"))


async def open_blocks(pool: asyncpg.Pool, call: Call) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM token_reservations WHERE call_id = $1"
                                   " AND settled_at IS NULL", call.id))


async def test_a_dead_calls_block_is_settled_after_expiry_with_exactly_the_tokens_its_rows_report_not_yet_counted(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    """Block 1 counts two answers and is refilled (block 2 reserved, block 1 settled with 3,100); block 2 counts
    one answer; the process dies after writing a fourth answer's row but before counting it."""
    call = await new_call(pool, make_business)
    other = Call(pool, call.context.business_id, call.agent_id)  # another call of the same agent: not this one's
    tokens = CallTokens(pool, call.agent_id, call_id=call.id, expires_in=BLOCK_LIFE)
    await tokens.start()
    await tokens.count(await call.row(1_000, 500))
    await tokens.count(await call.row(1_200, 400))  # 900 of the block left: refilled
    await tokens.count(await call.row(300, 200))
    await call.row(700, 100)  # written, then SIGKILL: never counted
    await other.row(5_000, 5_000)
    assert await budget(pool, call.agent_id, "day") == (3_100, 4_000)
    now = datetime.datetime.now(datetime.UTC)
    assert await token_budgets.sweep(pool, now=now) == 0  # not expired: the call may still be talking
    later = now + datetime.timedelta(seconds=BLOCK_LIFE + 1)
    assert await token_budgets.sweep(pool, now=later) == 1
    assert await budget(pool, call.agent_id, "day") == (1_500 + 1_600 + 500 + 800, 0)
    assert await budget(pool, call.agent_id, "month") == (4_400, 0)
    assert await token_budgets.sweep(pool, now=later) == 0
    assert await budget(pool, call.agent_id, "day") == (4_400, 0)
    await tokens.close()  # a late close (the process was not dead after all) changes nothing
    assert await budget(pool, call.agent_id, "day") == (4_400, 0)


async def test_a_sigkilled_calls_block_is_settled_by_the_sweeper_from_the_rows_it_wrote(
        database_url: str, pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    call = await new_call(pool, make_business)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.llm_usage.call_token_worker", database_url, str(call.agent_id), str(call.id),
        str(BLOCK_LIFE), cwd=ROOT, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"held"
    os.kill(proc.pid, signal.SIGKILL)
    await proc.wait()
    counted_before_refill = sum(i + o for i, o in call_token_worker.ANSWERS[:2])
    assert await budget(pool, call.agent_id, "day") == (counted_before_refill, 4_000)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=BLOCK_LIFE + 1)
    assert await token_budgets.sweep(pool, now=later) == 1
    reported = sum(i + o for i, o in (*call_token_worker.ANSWERS, call_token_worker.UNCOUNTED))
    assert await budget(pool, call.agent_id, "day") == (reported, 0)
    assert await budget(pool, call.agent_id, "month") == (reported, 0)


async def test_two_open_blocks_of_a_call_that_died_between_refill_and_settle_count_its_rows_once(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    call = await new_call(pool, make_business)
    limits = Limits(None, None)
    for _ in range(2):
        await token_budgets.reserve(pool, call.agent_id, limits, prompt_chars=0, max_tokens=4_000, min_output=1_000,
                                    expires_in=BLOCK_LIFE, call_id=call.id)
    reported = await call.row(2_000, 1_000) + await call.row(400, 100)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=BLOCK_LIFE + 1)
    assert await token_budgets.sweep(pool, now=later) == 2
    assert await budget(pool, call.agent_id, "day") == (reported, 0)
    assert await open_blocks(pool, call) == 0


async def test_a_live_calls_blocks_count_what_it_counted_and_the_sweeper_adds_nothing(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    call = await new_call(pool, make_business)
    tokens = CallTokens(pool, call.agent_id, call_id=call.id, expires_in=BLOCK_LIFE)
    await tokens.start()
    counted = 0
    for input_tokens in (1_500, 1_800, 900):
        reported = await call.row(input_tokens, 200)
        await tokens.count(reported)
        counted += reported
    await tokens.close()
    assert await budget(pool, call.agent_id, "day") == (counted, 0)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=BLOCK_LIFE + 1)
    assert await token_budgets.sweep(pool, now=later) == 0
    assert await budget(pool, call.agent_id, "day") == (counted, 0)


async def test_the_database_reserves_cuts_and_refuses_as_token_caps_fit_decides(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    """`token_reserve` (SQL) against `fit` (Python) over what the day and the month have left."""
    agent_id = (await new_call(pool, make_business)).agent_id
    noon = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)
    max_tokens = 100
    async with pool.acquire() as conn:
        for prompt_chars, day_left, month_left in itertools.product(
                (0, 90), (None, 0, 93, 94, 129, 130, 10_000), (None, 0, 93, 94, 129, 130, 10_000)):
            prompt = prompt_estimate(prompt_chars)
            expected = fit(prompt, max_tokens, day_left, month_left)
            attempt = conn.transaction()
            await attempt.start()
            for period, start, left in (("day", noon.date(), day_left), ("month", noon.date().replace(day=1),
                                                                           month_left)):
                await conn.execute("INSERT INTO token_budgets (agent_id, period, start, token_limit, used)"
                                   " VALUES ($1, $2, $3, $4, $5)", agent_id, period, start,
                                   None if left is None else 20_000, 0 if left is None else 20_000 - left)
            limits = Limits(None if day_left is None else 20_000, None if month_left is None else 20_000)
            try:
                grant = await token_budgets.reserve(conn, agent_id, limits, prompt_chars=prompt_chars,
                                                    max_tokens=max_tokens, now=noon)
                decided: Fit | str = Fit(grant.need, grant.max_tokens)
            except TokenLimitReached as refused:
                decided = refused.period
            finally:
                await attempt.rollback()
            assert decided == expected, (prompt_chars, day_left, month_left)

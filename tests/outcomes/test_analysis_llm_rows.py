"""The analysis's requests to the model are `llm_requests` rows of channel analysis, pointing at the charge."""

from __future__ import annotations

import asyncpg
import pytest

from media.llm.base import LlmError
from outcomes.analysis import Analyser
from tests.fake_openai import FakeOpenAi, ScriptedReply
from tests.jobs.clock import ManualClock
from tests.outcomes.conftest import Shop, analysis_json
from tests.outcomes.test_analysis import _ended


async def test_an_analysis_and_its_repair_are_two_analysis_rows_of_one_charge(
        pool: asyncpg.Pool, shop: Shop, clock: ManualClock, analyser: Analyser, fake_openai: FakeOpenAi) -> None:
    fake_openai.state.script(ScriptedReply(json=analysis_json(summary="One. Two. Three. Four.")),
                             ScriptedReply(json=analysis_json()))
    outcome = await _ended(pool, shop, clock)
    assert (await analyser.analyse_one(outcome.id)) is not None
    rows = await pool.fetch("SELECT * FROM llm_requests ORDER BY id")
    assert [(r["channel"], r["attempt"], r["status"], r["conversation_id"], r["agent_id"]) for r in rows] == [
        ("analysis", 1, "ok", outcome.id, shop.agent_id)] * 2
    assert all(r["input_tokens"] > 0 and not r["estimated"] for r in rows)
    keys = {r["ledger_key"] for r in rows}
    assert len(keys) == 1 and await pool.fetchval(
        "SELECT count(*) FROM ledger_entries WHERE idempotency_key = $1 AND kind = 'chat_usage'", keys.pop()) == 1


async def test_an_unreachable_model_is_an_error_row_and_no_charge(
        pool: asyncpg.Pool, shop: Shop, clock: ManualClock, analyser: Analyser, fake_openai: FakeOpenAi) -> None:
    fake_openai.state.script(ScriptedReply(status=400))
    outcome = await _ended(pool, shop, clock)
    with pytest.raises(LlmError):
        await analyser.analyse_one(outcome.id)
    rows = await pool.fetch("SELECT status, http_status, ledger_key FROM llm_requests")
    assert [(r["status"], r["http_status"], r["ledger_key"]) for r in rows] == [("error", 400, None)]

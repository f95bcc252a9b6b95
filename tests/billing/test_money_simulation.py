"""Property 17: seeded simulations of calls, top-ups, refunds, SMS, duplicate and reordered
webhooks, cancelled operations and killed connections agree with an in-memory auditor."""

from __future__ import annotations

import asyncpg
import pytest

from tests.billing.money_simulation import Simulation

SEEDS = (1, 2)
OPERATIONS = 150


@pytest.mark.parametrize("seed", SEEDS)
async def test_seeded_simulation_matches_the_auditor(database_url: str, seed: int) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=6)
    try:
        report = await Simulation(pool, seed).run(OPERATIONS)
    finally:
        await pool.close()
    assert report.operations == OPERATIONS
    assert report.faults > 0 and report.duplicates > 0

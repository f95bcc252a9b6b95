"""Longer runs of the seeded wallet simulation (money property 17) on an embedded PostgreSQL.

    .venv/bin/python bench/money_sim.py --seeds 20 --operations 500

Prints, per seed, operations, faults injected and duplicate deliveries; exits non-zero and
names the seed at the first divergence from the auditor.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent_server.embedded_db import start_embedded, stop_embedded  # noqa: E402
from agent_server.logs import configure_logging  # noqa: E402
from agent_server.migrations import migrate  # noqa: E402
from tests.billing.money_simulation import Divergence, Simulation  # noqa: E402


async def run(dsn: str, seeds: range, operations: int) -> int:
    await migrate(dsn)
    totals = {"operations": 0, "faults": 0, "duplicates": 0}
    started = time.perf_counter()
    for seed in seeds:
        pool = await asyncpg.create_pool(dsn, min_size=2, max_size=6)
        try:
            report = await Simulation(pool, seed).run(operations)
        except Divergence as exc:
            print(f"DIVERGENCE: {exc}")
            return 1
        finally:
            await pool.close()
        print(f"seed {seed}: {report.operations} operations, {report.faults} faults, "
              f"{report.duplicates} duplicate deliveries, {report.retries} retries")
        for key in totals:
            totals[key] += getattr(report, key)
    elapsed = time.perf_counter() - started
    print(f"{len(seeds)} seeds, {totals['operations']} operations, {totals['faults']} faults, "
          f"{totals['duplicates']} duplicates, 0 divergences in {elapsed:.1f} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--operations", type=int, default=500)
    args = parser.parse_args()
    configure_logging("warning")
    root = Path(tempfile.mkdtemp(prefix="agent-server-sim-"))
    try:
        dsn = start_embedded(root / "data")
        return asyncio.run(run(dsn, range(args.first_seed, args.first_seed + args.seeds), args.operations))
    finally:
        stop_embedded(root / "data")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

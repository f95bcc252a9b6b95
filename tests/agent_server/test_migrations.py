"""Migrations: recorded, idempotent, and safe when several processes start at once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import asyncpg

from agent_server.migrations import migrate, migration_files
from tests.conftest import PgServer


async def fresh_database(pg_server: PgServer) -> str:
    name = f"mig_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(pg_server.dsn("postgres"))
    await conn.execute(f"CREATE DATABASE {name}")
    await conn.close()
    return pg_server.dsn(name)


async def test_migrations_applied_twice_apply_once(pg_server: PgServer) -> None:
    dsn = await fresh_database(pg_server)
    first = await migrate(dsn)
    assert first == [p.name for p in migration_files()]
    assert await migrate(dsn) == []
    conn = await asyncpg.connect(dsn)
    assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(first)
    await conn.close()


async def test_concurrent_migrations_apply_each_file_once(pg_server: PgServer) -> None:
    dsn = await fresh_database(pg_server)
    results = await asyncio.gather(*(migrate(dsn) for _ in range(4)))
    applied = [name for result in results for name in result]
    assert sorted(applied) == [p.name for p in migration_files()]


def test_migrate_from_several_processes_at_once(pg_server: PgServer) -> None:
    dsn = asyncio.run(fresh_database(pg_server))
    code = "import asyncio, sys; from agent_server.migrations import migrate; print(len(asyncio.run(migrate(sys.argv[1]))))"
    procs = [subprocess.Popen([sys.executable, "-c", code, dsn], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    counts = [int(p.communicate(timeout=60)[0].strip().splitlines()[-1]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(counts) == [0, 0, len(migration_files())]

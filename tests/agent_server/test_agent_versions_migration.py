"""Migration 0012 on a database that already has agents (and 0073's answer-cache versions): the upgrade path."""

from __future__ import annotations

import shutil
from pathlib import Path

import asyncpg
import pytest

from agent_server.migrations import migrate, migration_files
from tests.agent_server.test_migrations import fresh_database
from tests.conftest import PgServer


async def test_existing_agents_start_their_history_and_channel_edits_move_the_cache_key(
        pg_server: PgServer, tmp_path: Path) -> None:
    dsn = await fresh_database(pg_server)
    for path in migration_files():
        if path.name != "0012_agent_versions.sql":
            shutil.copy(path, tmp_path / path.name)
    await migrate(dsn, tmp_path)  # a deployment from before 0012
    conn = await asyncpg.connect(dsn)
    try:
        business = await conn.fetchval("INSERT INTO businesses (name) VALUES ('Old') RETURNING id")
        agent = await conn.fetchval(
            "INSERT INTO agents (business_id, name, system_prompt, temperature, allowed_origins)"
            " VALUES ($1, 'Desk', 'Be kind.', 0.5, '{https://a.example}') RETURNING id", business)
        assert await migrate(dsn) == ["0012_agent_versions.sql"]
        assert await conn.fetchval("SELECT version FROM agents WHERE id = $1", agent) == 1
        config = await conn.fetchval("SELECT config::text FROM agent_versions WHERE agent_id = $1 AND version = 1",
                                     agent)
        assert '"systemPrompt": "Be kind."' in config and '"allowedOrigins": ["https://a.example"]' in config
        before = await conn.fetchval("SELECT config_version FROM agents WHERE id = $1", agent)
        await conn.execute("""UPDATE agents SET channels = '{"sms": {"model": "m"}}' WHERE id = $1""", agent)
        assert await conn.fetchval("SELECT config_version FROM agents WHERE id = $1", agent) == before + 1
        await conn.execute("UPDATE agents SET channels = channels, system_prompt = 'New.' WHERE id = $1", agent)
        assert await conn.fetchval("SELECT config_version FROM agents WHERE id = $1", agent) == before + 2
        with pytest.raises(asyncpg.RaiseError, match="immutable"):
            await conn.execute("UPDATE agent_versions SET config = '{}' WHERE agent_id = $1", agent)
    finally:
        await conn.close()

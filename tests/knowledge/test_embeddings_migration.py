"""Migration 0074 where pgvector can't be had: it succeeds and creates nothing, so the server runs on full text."""

from __future__ import annotations

import uuid

import asyncpg

from agent_server.migrations import MIGRATIONS_DIR
from tests.conftest import PgServer

MIGRATION = MIGRATIONS_DIR / "0074_knowledge_embeddings.sql"


async def test_0074_creates_nothing_and_succeeds_when_the_role_may_not_create_the_extension(
        pg_server: PgServer) -> None:
    suffix = uuid.uuid4().hex[:12]
    database, role = f"novector_{suffix}", f"plain_{suffix}"
    admin = await asyncpg.connect(pg_server.dsn("postgres"))
    try:
        await admin.execute(f"CREATE DATABASE {database}")
        await admin.execute(f"CREATE ROLE {role} LOGIN")
        plain = await asyncpg.connect(pg_server.dsn(database), user=role)
        try:
            assert not await plain.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            notices: list[str] = []
            plain.add_log_listener(lambda _conn, message: notices.append(message.message))
            async with plain.transaction():  # as the migrator runs it
                await plain.execute(MIGRATION.read_text())
            assert await plain.fetchval("SELECT to_regclass('kb_embeddings')") is None
            assert await plain.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'vector'") == 0
            assert notices == ["vector extension not creatable by this role: kb_embeddings not created (FTS only)"]
        finally:
            await plain.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()

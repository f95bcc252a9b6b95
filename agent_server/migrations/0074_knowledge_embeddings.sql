-- Optional embeddings of knowledge chunks (knowledge/vectors.py, knowledge/hybrid.py), fused with
-- full-text search when `[knowledge.embeddings] model` is set.
--
-- The table needs pgvector. The embedded PostgreSQL ships it (0.6.2); an external server may
-- not have it, or may not let this role create it (it is not a trusted extension). Then nothing
-- is created, this migration still succeeds, and the server starts with full-text search alone
-- (it logs "no vector extension: FTS only"). Installing pgvector later means creating the
-- extension and this table by hand (the statements below), as a superuser.
--
-- A chunk has at most one vector: of the configured model, replaced when the model changes. Its
-- rows go with the chunk (cascade), so an older version's vectors go when the version does, and
-- a page moved unchanged into a new version keeps its chunks and their vectors.
--
-- Searched exactly, per agent and model (ORDER BY embedding <=> q LIMIT n over the agent's rows,
-- found by the btree index): no HNSW index, because pgvector 0.6.2 filters an HNSW scan after
-- the fact and returned too few of one agent's rows among many agents'. The column has no fixed
-- dimension: each model's vectors have their own, and rows are only compared within one model.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
        RAISE NOTICE 'no vector extension: kb_embeddings not created (FTS only)';
        RETURN;
    END IF;
    BEGIN
        CREATE EXTENSION IF NOT EXISTS vector;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'vector extension not creatable by this role: kb_embeddings not created (FTS only)';
        RETURN;
    END;
    CREATE TABLE kb_embeddings (
        chunk_id   bigint PRIMARY KEY REFERENCES kb_chunks (id) ON DELETE CASCADE,
        agent_id   uuid NOT NULL,
        model      text NOT NULL,
        embedding  vector NOT NULL
    );
    CREATE INDEX kb_embeddings_agent ON kb_embeddings (agent_id, model);
END $$;

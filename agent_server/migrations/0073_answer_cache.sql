-- The answer cache (conversations/answer_cache.py): a conversation's first question answered
-- again from the model's earlier answer, as long as nothing that shaped it changed.
--
-- What shaped an answer is versioned on the agent's row, and the versions are bumped here, by
-- triggers, not by the code that writes: every writer (today's agent creation, knowledge
-- publish and delete; tomorrow's agent-edit route, a CLI, a hand-run UPDATE) moves them, so a
-- stale answer can never be served. A column that changes what the agent says belongs in the
-- list of agents_config_version().
ALTER TABLE agents
    ADD COLUMN config_version           bigint NOT NULL DEFAULT 1,
    ADD COLUMN knowledge_version        bigint NOT NULL DEFAULT 1,
    ADD COLUMN answer_cache_enabled     boolean NOT NULL DEFAULT true,
    ADD COLUMN answer_cache_ttl_seconds integer NOT NULL DEFAULT 604800 CHECK (answer_cache_ttl_seconds > 0);

CREATE FUNCTION agents_config_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.name, NEW.system_prompt, NEW.model, NEW.temperature, NEW.faq, NEW.language)
       IS DISTINCT FROM (OLD.name, OLD.system_prompt, OLD.model, OLD.temperature, OLD.faq, OLD.language) THEN
        NEW.config_version := OLD.config_version + 1;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER agents_config_version BEFORE UPDATE ON agents
    FOR EACH ROW EXECUTE FUNCTION agents_config_version();

-- A source's chunks change only when its active version flips (knowledge/index.py publish) or
-- it is deleted (its chunks go with it). A new source has no chunks until its first publish.
CREATE FUNCTION kb_sources_knowledge_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE agents SET knowledge_version = knowledge_version + 1 WHERE id = OLD.agent_id;
    RETURN NULL;
END $$;
CREATE TRIGGER kb_sources_published AFTER UPDATE OF active_version ON kb_sources
    FOR EACH ROW WHEN (OLD.active_version IS DISTINCT FROM NEW.active_version)
    EXECUTE FUNCTION kb_sources_knowledge_version();
CREATE TRIGGER kb_sources_deleted AFTER DELETE ON kb_sources
    FOR EACH ROW EXECUTE FUNCTION kb_sources_knowledge_version();

-- One answer per agent, channel (SMS and the widget are prompted differently), both versions
-- and normalised question (its SHA-256: questions may be longer than a btree entry).
CREATE TABLE answer_cache (
    agent_id          uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    channel           text NOT NULL CHECK (channel IN ('sms', 'widget')),
    config_version    bigint NOT NULL,
    knowledge_version bigint NOT NULL,
    question_hash     bytea NOT NULL,
    question          text NOT NULL,
    answer            text NOT NULL,
    sources           jsonb NOT NULL DEFAULT '[]',
    -- The model's tokens for the answer: what each hit saves.
    tokens            integer NOT NULL CHECK (tokens >= 0),
    hits              bigint NOT NULL DEFAULT 0,
    tokens_saved      bigint NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    last_hit_at       timestamptz,
    PRIMARY KEY (agent_id, channel, config_version, knowledge_version, question_hash)
);
CREATE INDEX answer_cache_expiry ON answer_cache (expires_at);

-- Hits and tokens saved of answers the sweep deleted, per agent.
CREATE TABLE answer_cache_totals (
    agent_id     uuid PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    hits         bigint NOT NULL DEFAULT 0,
    tokens_saved bigint NOT NULL DEFAULT 0
);

-- A reply served from the cache says so.
ALTER TABLE sms_messages DROP CONSTRAINT sms_messages_answered_by_check,
    ADD CONSTRAINT sms_messages_answered_by_check CHECK (answered_by IN ('faq', 'llm', 'fallback', 'cache'));
ALTER TABLE widget_messages DROP CONSTRAINT widget_messages_answered_by_check,
    ADD CONSTRAINT widget_messages_answered_by_check CHECK (answered_by IN ('faq', 'llm', 'fallback', 'cache'));

-- Agents edited from the dashboard: per-channel settings, soft delete, and an immutable history
-- of every configuration (agent_server/agent_edits.py).

-- `channels` holds only what a channel overrides (voice, sms, whatsapp, widget); what it leaves
-- out is inherited from the agent's own columns (agent_server/agent_config.py resolves it).
-- `version` is the number of the agent's latest agent_versions row (0: none written yet).
ALTER TABLE agents
    ADD COLUMN channels   jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(channels) = 'object'),
    ADD COLUMN version    integer NOT NULL DEFAULT 0 CHECK (version >= 0),
    ADD COLUMN deleted_at timestamptz;

CREATE TABLE agent_versions (
    agent_id   uuid NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    version    integer NOT NULL CHECK (version > 0),
    -- The whole editable configuration as the API shows it (camelCase keys).
    config     jsonb NOT NULL CHECK (jsonb_typeof(config) = 'object'),
    author_id  uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, version)
);

-- A version is history: its configuration, number and time never change (a deleted author may
-- still be forgotten: ON DELETE SET NULL is the one update let through).
CREATE FUNCTION agent_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.agent_id, NEW.version, NEW.config, NEW.created_at)
       IS DISTINCT FROM (OLD.agent_id, OLD.version, OLD.config, OLD.created_at) THEN
        RAISE EXCEPTION 'agent_versions rows are immutable';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER agent_versions_immutable BEFORE UPDATE ON agent_versions
    FOR EACH ROW EXECUTE FUNCTION agent_versions_immutable();

-- A channel's model, temperature or language shapes its answers, so a change of `channels` moves
-- the answer cache's key (config_version, added by 0073, whose trigger covers the other columns;
-- this one fires first by name and both set OLD + 1, so an edit of both still bumps once).
-- PL/pgSQL resolves NEW.config_version when the trigger runs, after 0073 on a new database too.
CREATE FUNCTION agents_channels_config_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.channels IS DISTINCT FROM OLD.channels THEN
        NEW.config_version := OLD.config_version + 1;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER agents_channels_config_version BEFORE UPDATE OF channels ON agents
    FOR EACH ROW EXECUTE FUNCTION agents_channels_config_version();

-- Agents created before versions existed start their history with what they are now.
INSERT INTO agent_versions (agent_id, version, config, created_at)
SELECT id, 1, jsonb_build_object(
        'name', name, 'systemPrompt', system_prompt, 'greeting', greeting, 'language', language,
        'model', model, 'temperature', temperature, 'voice', voice, 'faq', faq,
        'transferNumber', transfer_number, 'allowedOrigins', to_jsonb(allowed_origins), 'active', active,
        'channels', '{}'::jsonb), now()
  FROM agents;
UPDATE agents SET version = 1;

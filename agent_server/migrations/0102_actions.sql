-- Actions an agent calls as tools (automations/): their definitions, every run, and the local calendar's bookings.
-- An action is soft deleted (deleted_at): its executions keep pointing at it, and its name is free again.
CREATE TABLE actions (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id        uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    agent_id           uuid NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    type               text NOT NULL CHECK (type IN ('webhook_call', 'email_send', 'calendar_booking', 'custom_tool')),
    -- The tool's name the model calls: unique among an agent's live actions.
    name               text NOT NULL CHECK (name ~ '^[a-zA-Z][a-zA-Z0-9_-]{0,63}$'),
    description        text NOT NULL DEFAULT '',
    parameters         jsonb NOT NULL CHECK (jsonb_typeof(parameters) = 'object'),
    -- Per type; a webhook's `headers` stay here and are never returned by the API.
    configuration      jsonb NOT NULL CHECK (jsonb_typeof(configuration) = 'object'),
    timeout_ms         integer NOT NULL DEFAULT 10000 CHECK (timeout_ms BETWEEN 100 AND 30000),
    max_response_bytes integer NOT NULL DEFAULT 65536 CHECK (max_response_bytes BETWEEN 1 AND 1048576),
    voice_filler       text,
    -- `whsec_` + base64 of 32 random bytes: signs the HTTP calls (webhook_call, custom_tool) as webhooks are.
    signing_secret     text NOT NULL,
    is_active          boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    deleted_at         timestamptz
);
CREATE UNIQUE INDEX actions_agent_name ON actions (agent_id, lower(name)) WHERE deleted_at IS NULL;
CREATE INDEX actions_agent ON actions (agent_id, name) WHERE deleted_at IS NULL;

CREATE TABLE action_executions (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id      uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    action_id        uuid NOT NULL REFERENCES actions(id) ON DELETE CASCADE,
    conversation_id  uuid,
    channel          text NOT NULL,
    -- `conversation:tool_call_id` (or the execute route's own): a key seen twice acts once.
    idempotency_key  text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 300),
    input            jsonb NOT NULL,
    output           jsonb,
    error            text,
    status           text NOT NULL DEFAULT 'running'
                     CHECK (status IN ('running', 'succeeded', 'failed', 'timed_out')),
    duration_ms      integer CHECK (duration_ms >= 0),
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz
);
CREATE UNIQUE INDEX action_executions_key ON action_executions (business_id, idempotency_key);
CREATE INDEX action_executions_action ON action_executions (action_id, started_at DESC, id DESC);

-- The built-in `local` calendar of a calendar_booking action. Bookings of one calendar are made under a
-- transaction-scoped advisory lock on the calendar (the embedded PostgreSQL has no btree_gist, so no
-- exclusion constraint): overlap is checked and the row written while no other booking of it can be.
CREATE TABLE calendar_bookings (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id      uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    calendar_id      uuid NOT NULL REFERENCES actions(id) ON DELETE CASCADE,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL CHECK (ends_at > starts_at),
    name             text NOT NULL DEFAULT '',
    details          jsonb NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'booked' CHECK (status IN ('booked', 'cancelled')),
    -- A retried booking (the same tool call) finds its first booking instead of making a second.
    idempotency_key  text NOT NULL,
    created_at       timestamptz NOT NULL,
    cancelled_at     timestamptz
);
CREATE UNIQUE INDEX calendar_bookings_key ON calendar_bookings (calendar_id, idempotency_key);
-- Slots are whole steps of one length, so a second booking of a taken slot has the same start.
CREATE UNIQUE INDEX calendar_bookings_slot ON calendar_bookings (calendar_id, starts_at) WHERE status = 'booked';
CREATE INDEX calendar_bookings_range ON calendar_bookings (calendar_id, starts_at, ends_at) WHERE status = 'booked';

-- Core schema: tenants, agents, numbers, calls, SMS and widget conversations.
-- Money tables live in 0002+ (billing); later issues extend these with their own files.

CREATE TABLE businesses (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Users are identified by the `sub` of their Supabase JWT.
CREATE TABLE users (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email       text NOT NULL UNIQUE CHECK (position('@' in email) > 1),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    business_id uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (business_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- An agent (the dashboard calls it a chatbot) answers calls, SMS and the widget.
CREATE TABLE agents (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id     uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    system_prompt   text NOT NULL DEFAULT '',
    greeting        text NOT NULL DEFAULT '',
    voice           text NOT NULL DEFAULT '',
    language        text NOT NULL DEFAULT 'en-US',
    model           text NOT NULL DEFAULT '',
    temperature     real,
    -- [{"question": "...", "answer": "..."}]
    faq             jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(faq) = 'array'),
    transfer_number text,
    allowed_origins text[] NOT NULL DEFAULT '{}',
    widget_theme    jsonb NOT NULL DEFAULT '{}'::jsonb,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_business ON agents (business_id);

CREATE TABLE business_numbers (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id         uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    agent_id            uuid REFERENCES agents(id) ON DELETE SET NULL,
    phone_number        text NOT NULL CHECK (phone_number ~ '^\+[1-9][0-9]{6,14}$'),
    display_name        text NOT NULL DEFAULT '',
    country_code        text NOT NULL DEFAULT 'US',
    number_type         text NOT NULL DEFAULT 'local' CHECK (number_type IN ('local', 'toll_free', 'mobile')),
    twilio_sid          text,
    voice_url           text,
    sms_url             text,
    status_callback_url text,
    capabilities        jsonb NOT NULL DEFAULT '{"voice": true, "sms": true, "mms": false}'::jsonb,
    monthly_cost        bigint NOT NULL DEFAULT 0 CHECK (monthly_cost >= 0),
    currency            text NOT NULL DEFAULT 'USD',
    is_primary          boolean NOT NULL DEFAULT false,
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'released')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    released_at         timestamptz
);
-- A number belongs to at most one business at a time.
CREATE UNIQUE INDEX business_numbers_live_phone ON business_numbers (phone_number) WHERE status <> 'released';
CREATE UNIQUE INDEX business_numbers_one_primary ON business_numbers (business_id) WHERE is_primary AND status <> 'released';
CREATE INDEX business_numbers_business ON business_numbers (business_id);

CREATE TABLE calls (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    call_sid                text NOT NULL UNIQUE,
    business_id             uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    number_id               uuid REFERENCES business_numbers(id) ON DELETE SET NULL,
    agent_id                uuid REFERENCES agents(id) ON DELETE SET NULL,
    from_number             text NOT NULL,
    to_number               text NOT NULL,
    direction               text NOT NULL DEFAULT 'inbound',
    status                  text NOT NULL DEFAULT 'ringing',
    started_at              timestamptz NOT NULL DEFAULT now(),
    answered_at             timestamptz,
    ended_at                timestamptz,
    duration_seconds        integer CHECK (duration_seconds >= 0),
    twilio_duration_seconds integer CHECK (twilio_duration_seconds >= 0),
    end_reason              text
);
CREATE INDEX calls_business_started ON calls (business_id, started_at DESC);

CREATE TABLE call_turns (
    id                bigserial PRIMARY KEY,
    call_id           uuid NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    seq               integer NOT NULL,
    role              text NOT NULL CHECK (role IN ('user', 'assistant', 'tool')),
    text              text NOT NULL,
    started_at        timestamptz NOT NULL DEFAULT now(),
    interrupted       boolean NOT NULL DEFAULT false,
    server_latency_ms integer,
    ear_latency_ms    integer,
    UNIQUE (call_id, seq)
);

CREATE TABLE sms_messages (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id   uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    number_id     uuid REFERENCES business_numbers(id) ON DELETE SET NULL,
    message_sid   text UNIQUE,
    direction     text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    from_number   text NOT NULL,
    to_number     text NOT NULL,
    body          text NOT NULL,
    status        text NOT NULL DEFAULT 'received',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sms_messages_thread ON sms_messages (business_id, from_number, to_number, created_at DESC);

CREATE TABLE widget_conversations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    agent_id    uuid NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    business_id uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    origin      text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE widget_messages (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id   uuid NOT NULL REFERENCES widget_conversations(id) ON DELETE CASCADE,
    role              text NOT NULL CHECK (role IN ('user', 'assistant')),
    text              text NOT NULL,
    prompt_tokens     integer NOT NULL DEFAULT 0,
    completion_tokens integer NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX widget_messages_conversation ON widget_messages (conversation_id, created_at);

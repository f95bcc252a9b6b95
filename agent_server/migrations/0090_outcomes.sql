-- After the conversation (outcomes/): when a conversation ended, what the analysis found, the
-- leads and the contacts they merge into, and who is notified by email.

-- How long an agent's widget/SMS conversation may be silent before it counts as ended, and the
-- custom fields its analysis extracts ([{"name", "type": text|number|boolean|enum, "description", "values"?}]).
ALTER TABLE agents
    ADD COLUMN session_timeout_minutes integer NOT NULL DEFAULT 30 CHECK (session_timeout_minutes BETWEEN 1 AND 1440),
    ADD COLUMN extraction_fields jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(extraction_fields) = 'array');

-- A business's timezone (weekly summaries) and country (the default region of phone numbers in leads).
ALTER TABLE businesses
    ADD COLUMN timezone text NOT NULL DEFAULT 'UTC',
    ADD COLUMN country_code text NOT NULL DEFAULT 'US' CHECK (country_code ~ '^[A-Z]{2}$');

-- One row per ended conversation, inserted once (ON CONFLICT (id) DO NOTHING): its id is the widget
-- conversation's or the call's; an SMS/WhatsApp stretch of a thread gets an id derived from its first message.
CREATE TABLE conversation_outcomes (
    id                 uuid PRIMARY KEY,
    business_id        uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    agent_id           uuid REFERENCES agents(id) ON DELETE SET NULL,
    channel            text NOT NULL CHECK (channel IN ('widget', 'sms', 'whatsapp', 'call')),
    -- The person's channel address (caller ID, SMS sender, WhatsApp number) and ours, when there are any.
    contact_address    text,
    our_address        text,
    first_message_at   timestamptz NOT NULL,
    last_message_at    timestamptz NOT NULL,
    ended_at           timestamptz NOT NULL,
    end_reason         text NOT NULL CHECK (end_reason IN ('timeout', 'request', 'hangup')),
    analysis_status    text NOT NULL DEFAULT 'pending'
                       CHECK (analysis_status IN ('pending', 'running', 'analysed', 'analysis_failed', 'skipped')),
    analysis_attempts  integer NOT NULL DEFAULT 0 CHECK (analysis_attempts >= 0),
    -- A claimed analysis belongs to its runner until then; afterwards another may take it.
    claimed_until      timestamptz,
    analysis           jsonb,
    raw_output         text,
    analysis_error     text,
    prompt_tokens      integer NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens  integer NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    charged            bigint NOT NULL DEFAULT 0 CHECK (charged >= 0),
    analysed_at        timestamptz
);
CREATE INDEX conversation_outcomes_pending ON conversation_outcomes (ended_at, id)
    WHERE analysis_status IN ('pending', 'running');
CREATE INDEX conversation_outcomes_business ON conversation_outcomes (business_id, ended_at DESC);
CREATE INDEX conversation_outcomes_thread ON conversation_outcomes (business_id, our_address, contact_address, last_message_at DESC)
    WHERE channel IN ('sms', 'whatsapp');

-- One person per business, found again by phone (E.164) or email.
CREATE TABLE lead_contacts (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    name        text NOT NULL,
    phone       text CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    email       text,
    company     text,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX lead_contacts_phone ON lead_contacts (business_id, phone) WHERE phone IS NOT NULL;
CREATE UNIQUE INDEX lead_contacts_email ON lead_contacts (business_id, lower(email)) WHERE email IS NOT NULL;

-- One lead per (conversation, channel): what the person gave, and the contact it merged into.
CREATE TABLE leads (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id      uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    conversation_id  uuid NOT NULL REFERENCES conversation_outcomes(id) ON DELETE CASCADE,
    channel          text NOT NULL,
    contact_id       uuid NOT NULL REFERENCES lead_contacts(id),
    name             text NOT NULL,
    phone            text,
    email            text,
    company          text,
    intent           text,
    confidence       integer NOT NULL CHECK (confidence BETWEEN 0 AND 100),
    reason           text,
    -- The phone is the caller ID / WhatsApp number, not one the person said: a hint only.
    from_channel_id  boolean NOT NULL DEFAULT false,
    custom_fields    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL,
    UNIQUE (conversation_id, channel)
);
CREATE INDEX leads_business_created ON leads (business_id, created_at DESC, id DESC);
CREATE INDEX leads_contact ON leads (contact_id);

-- Which emails a member gets for one business; no row means the defaults (outcomes/notifications.py).
CREATE TABLE notification_preferences (
    user_id               uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    business_id           uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    conversation_started  boolean NOT NULL,
    conversation_ended    boolean NOT NULL,
    new_lead              boolean NOT NULL,
    agent_error           boolean NOT NULL,
    weekly_summary        boolean NOT NULL,
    override_address      text,
    updated_at            timestamptz NOT NULL,
    PRIMARY KEY (user_id, business_id)
);

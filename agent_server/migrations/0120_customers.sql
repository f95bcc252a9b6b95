-- A business's clients (customers/): who they are, which agents they may see, the single-use
-- sign-in links mailed to them and the portal sessions those links open.

-- One client of one business; the same address may be a client of several businesses.
-- The address is stored lower-cased, so the unique index is the case-insensitive one.
CREATE TABLE customers (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id             uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    email                   text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 320),
    full_name               text NOT NULL CHECK (length(full_name) BETWEEN 1 AND 200),
    company_name            text CHECK (length(company_name) <= 200),
    status                  text NOT NULL DEFAULT 'invited' CHECK (status IN ('invited', 'active', 'disabled')),
    weekly_summary_enabled  boolean NOT NULL DEFAULT true,
    last_login              timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (business_id, email),
    -- Lets child tables name (business_id, id) so a row can never cross businesses.
    UNIQUE (business_id, id)
);
CREATE INDEX customers_email ON customers (email);

-- Which of the business's agents a client sees: every portal read joins this table.
CREATE TABLE customer_agent_assignments (
    customer_id  uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    agent_id     uuid NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, agent_id)
);
CREATE INDEX customer_agent_assignments_agent ON customer_agent_assignments (agent_id);

-- A mailed sign-in link: only the SHA-256 of its token is kept. Consumed once by a conditional
-- UPDATE (used_at IS NULL AND expires_at > now()); revoked_at when the client is disabled.
CREATE TABLE customer_login_links (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id  uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    purpose      text NOT NULL CHECK (purpose IN ('invite', 'login')),
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    revoked_at   timestamptz,
    -- Set when an expired link asked for a fresh one: it may do so once.
    renewed_at   timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX customer_login_links_customer ON customer_login_links (customer_id, created_at DESC);

-- A portal session a link opened; its id is the JWT's `sid`, checked on every request.
CREATE TABLE customer_sessions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id  uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    business_id  uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    link_id      uuid REFERENCES customer_login_links(id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX customer_sessions_customer ON customer_sessions (customer_id) WHERE revoked_at IS NULL;

-- The portal lists an agent's conversations newest first (customers/portal.py).
CREATE INDEX widget_conversations_agent_created ON widget_conversations (agent_id, created_at DESC, id DESC);
CREATE INDEX calls_agent_started ON calls (agent_id, started_at DESC, id DESC);
CREATE INDEX conversation_outcomes_agent_thread ON conversation_outcomes (agent_id, first_message_at DESC)
    WHERE channel IN ('sms', 'whatsapp');

-- Signed webhooks (automations/): a business's endpoints, the messages queued for each, and every
-- delivery attempt. Standard Webhooks: one `webhook-id` per message, kept across its retries.

CREATE TABLE webhook_endpoints (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id            uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    url                    text NOT NULL,
    event_types            text[] NOT NULL CHECK (cardinality(event_types) > 0),
    -- Empty: every form's events; otherwise only those of these forms (a form's webhookUrl).
    form_ids               uuid[] NOT NULL DEFAULT '{}',
    enabled                boolean NOT NULL DEFAULT true,
    -- Why it was turned off by us (a 410 Gone), shown in the dashboard; NULL when a user did it.
    disabled_reason        text,
    -- `whsec_` + base64 of 32 random bytes; kept to sign, shown only when created or rotated.
    secret                 text NOT NULL,
    -- After a rotation the old secret signs too, until previous_secret_until.
    previous_secret        text,
    previous_secret_until  timestamptz,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL
);
CREATE INDEX webhook_endpoints_business ON webhook_endpoints (business_id, created_at);

CREATE TABLE webhook_messages (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id      uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_type       text NOT NULL,
    -- `{type, timestamp, data}` serialized once; every attempt signs and sends exactly these bytes.
    body             bytea NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- When a pending message is due; while 'sending', when its sender's lease ends (the worker died)
    -- and it is due again. One column, so "what is due" is one index range.
    next_attempt_at  timestamptz NOT NULL,
    last_status      integer,
    last_error       text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    delivered_at     timestamptz
);
CREATE INDEX webhook_messages_due ON webhook_messages (endpoint_id, next_attempt_at)
    WHERE status IN ('pending', 'sending');
-- At most a few in flight per endpoint: counted under the endpoint's row lock.
CREATE INDEX webhook_messages_sending ON webhook_messages (endpoint_id) WHERE status = 'sending';
CREATE INDEX webhook_messages_endpoint ON webhook_messages (endpoint_id, created_at DESC);

CREATE TABLE webhook_attempts (
    id           bigserial PRIMARY KEY,
    message_id   uuid NOT NULL REFERENCES webhook_messages(id) ON DELETE CASCADE,
    attempt      integer NOT NULL CHECK (attempt > 0),
    started_at   timestamptz NOT NULL,
    duration_ms  integer NOT NULL CHECK (duration_ms >= 0),
    -- The receiver's HTTP status, NULL when none came (refused address, timeout, reset).
    status_code  integer,
    error        text,
    outcome      text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed', 'disabled'))
);
CREATE INDEX webhook_attempts_message ON webhook_attempts (message_id, id);

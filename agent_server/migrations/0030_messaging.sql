-- SMS and widget chat: opt-outs, which agent answered, and token usage per reply.

-- A sender who texted STOP (or a synonym) to one of our numbers; START removes the row.
-- Keyed by our number and the sender, as carriers block per pair.
CREATE TABLE sms_opt_outs (
    business_id  uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    our_number   text NOT NULL,
    sender       text NOT NULL,
    keyword      text NOT NULL,
    opted_out_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (our_number, sender)
);
CREATE INDEX sms_opt_outs_business ON sms_opt_outs (business_id);

ALTER TABLE sms_messages
    ADD COLUMN agent_id          uuid REFERENCES agents(id) ON DELETE SET NULL,
    ADD COLUMN answered_by       text CHECK (answered_by IN ('faq', 'llm', 'fallback')),
    ADD COLUMN prompt_tokens     integer NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    ADD COLUMN completion_tokens integer NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0);

ALTER TABLE widget_messages
    ADD COLUMN answered_by text CHECK (answered_by IN ('faq', 'llm', 'fallback'));

CREATE INDEX widget_conversations_agent ON widget_conversations (agent_id, updated_at DESC);

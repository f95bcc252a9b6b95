-- Campaigns (messaging/campaigns.py): a template sent to an audience snapshot through the outbox.
CREATE TABLE campaigns (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id      uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    template         text NOT NULL,
    audience         jsonb NOT NULL,
    from_number_ids  uuid[] NOT NULL DEFAULT '{}',
    category         text NOT NULL CHECK (category IN ('marketing', 'transactional')),
    quiet_hours      text,
    ai_replies       boolean NOT NULL DEFAULT false,
    status           text NOT NULL DEFAULT 'draft'
                     CHECK (status IN ('draft', 'sending', 'paused', 'completed', 'canceled')),
    pause_reason     text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz
);
CREATE INDEX campaigns_business ON campaigns (business_id, created_at DESC);

-- The audience as it was when the campaign started: one row per phone, with the outbox message
-- it got or the reason it was skipped.
CREATE TABLE campaign_recipients (
    campaign_id uuid NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    phone       text NOT NULL,
    contact_id  uuid REFERENCES contacts(id) ON DELETE SET NULL,
    message_id  uuid REFERENCES sms_outbox(id) ON DELETE SET NULL,
    skip_reason text CHECK (skip_reason IN ('opted_out', 'undeliverable', 'no_consent', 'deleted')),
    PRIMARY KEY (campaign_id, phone),
    CHECK ((message_id IS NULL) OR (skip_reason IS NULL))
);

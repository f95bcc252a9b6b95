-- Campaigns that wait for their time (messaging/campaign_schedule.py), bulk sends answered once
-- per idempotency key, and the wallet hold a started campaign is paid from
-- (messaging/campaign_funds.py).
ALTER TABLE campaigns DROP CONSTRAINT campaigns_status_check;
ALTER TABLE campaigns ADD CONSTRAINT campaigns_status_check
    CHECK (status IN ('draft', 'scheduled', 'sending', 'paused', 'completed', 'canceled'));
ALTER TABLE campaigns
    ADD COLUMN send_at         timestamptz,
    ADD COLUMN idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    ADD COLUMN hold_id         bigint REFERENCES holds(id),
    ADD CONSTRAINT campaigns_scheduled_has_time CHECK (status <> 'scheduled' OR send_at IS NOT NULL);
CREATE UNIQUE INDEX campaigns_idempotency ON campaigns (business_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- What the recurring campaign job looks at every minute: due starts, and paused or sending ones.
CREATE INDEX campaigns_due ON campaigns (send_at) WHERE status = 'scheduled';
CREATE INDEX campaigns_open ON campaigns (status) WHERE status IN ('sending', 'paused');

-- A campaign's messages: its stats, its in-flight cost and whether anything is left to send.
CREATE INDEX sms_outbox_campaign ON sms_outbox (campaign_id, status) WHERE campaign_id IS NOT NULL;

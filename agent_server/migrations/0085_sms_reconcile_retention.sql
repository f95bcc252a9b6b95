-- The SMS jobs that tidy the outbox (messaging/reconciler.py, messaging/retention.py).

-- When the reconciler last looked a text up in Twilio's Messages API: the next look waits
-- until the text is twice as old as it was then (1 h, 2 h, 4 h ... after sending).
ALTER TABLE sms_outbox ADD COLUMN checked_at timestamptz;
-- Texts Twilio took whose final status has not come back, by when they were sent.
CREATE INDEX sms_outbox_unsettled ON sms_outbox (send_started_at)
    WHERE message_sid IS NOT NULL AND status IN ('sending', 'sent');
-- Retention walks the outbox oldest first; rows arrive in time order, so a BRIN index (a few
-- pages, next to nothing per insert) finds the old ones.
CREATE INDEX sms_outbox_created ON sms_outbox USING brin (created_at);

-- The dispatcher's claim in the order it takes rows, and paying for texts apart from recording them.

-- The claim takes due rows by (not_before, created_at): with both in the index it reads the
-- first claim_batch rows in order instead of sorting every due row on each claim (bench/sms.py:
-- a 3,000-text campaign sorted ~800 rows per claim, 26 ms, and the claim ran per 10 texts).
DROP INDEX sms_outbox_due;
CREATE INDEX sms_outbox_due ON sms_outbox (not_before, created_at) WHERE status = 'queued';
-- When a text's segments were debited (messaging/charges.py). Recording Twilio's sid and paying
-- for it are separate steps: the sid is stored the moment Twilio answers (or a callback names
-- it), in one statement that takes no wallet lock, and the dispatcher pays what is recorded
-- and unpaid in batches, one wallet lock per batch instead of one per text. Texts recorded
-- before this column existed were paid when recorded.
ALTER TABLE sms_outbox ADD COLUMN paid_at timestamptz;
UPDATE sms_outbox SET paid_at = updated_at WHERE message_sid IS NOT NULL;
-- Texts claimed or recorded and not yet paid for: what a campaign's hold must still cover
-- (messaging/campaign_funds.py, read in every claim) and what the payer takes: a few dozen at a
-- time, where the (campaign_id, status) index walked all of a campaign's queued rows.
CREATE INDEX sms_outbox_unpaid ON sms_outbox (campaign_id)
    WHERE paid_at IS NULL AND (message_sid IS NOT NULL OR status = 'sending' OR (status = 'queued' AND verify));

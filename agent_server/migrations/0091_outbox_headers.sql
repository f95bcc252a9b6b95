-- Extra headers of one email (mail/outbox.py), e.g. the weekly summary's List-Unsubscribe
-- and List-Unsubscribe-Post (RFC 8058), which differ per recipient.
ALTER TABLE email_outbox ADD COLUMN headers jsonb NOT NULL DEFAULT '{}'::jsonb
    CHECK (jsonb_typeof(headers) = 'object');

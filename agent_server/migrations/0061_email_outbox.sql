-- Every email is a row here (mail/outbox.py), written in the transaction of the event that
-- caused it; a `mail.send` job delivers it (its Message-ID derives from the row, so a retry
-- sends the same one). The dedupe key is unique for good: one event
-- enqueued twice is one email, even after the first was sent.
CREATE TABLE email_outbox (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    business_id          uuid REFERENCES businesses (id) ON DELETE CASCADE,
    recipient            text NOT NULL CHECK (length(recipient) BETWEEN 3 AND 320),
    subject              text NOT NULL CHECK (length(subject) <= 998),
    text_body            text NOT NULL,
    html_body            text,
    template             text,
    dedupe_key           text NOT NULL UNIQUE CHECK (length(dedupe_key) BETWEEN 1 AND 300),
    status               text NOT NULL DEFAULT 'queued'
                         CHECK (status IN ('queued', 'sent', 'failed', 'held', 'suppressed')),
    attempts             integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error           text,
    provider_message_id  text,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    sent_at              timestamptz,
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);

CREATE INDEX email_outbox_status ON email_outbox (status, created_at);
CREATE INDEX email_outbox_business ON email_outbox (business_id, created_at DESC) WHERE business_id IS NOT NULL;

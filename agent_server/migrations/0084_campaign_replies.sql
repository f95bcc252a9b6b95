-- Inbound texts attributed to the campaign whose text their sender got last from that number,
-- within the reply window (messaging/campaign_replies.py). `answered`: the campaign let the
-- agent answer (aiReplies); otherwise the text is only stored and counted.
CREATE TABLE campaign_replies (
    inbound_id  uuid PRIMARY KEY REFERENCES sms_messages(id) ON DELETE CASCADE,
    campaign_id uuid NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    message_id  uuid REFERENCES sms_outbox(id) ON DELETE SET NULL,
    phone       text NOT NULL,
    answered    boolean NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaign_replies_campaign ON campaign_replies (campaign_id, received_at);

-- A phone's texts from the business, newest first: which campaign a reply answers, and which
-- number the person last talked to (messaging/senders.py).
CREATE INDEX sms_outbox_recipient ON sms_outbox (business_id, to_phone, created_at DESC);

-- What a usage entry paid for, in the unit its price is quoted in (segments of a text sent,
-- tokens of a chat reply, one SMS reply), written in the same statement as the entry
-- (billing/ledger.py insert_entry), so a statement can show quantities the ledger alone
-- can't. Entries from before this table, and calls (whose seconds are on their meter), have none.
CREATE TABLE usage_details (
    entry_id  bigint PRIMARY KEY REFERENCES ledger_entries(id),
    quantity  bigint NOT NULL CHECK (quantity >= 0),
    unit      text NOT NULL CHECK (unit IN ('seconds', 'segments', 'replies', 'tokens', 'numbers', 'months'))
);
CREATE TRIGGER usage_details_append_only BEFORE UPDATE OR DELETE ON usage_details
    FOR EACH ROW EXECUTE FUNCTION billing_refuse_change();
CREATE TRIGGER usage_details_no_truncate BEFORE TRUNCATE ON usage_details
    FOR EACH STATEMENT EXECUTE FUNCTION billing_refuse_change();

-- Stripe's receipt page of the charge that paid a top-up, by PaymentIntent: charge.succeeded
-- may arrive before the session's completed event (which brings the PaymentIntent to
-- topups), so the two meet in the statement's join, in whatever order they came.
CREATE TABLE charge_receipts (
    payment_intent  text PRIMARY KEY,
    charge_id       text NOT NULL,
    receipt_url     text NOT NULL CHECK (receipt_url LIKE 'https://%' AND length(receipt_url) <= 2000),
    recorded_at     timestamptz NOT NULL DEFAULT now()
);

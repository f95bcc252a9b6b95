-- What the daily reconciliation against Stripe's balance transactions found, each finding
-- once: the key names the day, the kind and the subject, so a second run of a day adds
-- nothing. Findings are reported, never booked: an operator decides (nothing is changed silently).
CREATE TABLE reconciliation_findings (
    key            text PRIMARY KEY,
    day            date NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('missing_in_ledger', 'missing_at_stripe', 'amount_mismatch',
                                                 'currency_mismatch', 'fee')),
    subject        text NOT NULL,
    currency       text,
    stripe_amount  bigint,
    ledger_amount  bigint,
    found_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reconciliation_findings_day ON reconciliation_findings (day, kind);

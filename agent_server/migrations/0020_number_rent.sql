-- Phone numbers: monthly rent periods and suspension for unpaid rent.
-- Period k of a number runs from rent_anchor + k months; rent_paid_through is the end of the
-- last paid period (phone_numbers/periods.py). NULL means the number pays no rent (a number
-- registered by hand, not bought or imported through Twilio).
ALTER TABLE business_numbers
    ADD COLUMN rent_anchor       timestamptz,
    ADD COLUMN rent_periods_paid integer NOT NULL DEFAULT 0 CHECK (rent_periods_paid >= 0),
    ADD COLUMN rent_paid_through timestamptz,
    ADD COLUMN suspended_at      timestamptz,
    ADD CHECK ((rent_anchor IS NULL) = (rent_paid_through IS NULL)),
    ADD CHECK ((status = 'suspended') = (suspended_at IS NOT NULL));

-- A Twilio number belongs to one live record at a time.
CREATE UNIQUE INDEX business_numbers_live_sid ON business_numbers (twilio_sid)
    WHERE status <> 'released' AND twilio_sid IS NOT NULL;
-- The rent job's work list.
CREATE INDEX business_numbers_rent_due ON business_numbers (rent_paid_through)
    WHERE status <> 'released' AND rent_paid_through IS NOT NULL;

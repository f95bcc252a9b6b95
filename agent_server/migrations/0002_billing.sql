-- Billing: wallets, the append-only ledger, holds, Stripe top-ups and processed Stripe events.
-- Money is bigint minor units (cents, paise) with an ISO currency; never numeric or float.

-- One wallet per business and currency. `balance` caches Σ ledger_entries.amount and `held`
-- caches Σ amount of the wallet's active holds; both change only in the transaction that
-- writes the entry or hold event explaining the change (billing/ledger.py, billing/holds.py).
-- No ON DELETE CASCADE: a business with money history is suspended, never deleted.
CREATE TABLE wallets (
    id            bigserial PRIMARY KEY,
    business_id   uuid NOT NULL REFERENCES businesses(id),
    currency      text NOT NULL CHECK (currency IN ('USD', 'INR')),
    balance       bigint NOT NULL DEFAULT 0,
    held          bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
    credit_limit  bigint NOT NULL DEFAULT 0 CHECK (credit_limit >= 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (business_id, currency)
);

-- Holds (reservations) for metered use. `amount` is what is still reserved; it changes with
-- each hold event, and is 0 once the hold is settled or released.
CREATE TABLE holds (
    id               bigserial PRIMARY KEY,
    wallet_id        bigint NOT NULL REFERENCES wallets(id),
    amount           bigint NOT NULL CHECK (amount >= 0),
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'settled', 'released')),
    reference        text NOT NULL CHECK (length(reference) BETWEEN 1 AND 500),
    idempotency_key  text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    fingerprint      text NOT NULL,
    expires_at       timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (status = 'active' OR amount = 0)
);
CREATE INDEX holds_active_expiry ON holds (expires_at) WHERE status = 'active';
CREATE INDEX holds_wallet ON holds (wallet_id);

-- Every change to a hold, with the idempotency key of the operation that made it:
-- holds.amount == Σ delta of its events, at every commit.
CREATE TABLE hold_events (
    id               bigserial PRIMARY KEY,
    hold_id          bigint NOT NULL REFERENCES holds(id),
    kind             text NOT NULL CHECK (kind IN ('place', 'extend', 'capture', 'settle', 'release')),
    delta            bigint NOT NULL,
    charged          bigint NOT NULL DEFAULT 0 CHECK (charged >= 0),
    idempotency_key  text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    fingerprint      text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hold_events_hold ON hold_events (hold_id);

-- The ledger: signed amounts (credits > 0, debits < 0), one row per effect.
CREATE TABLE ledger_entries (
    id               bigserial PRIMARY KEY,
    wallet_id        bigint NOT NULL REFERENCES wallets(id),
    amount           bigint NOT NULL CHECK (amount <> 0),
    kind             text NOT NULL CHECK (kind IN ('topup', 'refund', 'call_usage', 'sms_usage', 'chat_usage',
                                                   'number_purchase', 'number_rent', 'adjustment')),
    reference        text NOT NULL CHECK (length(reference) BETWEEN 1 AND 500),
    actor            text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
    idempotency_key  text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    fingerprint      text NOT NULL,
    hold_id          bigint REFERENCES holds(id),
    balance_after    bigint NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- The sign is part of the kind's meaning; only an operator adjustment goes either way.
    CHECK (CASE kind WHEN 'topup' THEN amount > 0
                     WHEN 'adjustment' THEN true
                     ELSE amount < 0 END)
);
CREATE INDEX ledger_entries_wallet_id ON ledger_entries (wallet_id, id DESC);
CREATE INDEX ledger_entries_hold ON ledger_entries (hold_id) WHERE hold_id IS NOT NULL;
CREATE INDEX ledger_entries_reference ON ledger_entries (wallet_id, reference);

-- Checkout Sessions we created, and what Stripe later told us about them; the mapping
-- payment_intent -> business is what a charge.refunded event is routed by.
CREATE TABLE topups (
    checkout_session_id  text PRIMARY KEY,
    business_id          uuid NOT NULL REFERENCES businesses(id),
    amount               bigint NOT NULL CHECK (amount > 0),
    currency             text NOT NULL CHECK (currency IN ('USD', 'INR')),
    status               text NOT NULL DEFAULT 'open'
                           CHECK (status IN ('open', 'pending', 'paid', 'failed', 'expired')),
    payment_intent       text,
    created_by           text NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX topups_business ON topups (business_id, created_at DESC);
CREATE UNIQUE INDEX topups_payment_intent ON topups (payment_intent) WHERE payment_intent IS NOT NULL;

-- Every verified Stripe event, inserted in the same transaction as its effect: the primary
-- key is the event-id dedupe, the ledger's idempotency key is the effect dedupe.
CREATE TABLE stripe_events (
    id           text PRIMARY KEY,
    type         text NOT NULL,
    created      bigint NOT NULL,
    livemode     boolean NOT NULL,
    outcome      text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);

-- Append-only: the ledger and hold history can't be rewritten, only corrected by new rows.
CREATE FUNCTION billing_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION billing_refuse_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION billing_refuse_change();
CREATE TRIGGER hold_events_append_only BEFORE UPDATE OR DELETE ON hold_events
    FOR EACH ROW EXECUTE FUNCTION billing_refuse_change();
CREATE TRIGGER hold_events_no_truncate BEFORE TRUNCATE ON hold_events
    FOR EACH STATEMENT EXECUTE FUNCTION billing_refuse_change();
CREATE TRIGGER stripe_events_append_only BEFORE UPDATE OR DELETE ON stripe_events
    FOR EACH ROW EXECUTE FUNCTION billing_refuse_change();

-- The SMS platform (messaging/): contacts and lists, the consent log and the suppression it
-- feeds, phones that can't receive texts, the outbound outbox with its status history, and
-- each sending number's carrier pace.

CREATE TABLE contacts (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id    uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    phone          text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    first_name     text NOT NULL DEFAULT '',
    last_name      text NOT NULL DEFAULT '',
    email          text,
    tags           text[] NOT NULL DEFAULT '{}',
    attributes     jsonb NOT NULL DEFAULT '{}'::jsonb,
    timezone       text,
    consent_source text,
    consent_at     timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz
);
-- One live contact per phone and business; a deleted one keeps its row (history, consent).
CREATE UNIQUE INDEX contacts_live_phone ON contacts (business_id, phone) WHERE deleted_at IS NULL;
CREATE INDEX contacts_page ON contacts (business_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX contacts_tags ON contacts USING gin (tags);

CREATE TABLE contact_lists (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (business_id, name)
);

CREATE TABLE contact_list_members (
    list_id    uuid NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    contact_id uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (list_id, contact_id)
);
CREATE INDEX contact_list_members_contact ON contact_list_members (contact_id);

-- Append-only: every opt-in and opt-out of a phone for a business, with where it came from.
CREATE TABLE consent_events (
    id          bigserial PRIMARY KEY,
    business_id uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    phone       text NOT NULL,
    action      text NOT NULL CHECK (action IN ('opt_in', 'opt_out')),
    source      text NOT NULL CHECK (source IN ('keyword', 'dashboard', 'import', 'api', 'carrier')),
    detail      text NOT NULL DEFAULT '',
    number_id   uuid REFERENCES business_numbers(id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consent_events_phone ON consent_events (business_id, phone, id);

CREATE FUNCTION consent_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent_events is append-only';
END $$;
CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
    FOR EACH ROW EXECUTE FUNCTION consent_events_append_only();

-- The phones a business must not text, from any of its numbers: the latest opt-out not yet
-- lifted by an opt-in (consent_events is the record, this the index the dispatcher reads).
CREATE TABLE suppressions (
    business_id   uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    phone         text NOT NULL,
    source        text NOT NULL,
    detail        text NOT NULL DEFAULT '',
    suppressed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (business_id, phone)
);
CREATE INDEX suppressions_page ON suppressions (business_id, suppressed_at DESC, phone);

-- Phones the carrier called unreachable (21211 invalid, 30005 unknown, 30006 landline).
CREATE TABLE undeliverable_phones (
    business_id uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    phone       text NOT NULL,
    error_code  integer NOT NULL,
    marked_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (business_id, phone)
);

CREATE TABLE sms_outbox (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id     uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    contact_id      uuid REFERENCES contacts(id) ON DELETE SET NULL,
    number_id       uuid REFERENCES business_numbers(id) ON DELETE SET NULL,
    from_number     text NOT NULL,
    to_phone        text NOT NULL,
    body            text NOT NULL,
    category        text NOT NULL CHECK (category IN ('marketing', 'transactional')),
    segments        integer NOT NULL CHECK (segments BETWEEN 1 AND 20),
    encoding        text NOT NULL,
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'canceled')),
    idempotency_key text NOT NULL,
    campaign_id     uuid,
    not_before      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    -- Set after a send whose answer was lost: look the message up before any resend.
    verify          boolean NOT NULL DEFAULT false,
    send_started_at timestamptz,
    message_sid     text UNIQUE,
    error_code      integer,
    error_message   text,
    price_minor     bigint,
    currency        text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (business_id, idempotency_key)
);
CREATE INDEX sms_outbox_due ON sms_outbox (not_before) WHERE status = 'queued';
CREATE INDEX sms_outbox_page ON sms_outbox (business_id, created_at DESC, id DESC);
CREATE INDEX sms_outbox_contact ON sms_outbox (contact_id, created_at DESC);
CREATE INDEX sms_outbox_open ON sms_outbox (send_started_at) WHERE status = 'sending';

CREATE TABLE sms_status_events (
    id          bigserial PRIMARY KEY,
    message_id  uuid NOT NULL REFERENCES sms_outbox(id) ON DELETE CASCADE,
    status      text NOT NULL,
    error_code  integer,
    source      text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sms_status_events_message ON sms_status_events (message_id, id);

-- Each number's theoretical arrival time (messaging/pacing.py), advanced in the claiming
-- transaction. Logged, unlike rate_limits: losing it would let a restart burst past the MPS.
CREATE TABLE sms_pacing (
    number_id uuid PRIMARY KEY REFERENCES business_numbers(id) ON DELETE CASCADE,
    tat_us    bigint NOT NULL
) WITH (fillfactor = 70);

-- A business's texting profile: its zone (quiet hours fall back to it), a narrower sending
-- window, and the answer to HELP. No row: the [sms] defaults.
CREATE TABLE messaging_profiles (
    business_id  uuid PRIMARY KEY REFERENCES businesses(id) ON DELETE CASCADE,
    timezone     text,
    quiet_hours  text,
    help_text    text
);

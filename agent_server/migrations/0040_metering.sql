-- Metering: per-business price overrides and the meter of every call paid from a wallet.

-- Prices a business pays instead of config.toml's [billing] defaults; NULL = the default.
CREATE TABLE business_prices (
    business_id         uuid PRIMARY KEY REFERENCES businesses(id) ON DELETE CASCADE,
    voice_per_minute    bigint CHECK (voice_per_minute >= 0),
    sms_per_reply       bigint CHECK (sms_per_reply >= 0),
    chat_per_1k_tokens  bigint CHECK (chat_per_1k_tokens >= 0),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- One row per call paid by the second: what was granted (held), what checkpoints have
-- charged so far, and how it was settled. The rate is frozen at call start, so a price
-- change never reprices a call in flight. A crashed process leaves the row open with an
-- expiring hold; the sweeper settles it from Twilio's CallDuration or the last checkpoint.
CREATE TABLE call_meters (
    call_sid         text PRIMARY KEY,
    business_id      uuid NOT NULL REFERENCES businesses(id),
    hold_id          bigint REFERENCES holds(id),
    currency         text NOT NULL,
    per_minute       bigint NOT NULL CHECK (per_minute >= 0),
    granted_seconds  integer NOT NULL CHECK (granted_seconds >= 0),
    charged_seconds  integer NOT NULL DEFAULT 0 CHECK (charged_seconds >= 0),
    checkpoints      integer NOT NULL DEFAULT 0 CHECK (checkpoints >= 0),
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'settled')),
    settled_seconds  integer CHECK (settled_seconds >= 0),
    settle_source    text,
    opened_at        timestamptz NOT NULL DEFAULT now(),
    settled_at       timestamptz,
    CHECK (charged_seconds <= granted_seconds),
    CHECK (status = 'open' OR settled_seconds IS NOT NULL)
);
CREATE INDEX call_meters_open ON call_meters (opened_at) WHERE status = 'open';

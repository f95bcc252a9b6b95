-- Calls from a browser (the dashboard's test call, the widget's mic) ride the same pipeline and
-- billing as phone calls; `channel` tells them apart. A browser is admitted by a single-use
-- token, kept only as its SHA-256, bound to the call (so to its agent) and to the page's origin.
ALTER TABLE calls ADD COLUMN channel text NOT NULL DEFAULT 'phone' CHECK (channel IN ('phone', 'web'));

CREATE TABLE web_call_tokens (
    call_id     uuid PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE,
    origin      text,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

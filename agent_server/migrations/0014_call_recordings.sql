-- A call's recording (opt-in per agent): where the file is, how long it is, and who deleted it when.
-- The row outlives the file: a deleted recording keeps who and when, and why (a user or retention).
CREATE TABLE call_recordings (
    call_id        uuid PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
    business_id    uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    status         text NOT NULL DEFAULT 'recording'
                   CHECK (status IN ('recording', 'ready', 'failed', 'deleted')),
    backend        text NOT NULL CHECK (backend IN ('local', 's3')),
    location       text NOT NULL,
    retention_days integer NOT NULL CHECK (retention_days > 0),
    duration_ms    integer CHECK (duration_ms >= 0),
    bytes          bigint CHECK (bytes >= 0),
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    deleted_at     timestamptz,
    deleted_by     uuid REFERENCES users(id) ON DELETE SET NULL,
    deleted_reason text CHECK (deleted_reason IN ('user', 'retention'))
);

-- The retention sweep walks finished recordings oldest first.
CREATE INDEX call_recordings_ready ON call_recordings (finished_at) WHERE status = 'ready';

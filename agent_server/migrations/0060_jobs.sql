-- Background jobs (jobs/queue.py): one row per job, claimed with FOR UPDATE SKIP LOCKED.
-- A job is queued until a runner claims it (running, with a lease); it ends succeeded, or
-- failed once its retries are spent. A runner that dies leaves its lease to expire, and the
-- job is queued again.
CREATE TABLE jobs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL CHECK (length(kind) BETWEEN 1 AND 100),
    payload      jsonb NOT NULL DEFAULT '{}',
    business_id  uuid REFERENCES businesses (id) ON DELETE CASCADE,
    dedupe_key   text CHECK (length(dedupe_key) BETWEEN 1 AND 300),
    status       text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    run_at       timestamptz NOT NULL,
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error   text,
    locked_by    text,
    lease_until  timestamptz,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    CHECK ((status = 'running') = (lease_until IS NOT NULL)),
    CHECK ((status IN ('succeeded', 'failed')) = (finished_at IS NOT NULL))
);

-- Enqueuing the same (kind, dedupe key) twice while the first is not finished is one job.
CREATE UNIQUE INDEX jobs_open_dedupe ON jobs (kind, dedupe_key)
    WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running');
-- The claim's work list, and the expired leases a runner takes back.
CREATE INDEX jobs_due ON jobs (run_at, id) WHERE status = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_until) WHERE status = 'running';
-- GET /api/jobs: a business's own jobs, newest first.
CREATE INDEX jobs_business ON jobs (business_id, status, created_at DESC) WHERE business_id IS NOT NULL;

-- Recurring jobs: the last due time enqueued per kind. A runner enqueues a due time only if it
-- moves this forward (compare-and-set), so every due time runs once across all processes.
CREATE TABLE job_schedules (
    kind      text PRIMARY KEY,
    last_due  timestamptz NOT NULL
);

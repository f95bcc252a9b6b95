-- Contact imports (messaging/imports.py): the uploaded file until its job has read it, the
-- options, the outcome counts and the rows left out (errors.csv).
CREATE TABLE contact_imports (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    status      text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    options     jsonb NOT NULL DEFAULT '{}'::jsonb,
    file        bytea,
    created     integer NOT NULL DEFAULT 0,
    updated     integer NOT NULL DEFAULT 0,
    duplicate   integer NOT NULL DEFAULT 0,
    invalid     integer NOT NULL DEFAULT 0,
    opted_out   integer NOT NULL DEFAULT 0,
    errors_csv  text NOT NULL DEFAULT '',
    error       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX contact_imports_business ON contact_imports (business_id, created_at DESC);

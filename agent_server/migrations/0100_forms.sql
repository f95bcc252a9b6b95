-- Forms an agent offers (widget keywords, the model's form_<slug> tool) and what visitors submitted.
-- A form is soft deleted (deleted_at): its submissions keep pointing at it, and its name is free again.
CREATE TABLE forms (
    id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id              uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    agent_id                 uuid NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    name                     text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- The tool's name is form_<slug>: unique among an agent's live forms, so two names never share a tool.
    slug                     text NOT NULL CHECK (slug ~ '^[a-z0-9_]{1,58}$'),
    title                    text NOT NULL DEFAULT '',
    description              text NOT NULL DEFAULT '',
    fields                   jsonb NOT NULL CHECK (jsonb_typeof(fields) = 'array'),
    trigger_keywords         text[] NOT NULL DEFAULT '{}',
    success_message          text NOT NULL DEFAULT '',
    terms_and_conditions     text NOT NULL DEFAULT '',
    require_terms_acceptance boolean NOT NULL DEFAULT false,
    notification_email       text,
    email_subject            text NOT NULL DEFAULT '',
    webhook_url              text,
    -- The webhook endpoint (0101) that webhook_url became, filtered to this form; no foreign key, since
    -- 0101 comes later: an endpoint deleted through its own routes leaves a stale id, replaced on the next save.
    webhook_endpoint_id      uuid,
    is_active                boolean NOT NULL DEFAULT true,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    deleted_at               timestamptz
);
CREATE UNIQUE INDEX forms_agent_slug ON forms (agent_id, slug) WHERE deleted_at IS NULL;
CREATE INDEX forms_agent ON forms (agent_id, created_at) WHERE deleted_at IS NULL;

CREATE TABLE form_submissions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    form_id         uuid NOT NULL REFERENCES forms(id) ON DELETE CASCADE,
    business_id     uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    agent_id        uuid NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    conversation_id uuid,
    channel         text NOT NULL CHECK (channel IN ('widget', 'sms', 'whatsapp', 'voice', 'api')),
    visitor_id      text,
    -- The form as it was when submitted: later edits never change what a submission meant.
    form_snapshot   jsonb NOT NULL,
    data            jsonb NOT NULL CHECK (jsonb_typeof(data) = 'object'),
    terms_accepted  boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX form_submissions_form ON form_submissions (form_id, created_at DESC, id DESC);

-- A row per LLM attempt (llm_usage/requests.py): what the model was asked on which channel, what
-- it answered in tokens, what that cost the provider, and which ledger entry charged the business.
--
-- Chat replies (widget, dashboard, SMS, WhatsApp) write their rows in the transaction that settles
-- the reply's hold, so a charged reply always has its rows and ledger_key names its entry (NULL:
-- nothing was charged, e.g. a failed reply or a free one). Call turns are written in the
-- background, off the audio path. An answer served from the answer cache is one row with
-- answer_cache_hit (attempt 0, no tokens): it asked no model, but its charge belongs in the report.
-- provider_cost_micros is micro-USD at the served model's [provider_costs.llm] price, rounded up
-- per attempt; NULL when that model has no price (unpriced). estimated: the provider reported no
-- usage, so the tokens are the 4-characters-a-token estimate.
CREATE TABLE llm_requests (
    id                   bigserial PRIMARY KEY,
    created_at           timestamptz NOT NULL DEFAULT now(),
    business_id          uuid NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    agent_id             uuid REFERENCES agents(id) ON DELETE SET NULL,
    agent_version        integer,
    channel              text NOT NULL CHECK (channel IN
                             ('voice', 'sms', 'whatsapp', 'widget', 'dashboard', 'preview', 'analysis')),
    conversation_id      uuid,
    call_sid             text,
    message_id           uuid,
    requested_model      text NOT NULL,
    served_model         text NOT NULL,
    attempt              smallint NOT NULL CHECK (attempt >= 0),
    status               text NOT NULL CHECK (status IN ('ok', 'error', 'timeout')),
    http_status          smallint,
    input_tokens         integer NOT NULL CHECK (input_tokens >= 0),
    cached_tokens        integer NOT NULL CHECK (cached_tokens >= 0 AND cached_tokens <= input_tokens),
    output_tokens        integer NOT NULL CHECK (output_tokens >= 0),
    estimated            boolean NOT NULL,
    answer_cache_hit     boolean NOT NULL DEFAULT false,
    provider_cost_micros bigint CHECK (provider_cost_micros >= 0),
    first_token_ms       integer CHECK (first_token_ms >= 0),
    ledger_key           text
);
-- The token report reads one business's (or agent's) rows in a time range.
CREATE INDEX llm_requests_business_time ON llm_requests (business_id, created_at);
CREATE INDEX llm_requests_agent_time ON llm_requests (agent_id, created_at) WHERE agent_id IS NOT NULL;

-- Per-agent token caps (llm_usage/token_settings.py, llm_usage/token_budgets.py).
--
-- token_settings: one row per agent that changed its caps; an agent without a row has the
-- defaults (100,000 a day, 1,000,000 a month, 1,000 output tokens). A NULL limit means none.
-- Caps are spending limits, not behaviour: they are kept apart from agent_versions, so restoring
-- an old version never lifts a limit.
CREATE TABLE token_settings (
    agent_id          uuid PRIMARY KEY REFERENCES agents(id) ON DELETE CASCADE,
    daily_limit       bigint DEFAULT 100000 CHECK (daily_limit >= 0),
    monthly_limit     bigint DEFAULT 1000000 CHECK (monthly_limit >= 0),
    max_output_tokens integer NOT NULL DEFAULT 1000 CHECK (max_output_tokens BETWEEN 1 AND 4000),
    fallback_models   jsonb NOT NULL DEFAULT '[]',
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- One row per agent, period and UTC period start; reserve locks the day row, then the month row,
-- and admits only while used + reserved + need <= token_limit on both (NULL: no limit, still counted).
-- token_limit is the agent's limit as of the latest reservation in the period.
CREATE TABLE token_budgets (
    agent_id    uuid NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    period      text NOT NULL CHECK (period IN ('day', 'month')),
    start       date NOT NULL,
    token_limit bigint CHECK (token_limit >= 0),
    used        bigint NOT NULL DEFAULT 0 CHECK (used >= 0),
    reserved    bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    PRIMARY KEY (agent_id, period, start)
) WITH (fillfactor = 70);

-- A reservation remembers the periods it was taken from, so settling after midnight still frees
-- what it reserved (and counts its tokens) in the day it started. settled_at is set once, by
-- settle, release or the sweeper; used is what settle counted (NULL: released unused).
CREATE TABLE token_reservations (
    id          bigserial PRIMARY KEY,
    agent_id    uuid NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    amount      bigint NOT NULL CHECK (amount > 0),
    day_start   date NOT NULL,
    month_start date NOT NULL,
    expires_at  timestamptz NOT NULL,
    settled_at  timestamptz,
    used        bigint CHECK (used >= 0)
);
CREATE INDEX token_reservations_open ON token_reservations (expires_at) WHERE settled_at IS NULL;

-- Who was told by text that an agent's tokens are spent, once per sender and period: later texts
-- in the same period get no reply at all (llm_usage/token_notices.py).
CREATE TABLE token_limit_notices (
    agent_id  uuid NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    recipient text NOT NULL,
    period    text NOT NULL CHECK (period IN ('day', 'month')),
    start     date NOT NULL,
    sent_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, recipient, period, start)
);

-- The calls not yet ended, for the voice webhook's capacity check ([calls] max_live_calls):
-- a count over this partial index reads only the few rows of calls in progress.
CREATE INDEX calls_not_ended ON calls (started_at) WHERE ended_at IS NULL;

-- Abuse limits shared by every process (widget messages per IP and per conversation, inbound
-- texts per sender and per business number): one GCRA row per key, checked and advanced by a
-- single upsert (conversations/rate_limits.py).
--
-- tat_us is the key's theoretical arrival time in microseconds since the epoch. A row whose
-- tat_us is not ahead of now behaves exactly like no row, so the cleanup job deletes those and
-- the table holds only keys active within their last burst.
--
-- UNLOGGED: no WAL for a row rewritten on every message. A crash empties the table, which only
-- hands every key a fresh burst; the limits protect spend, they are not records.
-- fillfactor leaves room on each page so the per-message update stays a HOT update.
CREATE UNLOGGED TABLE rate_limits (
    key    text PRIMARY KEY,
    tat_us bigint NOT NULL
) WITH (fillfactor = 70);

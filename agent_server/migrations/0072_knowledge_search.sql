-- Full-text search over one agent's chunks without reading other agents' postings or TOAST
-- (knowledge/index.py; bench/knowledge_search.py).
--
-- The agent goes into the GIN index beside the terms (no btree_gin in the embedded PostgreSQL:
-- a one-element uuid[] uses the built-in array_ops), so a question of common words reads only
-- its agent's postings: 0.4 ms instead of 5.8 ms to list 982 matches among 19,377 at 50,000
-- chunks over 20 agents.
--
-- A chunk's vector (about 3.6 KB for 500 tokens) stays in the row, uncompressed, so ranking a
-- candidate is one heap access: by default a row over 2 KB had its vector compressed (pglz,
-- about 8 µs to undo) or moved out of line (about 13 µs to fetch), against about 4 µs for
-- ts_rank_cd itself. With a toast target of 4,080 bytes (two rows a page) the content is
-- compressed and moved out first (STORAGE MAIN keeps the vector for last); only a vector too
-- large for half a page is compressed, and one too large for a page still moves out of line.
ALTER TABLE kb_chunks SET (toast_tuple_target = 4080);
ALTER TABLE kb_chunks ALTER COLUMN tsv SET STORAGE MAIN;
-- A stored generated column is computed again when a column it reads is written: this stores
-- the existing vectors the new way.
UPDATE kb_chunks SET language = language;
DROP INDEX kb_chunks_tsv;
CREATE INDEX kb_chunks_agent_tsv ON kb_chunks USING gin ((ARRAY[agent_id]), tsv);

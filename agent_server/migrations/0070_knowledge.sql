-- The website knowledge base (knowledge/store.py, knowledge/index.py). A source's pages and
-- chunks carry the version they were written for; readers join on the source's
-- active_version, and a crawl writes its new rows and flips that number in one transaction,
-- so a half-indexed source is never seen and a crawl that dies leaves the old one serving.
CREATE TABLE kb_sources (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id          uuid NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    agent_id             uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    kind                 text NOT NULL CHECK (kind IN ('website', 'text')),
    url                  text,
    title                text NOT NULL DEFAULT '',
    max_pages            integer NOT NULL DEFAULT 100 CHECK (max_pages BETWEEN 1 AND 1000),
    max_depth            integer NOT NULL DEFAULT 5 CHECK (max_depth BETWEEN 0 AND 10),
    include              text[] NOT NULL DEFAULT '{}',
    exclude              text[] NOT NULL DEFAULT '{}',
    refresh              text NOT NULL DEFAULT 'never' CHECK (refresh IN ('never', 'daily', 'weekly')),
    active_version       integer NOT NULL DEFAULT 0,
    last_manual_sync_at  timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'website') = (url IS NOT NULL))
);
CREATE INDEX kb_sources_agent ON kb_sources (agent_id, created_at);
CREATE INDEX kb_sources_business ON kb_sources (business_id);

CREATE TABLE kb_crawls (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    source_id    uuid NOT NULL REFERENCES kb_sources (id) ON DELETE CASCADE,
    business_id  uuid NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    status       text NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'completed', 'failed', 'canceled')),
    found        integer NOT NULL DEFAULT 0,
    fetched      integer NOT NULL DEFAULT 0,
    indexed      integer NOT NULL DEFAULT 0,
    unchanged    integer NOT NULL DEFAULT 0,
    skipped      jsonb NOT NULL DEFAULT '[]',
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz
);
CREATE INDEX kb_crawls_source ON kb_crawls (source_id, created_at DESC);
CREATE INDEX kb_crawls_open ON kb_crawls (business_id) WHERE status IN ('queued', 'running');

CREATE TABLE kb_pages (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id      uuid NOT NULL REFERENCES kb_sources (id) ON DELETE CASCADE,
    business_id    uuid NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    version        integer NOT NULL,
    url            text NOT NULL,
    canonical_url  text NOT NULL,
    title          text NOT NULL,
    etag           text,
    last_modified  text,
    content_hash   text NOT NULL,
    text_bytes     integer NOT NULL,
    links          text[] NOT NULL DEFAULT '{}',
    status         text NOT NULL DEFAULT 'indexed' CHECK (status IN ('indexed')),
    fetched_at     timestamptz NOT NULL,
    UNIQUE (source_id, version, canonical_url)
);
CREATE INDEX kb_pages_business ON kb_pages (business_id);

CREATE TABLE kb_chunks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    page_id       bigint NOT NULL REFERENCES kb_pages (id) ON DELETE CASCADE,
    source_id     uuid NOT NULL REFERENCES kb_sources (id) ON DELETE CASCADE,
    business_id   uuid NOT NULL,
    agent_id      uuid NOT NULL,
    version       integer NOT NULL,
    position      integer NOT NULL,
    heading_path  text NOT NULL DEFAULT '',
    title         text NOT NULL,
    url           text,
    content       text NOT NULL,
    language      regconfig NOT NULL DEFAULT 'english',
    tsv           tsvector GENERATED ALWAYS AS (
                      setweight(to_tsvector(language, title || ' ' || heading_path), 'A')
                      || setweight(to_tsvector(language, content), 'B')) STORED
);
CREATE INDEX kb_chunks_tsv ON kb_chunks USING gin (tsv);
CREATE INDEX kb_chunks_agent ON kb_chunks (agent_id, source_id, version);
CREATE INDEX kb_chunks_page ON kb_chunks (page_id);

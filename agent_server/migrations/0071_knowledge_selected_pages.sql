-- A website source may name the exact pages to crawl (the dashboard's selectedPages): each
-- crawl of it, sync and refresh included, fetches those URLs and follows no links. Empty means
-- the whole site, from the start URL and its sitemaps.
ALTER TABLE kb_sources ADD COLUMN page_urls text[] NOT NULL DEFAULT '{}';

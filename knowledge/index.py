"""The `kb_pages` and `kb_chunks` tables: a crawl's result published as a new version, and full-text search.

`publish` runs in one transaction: the new pages and chunks are written under the next
version, unchanged pages (and those a deadline left unvisited) move to it as they are, the rest of the old version is deleted and
the source's `active_version` flips. Searches join on `active_version`, so they see the old
version or the new one, never a mixture.

The chunks' GIN index keeps PostgreSQL's fast update: new entries go to a pending list that
every search reads in full until it is merged (at 4 MB by default), which at 50,000 chunks
made a term's lookup 1.2 ms instead of 0.08. Merging once per publish
(`gin_clean_pending_list`) keeps searches on the merged index; entering each chunk's terms
straight into the index instead (`fastupdate = off`) made publishing 2,500 chunks take 4.6 s
instead of 1.8, and a small pending list 3.8-5.4 s.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Sequence

from knowledge.chunking import Chunk, chunk_markdown, estimate_tokens
from knowledge.crawler import CrawlReport, KnownPage, PageResult
from knowledge.errors import KnowledgeLimitReached
from knowledge.languages import search_config
from knowledge.store import Source
from storage.executor import Connection, Executor
from storage.transactions import transaction


@dataclasses.dataclass(frozen=True)
class Caps:
    max_pages: int
    max_text_bytes: int


@dataclasses.dataclass(frozen=True)
class Hit:
    """One retrieved chunk."""

    chunk_id: int
    title: str
    url: str | None
    heading_path: str
    content: str
    score: float


def _regconfig(param: str) -> str:
    """SQL for the text-search configuration named by `param`, `simple` when this server has none by that name."""
    return (f"coalesce((SELECT oid::regconfig FROM pg_ts_config WHERE cfgname = {param}::text"
            " AND cfgnamespace = 'pg_catalog'::regnamespace), 'simple'::regconfig)")


async def agent_search_config(db: Executor, agent_id: uuid.UUID) -> str:
    """The text-search configuration of the agent's language (`knowledge.languages`), `simple` when it is gone."""
    language = await db.fetchval("SELECT language FROM agents WHERE id = $1", agent_id)
    return search_config(language or "")


async def known_pages(db: Executor, source: Source) -> dict[str, KnownPage]:
    rows = await db.fetch("SELECT url, etag, last_modified, content_hash, links FROM kb_pages"
                          " WHERE source_id = $1 AND version = $2", source.id, source.active_version)
    return {r["url"]: KnownPage(r["url"], r["etag"], r["last_modified"], r["content_hash"], tuple(r["links"]))
            for r in rows}


async def usage(db: Executor, business_id: uuid.UUID, *, excluding: uuid.UUID | None = None) -> tuple[int, int]:
    """Pages and text bytes the business holds in active versions (optionally leaving one source out)."""
    row = await db.fetchrow(
        "SELECT count(*) AS pages, coalesce(sum(p.text_bytes), 0) AS bytes FROM kb_pages p"
        " JOIN kb_sources s ON s.id = p.source_id AND p.version = s.active_version"
        " WHERE p.business_id = $1 AND ($2::uuid IS NULL OR p.source_id <> $2)", business_id, excluding)
    assert row is not None
    return int(row["pages"]), int(row["bytes"])


async def check_room(db: Executor, business_id: uuid.UUID, caps: Caps) -> None:
    """Raises KnowledgeLimitReached when the business is already at a cap (no new source may start)."""
    pages, text_bytes = await usage(db, business_id)
    if pages >= caps.max_pages or text_bytes >= caps.max_text_bytes:
        raise KnowledgeLimitReached(f"the business holds {pages} pages and {text_bytes} bytes of text"
                                    f" (caps {caps.max_pages} and {caps.max_text_bytes})")


async def _insert_page(conn: Connection, source: Source, version: int, page: PageResult, *, language: str,
                       now: datetime.datetime) -> None:
    page_id = await conn.fetchval(
        "INSERT INTO kb_pages (source_id, business_id, version, url, canonical_url, title, etag, last_modified,"
        " content_hash, text_bytes, links, fetched_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        " RETURNING id", source.id, source.business_id, version, page.url, page.canonical_url, page.title,
        page.etag, page.last_modified, page.content_hash, page.text_bytes, list(page.links), now)
    url = None if source.kind == "text" else page.canonical_url
    await conn.executemany(
        "INSERT INTO kb_chunks (page_id, source_id, business_id, agent_id, version, position, heading_path, title,"
        f" url, content, language) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, {_regconfig('$11')})",
        [(page_id, source.id, source.business_id, source.agent_id, version, c.position, " > ".join(c.heading_path),
          page.title, url, c.content, language) for c in page.chunks])


async def publish(db: Executor, source: Source, report: CrawlReport, *, caps: Caps, language: str,
                  now: datetime.datetime) -> int:
    """Write the crawl's pages as the source's next version and make it the active one, all at once.

    A crawl that changed nothing (every page unchanged, none gone) writes nothing.

    Returns:
        The active version afterwards.

    Raises:
        KnowledgeLimitReached: the business would hold more pages or text than its caps.
    """
    async with transaction(db) as conn:
        current = await conn.fetchval("SELECT active_version FROM kb_sources WHERE id = $1 FOR UPDATE", source.id)
        old_count = await conn.fetchval("SELECT count(*) FROM kb_pages WHERE source_id = $1 AND version = $2",
                                        source.id, current)
        kept_urls = report.unchanged + report.carried
        if not report.pages and len(kept_urls) == old_count and current > 0:
            return int(current)
        pages, text_bytes = await usage(conn, source.business_id, excluding=source.id)
        kept_bytes = await conn.fetchval(
            "SELECT coalesce(sum(text_bytes), 0) FROM kb_pages WHERE source_id = $1 AND version = $2"
            " AND url = ANY($3::text[])", source.id, current, kept_urls)
        pages += len(report.pages) + len(kept_urls)
        text_bytes += int(kept_bytes) + sum(p.text_bytes for p in report.pages)
        if pages > caps.max_pages or text_bytes > caps.max_text_bytes:
            raise KnowledgeLimitReached(f"the business would hold {pages} pages and {text_bytes} bytes of text"
                                        f" (caps {caps.max_pages} and {caps.max_text_bytes})")
        version = int(current) + 1
        for page in report.pages:
            await _insert_page(conn, source, version, page, language=language, now=now)
        moved = await conn.fetch("UPDATE kb_pages SET version = $3 WHERE source_id = $1 AND version = $2"
                                 " AND url = ANY($4::text[]) RETURNING id", source.id, current, version,
                                 kept_urls)
        await conn.execute("UPDATE kb_chunks SET version = $2 WHERE page_id = ANY($1::bigint[])",
                           [r["id"] for r in moved], version)
        await conn.execute("DELETE FROM kb_pages WHERE source_id = $1 AND version < $2", source.id, version)
        await conn.execute("UPDATE kb_sources SET active_version = $2 WHERE id = $1", source.id, version)
        if report.pages:
            await conn.execute("SELECT gin_clean_pending_list('kb_chunks_agent_tsv'::regclass)")
        return version


def text_page(source: Source, title: str, content: str) -> PageResult:
    """A text source as the one page it is."""
    chunks: tuple[Chunk, ...] = tuple(chunk_markdown(content))
    return PageResult(url=f"text:{source.id}", canonical_url=f"text:{source.id}", title=title, etag=None,
                      last_modified=None, content_hash="", text_bytes=len(content.encode()), chunks=chunks, links=())


# A chunk's score: how many of the question's terms it holds, plus a rank squashed into [0, 1) to
# order chunks holding as many. Counting terms first matters for the OR query: a spoken or typed
# question carries words no page has ("made", "receive"), and by ts_rank_cd alone the chunks that
# repeat its most common term ("invoice") outrank the one holding three of its rarer ones.
# (The AND query's chunks hold every term: their count is the question's, no need to count per chunk.)
# The rank is ts_rank_cd (cover density) for the AND query and the cheaper ts_rank (term frequency)
# for the OR query, where it only orders chunks holding as many terms: the help-centre questions
# score 95 % either way, and the OR searches of bench/knowledge_search.py take a quarter less CPU.
#
# Each stage ranks a bounded set of candidates. A question made of common words matches most of an
# agent's chunks, and reading and ranking each match's vector is what a search costs (about 4 µs a
# chunk, 8 more when the vector is compressed): ranking all 2,500 chunks of an agent took p99 58 ms
# (bench/knowledge_search.py). So the AND stage ranks the first RANKED_CANDIDATES matches in index
# order, and the OR stage the first matches of each term (an equal share of RANKED_CANDIDATES, at
# least one): every chunk holding a rare term is ranked, and only the matches of a term common
# enough to fill its share are cut. The cost: when more chunks hold every term than are ranked, the
# best of those ranked wins, not necessarily the best of all (such terms say little about which is).
# The index (0072) holds the agent beside the terms, so a search reads only its agent's postings.
RANKED_CANDIDATES = 100

_CANDIDATE = ("SELECT c.* FROM kb_chunks c JOIN kb_sources s ON s.id = c.source_id AND s.active_version = c.version"
              " WHERE s.agent_id = $1 AND ARRAY[c.agent_id] @> ARRAY[$1::uuid] AND c.tsv @@ {query} LIMIT {limit}")
_RANKED = ("SELECT c.id, c.title, c.url, c.heading_path, c.content, ({held})::float8 AS held,"
           " {rank}(c.tsv, q.q) AS rank FROM ({question} OFFSET 0) q, {candidates}"
           " ORDER BY held DESC, rank DESC, c.id LIMIT $3")
# All the terms: websearch_to_tsquery of the question; every chunk holds as many terms as the question has.
_ALL_TERMS = _RANKED.format(
    held="q.held", rank="ts_rank_cd",
    question="SELECT websearch_to_tsquery({config}, $4) AS q, length(to_tsvector({config}, $4)) AS held",
    candidates="LATERAL (" + _CANDIDATE.format(query="q.q", limit="$5") + ") c")
# Any term: the OR of the question's lexemes (quoted, already normalised: 'simple'), candidates per lexeme.
_ANY_TERM = _RANKED.format(
    held="SELECT count(*) FROM unnest(q.terms) term WHERE c.tsv @@ term", rank="ts_rank",
    question=("SELECT to_tsquery('simple', string_agg(quote_literal(lexeme), ' | ')) AS q,"
              " array_agg(to_tsquery('simple', quote_literal(lexeme))) AS terms,"
              " greatest($5 / nullif(count(*), 0), 1) AS per_term FROM unnest(to_tsvector({config}, $4))"),
    candidates=("LATERAL (SELECT DISTINCT m.id FROM unnest(q.terms) term, LATERAL ("
                + _CANDIDATE.format(query="term", limit="q.per_term")
                + ") m) ids JOIN kb_chunks c ON c.id = ids.id"))


async def search(db: Executor, agent_id: uuid.UUID, text: str, *, language: str, limit: int) -> list[Hit]:
    """The agent's best chunks for `text`: all its terms first; when that finds nothing, any of them.

    `language` is the text-search configuration the agent's chunks were indexed with
    (`knowledge.languages.search_config` of the agent's language), so the question is stemmed alike.

    Returns:
        At most `limit` hits, best first (score: terms held, then the rank).
    """
    config = _regconfig("$2")
    rows = await db.fetch(_ALL_TERMS.format(config=config), agent_id, language, limit, text, RANKED_CANDIDATES)
    if not rows:
        rows = await db.fetch(_ANY_TERM.format(config=config), agent_id, language, limit, text, RANKED_CANDIDATES)
    return [Hit(r["id"], r["title"], r["url"], r["heading_path"], r["content"],
                r["held"] + r["rank"] / (1 + r["rank"])) for r in rows]


def within_budget(hits: Sequence[Hit], max_tokens: int) -> list[Hit]:
    """The hits, best first, that fit `max_tokens` estimated tokens together (the best one always)."""
    kept: list[Hit] = []
    total = 0
    for hit in hits:
        cost = estimate_tokens(hit.content)
        if kept and total + cost > max_tokens:
            break
        kept.append(hit)
        total += cost
    return kept

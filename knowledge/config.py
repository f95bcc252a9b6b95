"""The `[knowledge]` config section: crawler politeness and limits, per-business caps, retrieval.

The text-search language is not a setting: each agent's chunks are indexed and searched in
its own language (`knowledge.languages`). `[knowledge.embeddings]` turns on vectors beside
full-text search (`knowledge.hybrid`).
"""

from __future__ import annotations

import dataclasses

from config_fields import check, non_negative, positive, url


def _url_or_empty(value: str) -> str:
    return url(value) if value else value


@dataclasses.dataclass(frozen=True)
class EmbeddingsConfig:
    """`[knowledge.embeddings]`: off while `model` is empty.

    The API key is the LLM's (`OPENAI_API_KEY`, `[openai]`): an OpenAI account serves both, and a
    self-hosted OpenAI-compatible server usually ignores it.
    """

    # The embeddings model (e.g. text-embedding-3-small); empty: full-text search alone.
    model: str = ""
    # The OpenAI-compatible API the vectors come from (`POST {base_url}/embeddings`); empty: `[openai] base_url`.
    base_url: str = check(_url_or_empty, "")
    # Sent as `dimensions` when positive (text-embedding-3 models shorten their vectors); 0: the model's own.
    dimensions: int = check(non_negative, 0)
    # Chunks per request when a published version is embedded.
    batch_size: int = check(positive, 64)
    # One request of the embedding job (a failure is retried by the job, never fails the crawl).
    timeout_seconds: float = check(positive, 30.0)
    # The vector side of a question's search (its vector, the nearest chunks) on SMS and the widget;
    # beyond it the answer is grounded by full-text search alone. Calls: half `call_retrieval_budget_ms`.
    query_timeout_seconds: float = check(positive, 1.0)


@dataclasses.dataclass(frozen=True)
class KnowledgeConfig:
    # Host names or IP literals the crawler may reach although they are private (tests: 127.0.0.1).
    allowed_private_hosts: tuple[str, ...] = ()
    # Politeness towards one host: at most one request per this many seconds (robots.txt's
    # Crawl-delay, when longer, wins) and this many connections at once.
    request_interval_seconds: float = check(positive, 1.0)
    connections_per_host: int = check(positive, 2)
    # One response: at most this many bytes (streamed, aborted beyond), this long, this many redirects.
    max_response_bytes: int = check(positive, 2 * 1024 * 1024)
    response_timeout_seconds: float = check(positive, 10.0)
    max_redirects: int = check(positive, 5)
    # A crawl ends cleanly (what it fetched is indexed) after this long.
    crawl_deadline_seconds: float = check(positive, 600.0)
    # Per business, over all its agents' sources.
    max_pages_per_business: int = check(positive, 2000)
    max_text_bytes_per_business: int = check(positive, 20 * 1024 * 1024)
    max_running_crawls_per_business: int = check(positive, 3)
    # A manual sync of one source at most this often.
    sync_cooldown_seconds: float = check(positive, 900.0)
    # Processes that extract text from HTML (never on the event loop that carries calls).
    extraction_workers: int = check(positive, 1)
    # Chunks handed to the model per answer.
    top_chunks: int = check(positive, 4)
    # A call's answer waits at most this long for the knowledge search; beyond, it goes without (logged).
    call_retrieval_budget_ms: float = check(positive, 20.0)
    # Vectors fused with full-text search (the `[knowledge.embeddings]` table).
    embeddings: EmbeddingsConfig = EmbeddingsConfig()

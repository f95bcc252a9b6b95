"""The knowledge base's typed errors; the shell maps each to a status and code once."""

from __future__ import annotations


class UrlNotAllowed(Exception):
    """A URL's scheme, or an address its host resolves to, is one the crawler never reaches (422)."""


class KnowledgeLimitReached(Exception):
    """The business already holds as many pages or as much text as its cap allows (409)."""


class CrawlRunning(Exception):
    """The source already has a crawl queued or running (409)."""


class SyncTooSoon(Exception):
    """A manual sync came within the cool-down of the previous one (429)."""


class TooManyCrawls(Exception):
    """The business has as many crawls running as it may (429)."""

"""Politeness per host: requests start at most once per interval, whatever the number of connections."""

from __future__ import annotations

import asyncio
import time


class HostPacer:
    """Spaces the start of requests to each host by `interval` seconds (a host's Crawl-delay may raise it)."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._delays: dict[str, float] = {}
        self._next: dict[str, float] = {}

    def set_delay(self, host: str, seconds: float) -> None:
        """The host asked for a longer wait (robots.txt Crawl-delay); a shorter one is ignored."""
        self._delays[host] = max(seconds, self._interval)

    async def wait(self, host: str) -> None:
        """Return when a request to `host` may start; the next one's turn is reserved at once."""
        now = time.monotonic()
        start = max(now, self._next.get(host, now))
        self._next[host] = start + self._delays.get(host, self._interval)
        if start > now:
            await asyncio.sleep(start - now)

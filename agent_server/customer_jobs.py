"""The shell's side of customers: the handler of the `customers.send_links` job for the runner."""

from __future__ import annotations

import asyncpg

from agent_server.config import Settings
from customers.link_requests import SEND_LINKS_KIND, SendLinks
from jobs.runner import Handler


def handlers(settings: Settings, pool: asyncpg.Pool) -> dict[str, Handler]:
    return {SEND_LINKS_KIND: SendLinks(pool, settings.customers)}

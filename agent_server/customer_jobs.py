"""The shell's side of customers: the `customers.send_links` handler, and the keys of the summaries' unsubscribe
links and of the tickets' reply addresses (each derived from the JWT secret for its purpose alone)."""

from __future__ import annotations

import hashlib

import asyncpg

from agent_server.config import Settings
from customers import weekly_summary
from customers.link_requests import SEND_LINKS_KIND, SendLinks
from customers.reply_addresses import ReplyAddresses
from jobs.runner import Handler


def handlers(settings: Settings, pool: asyncpg.Pool) -> dict[str, Handler]:
    return {SEND_LINKS_KIND: SendLinks(pool, settings.customers)}


def summary_links(settings: Settings) -> weekly_summary.Links:
    """The customers' weekly-summary unsubscribe links: under PUBLIC_URL, signed with a key derived from the JWT
    secret for this purpose alone (never sent anywhere)."""
    secret = hashlib.sha256(b"customer-weekly-summary-unsubscribe:" + settings.auth.jwt_secret.encode()).digest()
    return weekly_summary.Links(settings.server.public_url, secret)


def reply_addresses(settings: Settings) -> ReplyAddresses | None:
    """The tickets' reply addresses when inbound mail is on (`[customers] inbound_domain`), else None."""
    domain = settings.customers.inbound_domain
    if not domain:
        return None
    return ReplyAddresses(domain, hashlib.sha256(b"ticket-reply-address:" + settings.auth.jwt_secret.encode()).digest())

"""`agent-server inbound-smtp`: an SMTP server (aiosmtpd) for requesters' replies to tickets' reply addresses.

Put it behind the MX of `[customers] inbound_domain` (it speaks plain SMTP on its port; TLS and
spam filtering are the front MTA's job). A recipient that is not a reply address this server
signed (`customers.reply_addresses`), another domain's included, is refused at RCPT with 550
and logged, so the server relays nothing and never accepts mail it would drop for a forged
address. An accepted message joins each ticket it is addressed to (`customers.inbound_mail`);
a database error answers 451, so the sending MTA retries and the Message-ID dedupe keeps the
retry from appending twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import email.policy
import signal
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.parser import BytesParser

import asyncpg
import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from agent_server.config import ConfigError, Settings
from agent_server.customer_jobs import reply_addresses
from agent_server.db import database_url
from agent_server.routes.tickets import mail_domain
from customers import inbound_mail
from customers.reply_addresses import ReplyAddresses
from storage.pool import create_pool

log = structlog.get_logger(__name__)

# A reply is text of at most 10,000 characters; 5 MB leaves room for HTML, quotes and attachments we drop.
DATA_LIMIT = 5 * 1024 * 1024
MAX_RECIPIENTS = 10


class ReplyHandler:
    """aiosmtpd's handler: RCPT checks the reply address, DATA appends the reply to its tickets."""

    def __init__(self, pool: asyncpg.Pool, addresses: ReplyAddresses, mail_domain: str) -> None:
        self._pool = pool
        self._addresses = addresses
        self._mail_domain = mail_domain

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if self._addresses.ticket_of(address) is None:
            domain = address.rpartition("@")[2].lower()
            log.warning("inbound_reply_refused", reason="forged" if domain == self._addresses.domain else "relay",
                        domain=domain, peer=str(session.peer))
            return "550 5.1.1 no such mailbox"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        message = BytesParser(policy=email.policy.default).parsebytes(content)
        assert isinstance(message, EmailMessage)
        tickets: list[uuid.UUID] = [t for t in dict.fromkeys(map(self._addresses.ticket_of, envelope.rcpt_tos)) if t]
        try:
            for ticket_id in tickets:
                await inbound_mail.append_reply(self._pool, ticket_id, message, now=datetime.datetime.now(datetime.UTC),
                                                mail_domain=self._mail_domain)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("inbound_reply_deferred", error=str(exc))
            return "451 4.3.0 try again later"
        return "250 2.0.0 accepted"


def addresses_for(settings: Settings) -> ReplyAddresses:
    """Raises: ConfigError when inbound mail is off (no `[customers] inbound_domain`)."""
    addresses = reply_addresses(settings)
    if addresses is None:
        raise ConfigError("customers.inbound_domain (CUSTOMER_INBOUND_DOMAIN) must be set for inbound-smtp")
    return addresses


@contextlib.asynccontextmanager
async def serving(settings: Settings, pool: asyncpg.Pool, host: str, port: int) -> AsyncIterator[asyncio.Server]:
    """The SMTP server on `host:port` (0: a free port) for the block."""
    addresses = addresses_for(settings)
    handler = ReplyHandler(pool, addresses, mail_domain(settings))
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(handler, hostname=addresses.domain, data_size_limit=DATA_LIMIT, ident="agent-server inbound"),
        host, port)
    try:
        yield server
    finally:
        server.close()
        await server.wait_closed()


async def run(settings: Settings, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT."""
    addresses_for(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    pool = await create_pool(database_url(settings.database), settings.database)
    try:
        async with serving(settings, pool, host, port):
            log.info("inbound_smtp_started", host=host, port=port, domain=settings.customers.inbound_domain)
            await stop.wait()
    finally:
        await pool.close()

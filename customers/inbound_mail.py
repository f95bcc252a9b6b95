"""A requester's emailed reply to a ticket: the reply address checked, the quoted thread cut off, appended once.

`agent-server inbound-smtp` hands each accepted message here. The reply joins the ticket named
by its reply address (`customers.reply_addresses`: a forged or foreign address never gets
here, the SMTP server refuses it at RCPT) as a `customer` message, which reopens a resolved
ticket and is mailed to the business like a reply written in the portal. Dropped, and logged:
mail whose From is not the ticket's requester (the signed address may have been forwarded),
a closed ticket's (the person opens a new ticket), and a reply with no text of its own.

Deduplication: the stored Message-ID of an emailed reply is derived from the email's own
(`<ticket.in.<sha256>@mail_domain>`), and Message-IDs are unique, so the same email delivered
twice (a retry, two recipients on one ticket) is appended once. The From check is a check of
a header: the 80-bit MAC of the address is the protection, the From check keeps a reply-all
by someone else out of the requester's thread.
"""

from __future__ import annotations

import datetime
import email.utils
import hashlib
import html
import re
import uuid
from email.message import EmailMessage
from typing import Literal

import asyncpg
import structlog

from customers import tickets
from customers.ticket_errors import TicketClosed, TicketNotFound
from storage.executor import Executor

log = structlog.get_logger(__name__)

Outcome = Literal["appended", "duplicate", "wrong_sender", "closed", "empty", "unknown_ticket"]

# Where the quoted thread or a signature starts: everything from that line on is cut.
_CUT_AT = (
    re.compile(r"\s*>"),
    re.compile(r"\s*-{2,}\s*Original Message\s*-{2,}", re.IGNORECASE),
    re.compile(r"\s*_{10,}\s*$"),
    re.compile(r"\s*From:\s.*@"),
    re.compile(r"-- $"),
)
# "On Tue, 8 Dec 2026 at 10:00, Bakery <...> wrote:", which mail clients wrap over two lines.
_ON_WROTE = re.compile(r"\s*On\s.*\swrote:\s*$")


def _quote_starts(lines: list[str], i: int) -> bool:
    line = lines[i]
    if any(p.match(line) for p in _CUT_AT) or _ON_WROTE.match(line):
        return True
    if not line.lstrip().startswith("On ") or i + 1 >= len(lines) or _ON_WROTE.match(lines[i + 1]):
        return False
    # Wrapped: a dated first line ("On Tue, 8 Dec 2026 at 10:00, Bakery") ending "... wrote:" on the next.
    return bool(re.search(r"\d", line)) and bool(_ON_WROTE.match(f"{line} {lines[i + 1]}"))


def reply_text(message: EmailMessage) -> str:
    """The new text of a reply: its plain part (tags dropped from an HTML-only one), cut where quoting starts."""
    part = message.get_body(("plain", "html"))
    if part is None:
        return ""
    text = str(part.get_content())
    if part.get_content_type() == "text/html":
        text = re.sub(r"(?is)<(script|style|blockquote)\b.*?</\1>", "", text)
        text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", text)
        text = html.unescape(re.sub(r"<[^>]+>", "", text))
    lines = text.replace("\r\n", "\n").split("\n")
    cut = next((i for i in range(len(lines)) if _quote_starts(lines, i)), len(lines))
    return "\n".join(lines[:cut]).strip()[:tickets.TEXT_MAX].strip()


def stored_message_id(inbound_id: str, mail_domain: str) -> str:
    """The Message-ID an emailed reply is stored under: the same email always gives the same one."""
    return f"<ticket.in.{hashlib.sha256(inbound_id.strip().encode()).hexdigest()[:32]}@{mail_domain}>"


def _sender(message: EmailMessage) -> str:
    return email.utils.parseaddr(str(message.get("From", "")))[1].strip().lower()


async def append_reply(db: Executor, ticket_id: uuid.UUID, message: EmailMessage, *, now: datetime.datetime,
                       mail_domain: str) -> Outcome:
    """Append an emailed reply to ticket `ticket_id` (from a checked reply address); what became of it."""
    row = await db.fetchrow("SELECT business_id, requester_email FROM support_tickets WHERE id = $1", ticket_id)
    bound = log.bind(ticket_id=str(ticket_id))
    if row is None:
        bound.warning("inbound_reply_dropped", reason="unknown_ticket")
        return "unknown_ticket"
    if not row["requester_email"] or _sender(message) != row["requester_email"].lower():
        bound.warning("inbound_reply_dropped", reason="wrong_sender")
        return "wrong_sender"
    text = reply_text(message)
    if not text:
        bound.info("inbound_reply_dropped", reason="empty")
        return "empty"
    inbound_id = str(message.get("Message-ID", "")).strip()
    stored = stored_message_id(inbound_id, mail_domain) if inbound_id else None
    if stored and await db.fetchval("SELECT EXISTS (SELECT 1 FROM support_ticket_messages WHERE message_id = $1)",
                                    stored):
        bound.info("inbound_reply_dropped", reason="duplicate")
        return "duplicate"
    try:
        await tickets.add_message(db, row["business_id"], ticket_id, "customer", text, now=now,
                                  mail_domain=mail_domain, message_id=stored)
    except TicketClosed:
        bound.info("inbound_reply_dropped", reason="closed")
        return "closed"
    except TicketNotFound:
        return "unknown_ticket"
    except asyncpg.UniqueViolationError:
        return "duplicate"  # the same email, appended by a delivery running at the same moment
    bound.info("inbound_reply_appended")
    return "appended"

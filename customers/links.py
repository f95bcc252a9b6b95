"""Single-use sign-in links: issued and mailed through the outbox, exchanged once for a portal session.

The token (`secrets.token_urlsafe(32)`, 256 bits) exists only in the email: the table keeps its
SHA-256, so a database dump opens nothing, and nothing logs it. The link puts it in the URL's
fragment (`{portal_url}/login#token=...`), which browsers send to no server and no Referer, and
a GET never consumes it (mail scanners prefetch links): the portal page posts it. The exchange
is one conditional `UPDATE ... WHERE used_at IS NULL AND expires_at > now() RETURNING`, so of
two simultaneous uses the row lock lets exactly one through; the session and the customer's
sign-in are written by the same statement (one round trip). Link times are the database's clock, like the check that reads them.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import secrets
import uuid
from typing import Literal

from customers.config import CustomersConfig
from customers.errors import LinkExpired, LinkUnknown
from customers.records import Customer
from mail import outbox
from mail.rendering import render
from storage.executor import Executor
from storage.transactions import transaction

Purpose = Literal["invite", "login"]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def link_url(config: CustomersConfig, token: str) -> str:
    return f"{config.portal_url}/login#token={token}"


async def issue(db: Executor, customer: Customer, purpose: Purpose, config: CustomersConfig, *,
                now: datetime.datetime) -> uuid.UUID:
    """Store a new link's hash and queue its email in one transaction; returns the link's id."""
    token = new_token()
    async with transaction(db) as conn:
        link_id: uuid.UUID = await conn.fetchval(
            "INSERT INTO customer_login_links (customer_id, token_hash, purpose, created_at, expires_at)"
            " VALUES ($1, $2, $3, now(), now() + make_interval(mins => $4)) RETURNING id",
            customer.id, token_hash(token), purpose, config.link_minutes)
        business_name = await conn.fetchval("SELECT name FROM businesses WHERE id = $1", customer.business_id)
        content = render("customer_sign_in", {
            "purpose": purpose, "business_name": business_name, "full_name": customer.full_name,
            "link": link_url(config, token), "minutes": config.link_minutes})
        await outbox.enqueue(conn, content, recipient=customer.email, dedupe_key=f"customer-link:{link_id}",
                             now=now, business_id=customer.business_id)
    return link_id


# The exchange in one statement (one round trip, its own transaction): use the link if it is live, open the
# session, mark the customer active and signed in, and return both (the customer as updated, with its agents).
_EXCHANGE = (
    "WITH used AS (UPDATE customer_login_links l SET used_at = now() FROM customers c"
    " WHERE l.token_hash = $1 AND l.used_at IS NULL AND l.revoked_at IS NULL AND l.expires_at > now()"
    " AND c.id = l.customer_id AND c.status <> 'disabled' RETURNING l.id, l.customer_id, c.business_id),"
    " session AS (INSERT INTO customer_sessions (customer_id, business_id, link_id, created_at, expires_at)"
    " SELECT customer_id, business_id, id, now(), now() + make_interval(hours => $2) FROM used"
    " RETURNING id, customer_id, expires_at),"
    " signed_in AS (UPDATE customers c SET status = 'active', last_login = now(), updated_at = now() FROM used"
    " WHERE c.id = used.customer_id RETURNING c.*)"
    " SELECT s.id AS session_id, s.expires_at AS session_expires_at, c.id, c.business_id, c.email, c.full_name,"
    " c.company_name, c.status, c.weekly_summary_enabled, c.last_login, c.created_at,"
    " coalesce((SELECT array_agg(a.agent_id ORDER BY a.created_at, a.agent_id) FROM customer_agent_assignments a"
    " JOIN agents g ON g.id = a.agent_id AND g.deleted_at IS NULL WHERE a.customer_id = c.id), '{}') AS agent_ids"
    " FROM session s JOIN signed_in c ON c.id = s.customer_id"
)


@dataclasses.dataclass(frozen=True)
class Exchanged:
    """A link exchanged: the session it opened and its end."""

    session_id: uuid.UUID
    customer_id: uuid.UUID
    business_id: uuid.UUID
    expires_at: datetime.datetime
    customer: Customer


async def exchange(db: Executor, token: str, config: CustomersConfig) -> Exchanged:
    """Use the link once: open a session, mark the customer active and signed in.

    Raises:
        LinkExpired: the link was used, revoked (customer disabled) or is past its expiry.
        LinkUnknown: no link has this token.
    """
    digest = token_hash(token)
    row = await db.fetchrow(_EXCHANGE, digest, config.session_hours)
    if row is None:
        known = await db.fetchval("SELECT true FROM customer_login_links WHERE token_hash = $1", digest)
        raise LinkExpired("this sign-in link was used or has expired") if known else LinkUnknown("unknown link")
    values = dict(row)
    session_id, expires_at = values.pop("session_id"), values.pop("session_expires_at")
    values["agent_ids"] = tuple(values["agent_ids"])
    customer = Customer(**values)
    return Exchanged(session_id, customer.id, customer.business_id, expires_at, customer)


async def renewal_target(db: Executor, digest: bytes) -> tuple[uuid.UUID, uuid.UUID] | None:
    """Mark a used or expired link as renewed, once; the (business, customer) to mail a fresh one to.

    None for a live link (it still works), an unknown or revoked one, an already renewed one,
    or a disabled customer's.
    """
    row = await db.fetchrow(
        "UPDATE customer_login_links l SET renewed_at = now() FROM customers c"
        " WHERE l.token_hash = $1 AND l.renewed_at IS NULL AND l.revoked_at IS NULL"
        " AND (l.used_at IS NOT NULL OR l.expires_at <= now())"
        " AND c.id = l.customer_id AND c.status <> 'disabled' RETURNING c.business_id, c.id", digest)
    return None if row is None else (row["business_id"], row["id"])

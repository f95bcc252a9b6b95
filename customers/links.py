"""Single-use sign-in links: issued and mailed through the outbox, exchanged once for a portal session.

The token (`secrets.token_urlsafe(32)`, 256 bits) exists only in the email: the table keeps its
SHA-256, so a database dump opens nothing, and nothing logs it. The link puts it in the URL's
fragment (`{portal_url}/login#token=...`), which browsers send to no server and no Referer, and
a GET never consumes it (mail scanners prefetch links): the portal page posts it. The exchange
is one conditional `UPDATE ... WHERE used_at IS NULL AND expires_at > now() RETURNING`, so of
two simultaneous uses the row lock lets exactly one through; the session is written in the
same transaction. Link times are the database's clock, like the check that reads them.
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
from customers.records import Customer, find
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
    async with transaction(db) as conn:
        row = await conn.fetchrow(
            "UPDATE customer_login_links l SET used_at = now() FROM customers c"
            " WHERE l.token_hash = $1 AND l.used_at IS NULL AND l.revoked_at IS NULL AND l.expires_at > now()"
            " AND c.id = l.customer_id AND c.status <> 'disabled'"
            " RETURNING l.id, l.customer_id, c.business_id", digest)
        if row is None:
            known = await conn.fetchval("SELECT true FROM customer_login_links WHERE token_hash = $1", digest)
            raise LinkExpired("this sign-in link was used or has expired") if known else LinkUnknown("unknown link")
        session = await conn.fetchrow(
            "INSERT INTO customer_sessions (customer_id, business_id, link_id, created_at, expires_at)"
            " VALUES ($1, $2, $3, now(), now() + make_interval(hours => $4)) RETURNING id, expires_at",
            row["customer_id"], row["business_id"], row["id"], config.session_hours)
        assert session is not None
        await conn.execute("UPDATE customers SET status = 'active', last_login = now(), updated_at = now()"
                           " WHERE id = $1", row["customer_id"])
        customer = await find(conn, row["business_id"], row["customer_id"])
        assert customer is not None
        return Exchanged(session["id"], row["customer_id"], row["business_id"], session["expires_at"], customer)


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

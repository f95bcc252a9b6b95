"""Shared abuse limits in PostgreSQL: one GCRA row per key, one statement per check.

Every process checks the same row, so `serve --workers N` (or N hosts) admits what one
process would, not N times as much. The upsert below is `conversations.gcra.admit` in SQL:
it inserts a fresh key as admitted, or advances its TAT only when the message passes (a
refused message matches no row to update, so nothing is returned and nothing changes). The
row lock the upsert takes serialises concurrent checks of one key; the clock is the
database's, so processes on hosts with skewed clocks still agree.
"""

from __future__ import annotations

import enum

from conversations.config import MessagingConfig
from conversations.gcra import Limit
from storage.executor import Executor

CLEANUP_INTERVAL_SECONDS = 60.0
"""How often idle rows are deleted; the table holds at most the keys seen within a burst plus this."""

_NOW_US = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"

# $1 key, $2 interval (us), $3 tolerance (us), $4 now (us) or NULL for the database clock.
# `excluded.tat_us - $2` is this check's `now`: the insert proposes now + interval.
_CHECK = (
    f"INSERT INTO rate_limits AS r (key, tat_us) SELECT $1, coalesce($4::bigint, {_NOW_US}) + $2::bigint"
    " ON CONFLICT (key) DO UPDATE SET tat_us = greatest(r.tat_us, excluded.tat_us - $2::bigint) + $2::bigint"
    " WHERE greatest(r.tat_us, excluded.tat_us - $2::bigint) - (excluded.tat_us - $2::bigint) <= $3::bigint"
    " RETURNING tat_us"
)


class Scope(enum.StrEnum):
    """What a key counts; also the `scope` label of the refusal metric."""

    WIDGET_CONVERSATION = "widget_conversation"
    WIDGET_IP = "widget_ip"
    SMS_SENDER = "sms_sender"
    SMS_NUMBER = "sms_number"
    CONTACT_IP = "contact_ip"
    PROVIDER_CHECK = "provider_check"
    FORM_IP = "form_ip"
    CUSTOMER_LINK_IP = "customer_link_ip"
    CUSTOMER_EXCHANGE_IP = "customer_exchange_ip"
    PREVIEW_USER = "preview_user"


def limits(messaging: MessagingConfig) -> dict[Scope, Limit]:
    """Each scope's limit from the `[messaging]` section."""
    return {
        Scope.WIDGET_CONVERSATION: Limit(messaging.conversation_messages_per_minute, messaging.conversation_burst),
        Scope.WIDGET_IP: Limit(messaging.ip_messages_per_minute, messaging.ip_burst),
        Scope.SMS_SENDER: Limit(messaging.sms_sender_messages_per_minute, messaging.sms_sender_burst),
        Scope.SMS_NUMBER: Limit(messaging.sms_number_messages_per_minute, messaging.sms_number_burst),
    }


async def allow(db: Executor, scope: Scope, subject: str, limit: Limit, *, now_us: int | None = None) -> bool:
    """Whether one more message for `subject` in `scope` passes; a passing message is counted.

    Args:
        db: a pool or connection (the check commits on its own unless inside the caller's transaction).
        scope: what is counted, so one subject string in two scopes gets two keys.
        subject: the IP, conversation id or number being limited.
        limit: the rate and burst to apply now (not stored: a config change applies at once).
        now_us: the time in microseconds; None (production) uses the database's clock.
    """
    tat = await db.fetchval(_CHECK, f"{scope}:{subject}", limit.interval_us, limit.tolerance_us, now_us)
    return tat is not None


async def forget_idle(db: Executor, *, now_us: int | None = None) -> int:
    """Delete the rows that behave like no row (TAT not ahead of now); returns how many."""
    status: str = await db.execute(
        f"DELETE FROM rate_limits WHERE tat_us <= coalesce($1::bigint, {_NOW_US})", now_us)
    return int(status.rsplit(" ", 1)[1])

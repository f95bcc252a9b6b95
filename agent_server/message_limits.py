"""The shared abuse limits as the routes use them: check scopes in order, count and log a refusal.

The limits live in PostgreSQL (`conversations.rate_limits`), so every worker process sees
the same count. Scopes are checked narrowest first and stop at the first refusal, so one
noisy conversation or sender spends its own budget, not its IP's or its number's.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from aiohttp import web

from agent_server.metrics import METRICS
from agent_server.state import POOL, SETTINGS
from conversations import rate_limits
from conversations.rate_limits import Scope

log = structlog.get_logger(__name__)


async def within_limits(app: web.Application, checks: Sequence[tuple[Scope, str]]) -> bool:
    """Whether a message passes every `(scope, subject)` limit; a refusal is counted by scope.

    Each check that passes is spent even when a later one refuses, as with any chain of limits.
    """
    table = rate_limits.limits(app[SETTINGS].messaging)
    for scope, subject in checks:
        if not await rate_limits.allow(app[POOL], scope, subject, table[scope]):
            app[METRICS].rate_limited.labels(scope.value).inc()
            log.info("rate_limited", scope=scope.value)
            return False
    return True

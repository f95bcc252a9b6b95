"""The money invariants, checked against the database: what the ledger, holds and double entry must always agree on.

The tests check it (`tests/conftest.py`, the billing tests), the money simulation after
each step, and `agent-server books` on a live database. It lives apart from `billing.ledger`
(which re-exports it under the name its callers use) so that module holds only what writes
and reads wallets and entries.
"""

from __future__ import annotations

from billing import accounts
from storage.executor import Executor


async def conservation_violations(db: Executor) -> list[str]:
    """Every broken money invariant in the database, described; empty when all hold.

    Checks, per wallet: balance == Σ entries; held == Σ active holds; each hold's amount ==
    Σ its events; settled/released holds reserve nothing; each entry's balance_after equals
    the running sum up to it. And the double entry (`billing.accounts`): each entry has its
    counter-side, opposite and in its kind's account, and Σ of all accounts is 0 per currency.
    """
    rows = await db.fetch(_CONSERVATION_SQL + " UNION ALL " + accounts.DOUBLE_ENTRY_SQL)
    return [f"{r['what']} {r['id']}: stored {r['stored']} != computed {r['computed']}" for r in rows]


_CONSERVATION_SQL = """
SELECT 'wallet balance' AS what, w.id, w.balance AS stored, coalesce(sum(e.amount), 0)::bigint AS computed
  FROM wallets w LEFT JOIN ledger_entries e ON e.wallet_id = w.id
 GROUP BY w.id HAVING w.balance <> coalesce(sum(e.amount), 0)
UNION ALL
SELECT 'wallet held', w.id, w.held, coalesce(sum(h.amount) FILTER (WHERE h.status = 'active'), 0)::bigint
  FROM wallets w LEFT JOIN holds h ON h.wallet_id = w.id
 GROUP BY w.id HAVING w.held <> coalesce(sum(h.amount) FILTER (WHERE h.status = 'active'), 0)
UNION ALL
SELECT 'hold amount', h.id, h.amount, coalesce(sum(ev.delta), 0)::bigint
  FROM holds h LEFT JOIN hold_events ev ON ev.hold_id = h.id
 GROUP BY h.id HAVING h.amount <> coalesce(sum(ev.delta), 0)
UNION ALL
SELECT 'entry balance_after', id, balance_after, running
  FROM (SELECT id, balance_after, sum(amount) OVER (PARTITION BY wallet_id ORDER BY id) AS running
          FROM ledger_entries) r
 WHERE balance_after <> running
"""

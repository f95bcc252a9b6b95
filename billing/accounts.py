"""Platform accounts: the other side of every wallet entry, their balances and the double-entry checks.

Every wallet entry is one side of a transfer; the other side is a ``platform_entries`` row
for the opposite amount, in the account the entry's kind names (`COUNTER_ACCOUNT`), written
by `billing.ledger.insert_entry` in the same statement. A platform account has no balance
row: every call checkpoint would lock it, and live calls would queue on one row. Its
balance is the sum of its rows, read when asked (`balances`).

Signs: a wallet balance is what the platform owes the business (positive); the platform
accounts hold the other side, so top-ups leave ``stripe_clearing`` negative (money Stripe
holds for us) and usage leaves revenue positive. Σ of every account, wallets included, is
0 per currency at every commit.
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass

from storage.executor import Executor


class Account(enum.StrEnum):
    """A platform account (the DB CHECK on ``platform_entries.account`` lists the same)."""

    STRIPE_CLEARING = "stripe_clearing"
    REVENUE_CALL = "revenue:call"
    REVENUE_SMS = "revenue:sms"
    REVENUE_CHAT = "revenue:chat"
    REVENUE_NUMBER_PURCHASE = "revenue:number_purchase"
    REVENUE_NUMBER_RENT = "revenue:number_rent"
    REFUNDS = "refunds"
    DISPUTES = "disputes"
    ADJUSTMENTS = "adjustments"


# Entry kind -> the account its counter-side goes to; one account per kind, so the
# migration could backfill history by kind alone.
COUNTER_ACCOUNT: dict[str, Account] = {
    "topup": Account.STRIPE_CLEARING,
    "refund": Account.REFUNDS,
    "call_usage": Account.REVENUE_CALL,
    "sms_usage": Account.REVENUE_SMS,
    "chat_usage": Account.REVENUE_CHAT,
    "number_purchase": Account.REVENUE_NUMBER_PURCHASE,
    "number_rent": Account.REVENUE_NUMBER_RENT,
    "adjustment": Account.ADJUSTMENTS,
    "dispute_hold": Account.DISPUTES,
    "dispute_release": Account.DISPUTES,
    "dispute_fee": Account.DISPUTES,
}

WALLETS = "wallets"


def counter_account(kind: str) -> Account:
    """The platform account on the other side of an entry of `kind`."""
    return COUNTER_ACCOUNT[kind]


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """Σ of one account in one currency; `account` is ``wallets`` for all business wallets together."""

    currency: str
    account: str
    balance: int


async def balances(db: Executor) -> list[AccountBalance]:
    """Every account's balance per currency, wallets (what the platform owes businesses) first."""
    rows = await db.fetch(
        "SELECT currency, account, sum(amount)::bigint AS balance FROM ("
        "  SELECT w.currency, 'wallets' AS account, w.balance AS amount FROM wallets w"
        "  UNION ALL SELECT currency, account, amount FROM platform_entries) a"
        " GROUP BY currency, account ORDER BY currency, account <> 'wallets', account")
    return [AccountBalance(r["currency"], r["account"], r["balance"]) for r in rows]


def _expected_account_sql() -> str:
    cases = " ".join(f"WHEN '{kind}' THEN '{account.value}'" for kind, account in COUNTER_ACCOUNT.items())
    return f"CASE e.kind {cases} END"


# Rows of (what, id, stored, computed), like billing.ledger's wallet checks.
DOUBLE_ENTRY_SQL = f"""
SELECT 'transfer of entry' AS what, e.id, coalesce(p.amount, 0)::bigint AS stored, (-e.amount)::bigint AS computed
  FROM ledger_entries e JOIN wallets w ON w.id = e.wallet_id LEFT JOIN platform_entries p ON p.entry_id = e.id
 WHERE p.entry_id IS NULL OR p.amount <> -e.amount OR p.currency <> w.currency
    OR p.account IS DISTINCT FROM {_expected_account_sql()}
UNION ALL
SELECT 'sum of all accounts in ' || currency, 0, total, 0
  FROM (SELECT currency, sum(amount)::bigint AS total FROM (
          SELECT w.currency, e.amount FROM ledger_entries e JOIN wallets w ON w.id = e.wallet_id
          UNION ALL SELECT currency, amount FROM platform_entries) t GROUP BY currency) s
 WHERE total <> 0
"""


@dataclass(frozen=True, slots=True)
class ReportLine:
    """One account in one currency over a period: what moved in it, and its balance at the period's end.

    For a revenue account (a product), also what its entries of the period cost the platform
    (micros, `billing.provider_costs`), how many of those costs are estimated, and how many
    entries have none (written before costs were kept, or a number the price table lacks).
    """

    currency: str
    account: str
    moved: int
    closing: int
    entries: int
    cost_micros: int | None = None
    estimated: int = 0
    uncosted: int = 0


_PERIOD_SQL = """
SELECT currency, account, coalesce(sum(amount) FILTER (WHERE created_at >= $1), 0)::bigint AS moved,
       sum(amount)::bigint AS closing, count(*) FILTER (WHERE created_at >= $1) AS entries,
       coalesce(sum(cost_micros) FILTER (WHERE created_at >= $1), 0)::bigint AS cost,
       count(*) FILTER (WHERE created_at >= $1 AND cost_estimated) AS estimated,
       count(*) FILTER (WHERE created_at >= $1 AND cost_micros IS NULL) AS uncosted
  FROM (SELECT w.currency, 'wallets' AS account, e.amount, e.created_at, NULL::bigint AS cost_micros,
               NULL::boolean AS cost_estimated
          FROM ledger_entries e JOIN wallets w ON w.id = e.wallet_id WHERE e.created_at < $2
        UNION ALL
        SELECT p.currency, p.account, p.amount, e.created_at, d.cost_micros, d.cost_estimated
          FROM platform_entries p JOIN ledger_entries e ON e.id = p.entry_id
          LEFT JOIN usage_details d ON d.entry_id = e.id WHERE e.created_at < $2) a
 GROUP BY currency, account ORDER BY currency, account <> 'wallets', account
"""


async def period_report(db: Executor, start: datetime.datetime, end: datetime.datetime) -> list[ReportLine]:
    """Every account's movement in [start, end) and balance at `end`, wallets (all businesses) first.

    A platform entry takes the time of the wallet entry it balances (written in one statement).
    """
    lines = []
    for r in await db.fetch(_PERIOD_SQL, start, end):
        revenue = r["account"].startswith("revenue:")
        lines.append(ReportLine(r["currency"], r["account"], r["moved"], r["closing"], r["entries"],
                                r["cost"] if revenue else None, r["estimated"] if revenue else 0,
                                r["uncosted"] if revenue else 0))
    return lines

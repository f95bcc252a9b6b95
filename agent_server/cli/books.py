"""`agent-server books check`: the platform's books, both sides of every movement, verified."""

from __future__ import annotations

import argparse

import asyncpg

from agent_server.cli.common import Context, add_json_flag, output
from billing import accounts, ledger
from billing.accounts import AccountBalance
from billing.money import Currency, format_minor


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    books = sub.add_parser("books", help="the platform's accounts").add_subparsers(dest="action", required=True)
    p = books.add_parser("check", help="verify Σ accounts = 0 per currency and every wallet == Σ its entries"
                                       " (exit status 1 on a break)")
    add_json_flag(p)
    p.set_defaults(handler=cmd_check)


def balance_lines(rows: list[AccountBalance]) -> list[str]:
    """One line per account and currency, amounts in the currency's units."""
    return [f"  {r.currency} {r.account:<24} {format_minor(r.balance, Currency(r.currency)):>20}" for r in rows]


def cmd_check(ctx: Context, args: argparse.Namespace) -> int:
    async def run(pool: asyncpg.Pool) -> tuple[list[str], list[AccountBalance]]:
        return await ledger.conservation_violations(pool), await accounts.balances(pool)

    problems, rows = ctx.run_db(run)
    data = {"ok": not problems, "violations": problems,
            "accounts": [{"currency": r.currency, "account": r.account, "balance": r.balance} for r in rows]}
    verdict = "books balance" if not problems else f"{len(problems)} break(s):"
    output(args, data, "\n".join([verdict, *(f"  {p}" for p in problems), "accounts:", *balance_lines(rows)]))
    return 0 if not problems else 1

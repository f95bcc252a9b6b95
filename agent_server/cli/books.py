"""`agent-server books check|report|reconcile`: the platform's books verified, summed, and matched with Stripe."""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import sys

import asyncpg

from agent_server.cli.common import CliError, Context, add_json_flag, output
from billing import accounts, ledger
from billing.accounts import AccountBalance
from billing.daily_reconciliation import DailyReport, run_daily
from billing.payments import StripePayments
from billing.money import Currency, format_minor
from billing.provider_costs import format_micros, minor_to_micros


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    books = sub.add_parser("books", help="the platform's accounts").add_subparsers(dest="action", required=True)
    p = books.add_parser("check", help="verify Σ accounts = 0 per currency and every wallet == Σ its entries"
                                       " (exit status 1 on a break)")
    add_json_flag(p)
    p.set_defaults(handler=cmd_check)
    p = books.add_parser("report", help="per currency and account: what moved in [--from, --to) and the balance at"
                                        " --to (wallet liabilities, clearing, refunds, disputes; per product its"
                                        " revenue, provider cost and margin)")
    p.add_argument("--from", dest="start", type=_day, required=True, help="first day, YYYY-MM-DD (UTC)")
    p.add_argument("--to", dest="end", type=_day, required=True, help="day after the last, YYYY-MM-DD (UTC)")
    p.add_argument("--csv", action="store_true", help="CSV on stdout")
    add_json_flag(p)
    p.set_defaults(handler=cmd_report)
    p = books.add_parser("reconcile", help="apply missed Stripe events, then match a day's Stripe balance"
                                           " transactions with the ledger and report what differs (once)")
    p.add_argument("--day", type=_day, help="the UTC day, YYYY-MM-DD (default: yesterday)")
    add_json_flag(p)
    p.set_defaults(handler=cmd_reconcile)


def _day(value: str) -> datetime.datetime:
    try:
        return datetime.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=datetime.UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day as YYYY-MM-DD: {value}") from None


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


REPORT_HEADER = ("currency", "account", "moved", "closing", "entries", "cost_micros", "margin_micros",
                 "cost_estimated_entries", "uncosted_entries")


def _row(r: accounts.ReportLine) -> tuple[str, str, int, int, int, int | None, int | None, int | None, int | None]:
    """A report row; the cost columns only for a product (a revenue account), margin = revenue - cost in micros."""
    if r.cost_micros is None:
        return r.currency, r.account, r.moved, r.closing, r.entries, None, None, None, None
    margin = minor_to_micros(r.moved, Currency(r.currency)) - r.cost_micros
    return r.currency, r.account, r.moved, r.closing, r.entries, r.cost_micros, margin, r.estimated, r.uncosted


def _text_line(row: tuple[str, str, int, int, int, int | None, int | None, int | None, int | None]) -> str:
    currency, account, moved, closing, _, cost, margin, estimated, uncosted = row
    cur = Currency(currency)
    line = f"  {currency} {account:<24}{format_minor(moved, cur):>20}{format_minor(closing, cur):>20}"
    if cost is None or margin is None:
        return line
    notes = [f"{estimated} estimated"] if estimated else []
    notes += [f"{uncosted} without cost"] if uncosted else []
    return (f"{line}{format_micros(cost, cur):>22}{format_micros(margin, cur):>22}"
            + (f"  ({', '.join(notes)})" if notes else ""))


def cmd_report(ctx: Context, args: argparse.Namespace) -> int:
    """Revenue is what the revenue accounts gained, its cost what their entries recorded at the providers;
    liabilities the wallets' closing balance (owed to businesses)."""
    if args.end <= args.start:
        raise CliError("--to must be after --from")
    lines = ctx.run_db(lambda pool: accounts.period_report(pool, args.start, args.end))
    rows = [_row(r) for r in lines]
    if args.csv:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(REPORT_HEADER)
        writer.writerows(rows)
        sys.stdout.write(out.getvalue())
        return 0
    text = [f"{args.start:%Y-%m-%d} to {args.end:%Y-%m-%d} (UTC)",
            f"  {'':4}{'account':<24}{'moved':>20}{'closing':>20}{'provider cost':>22}{'margin':>22}"]
    text += [_text_line(row) for row in rows]
    data = {"from": args.start.isoformat(), "to": args.end.isoformat(),
            "accounts": [dict(zip(REPORT_HEADER, row, strict=True)) for row in rows]}
    return output(args, data, "\n".join(text))


def cmd_reconcile(ctx: Context, args: argparse.Namespace) -> int:
    """What the daily job does (billing.daily_reconciliation), for any day: missed webhooks first."""
    if not ctx.settings.stripe.secret_key:
        raise CliError("STRIPE_SECRET_KEY is not set")
    now = datetime.datetime.now(datetime.UTC)
    day = (args.day or now - datetime.timedelta(days=1)).date()

    async def run(pool: asyncpg.Pool) -> DailyReport:
        payments = StripePayments(ctx.settings.stripe)
        try:
            return await run_daily(pool, payments, day=day, now=now,
                                   dispute_fee_minor=ctx.settings.stripe.dispute_fee_minor)
        finally:
            await payments.close()

    report = ctx.run_db(run)
    found = [{"kind": f.kind, "subject": f.subject, "currency": f.currency, "stripeAmount": f.stripe_amount,
              "ledgerAmount": f.ledger_amount} for f in report.day.new]
    text = [f"{day}: {report.missed.applied} missed webhook(s) booked, {report.day.listed} balance transaction(s),"
            f" {len(found)} new finding(s)"]
    text += [f"  {f['kind']:<18} {f['subject']:<40} stripe {f['stripeAmount']} ledger {f['ledgerAmount']}"
             f" {f['currency']}" for f in found]
    data = {"day": str(day), "missedWebhooks": report.missed.applied, "listed": report.day.listed,
            "findings": found}
    return output(args, data, "\n".join(text))

"""`agent-server wallet credit|debit|show|reconcile`: operator adjustments, a look at wallets, Stripe catch-up."""

from __future__ import annotations

import argparse
import getpass
import time
import uuid
from typing import Any

import asyncpg
import structlog

from agent_server.cli.common import CliError, Context, add_json_flag, output
from billing import ledger, topups
from billing.errors import BillingError
from billing.ledger import Entry, EntryKind, Wallet
from billing.money import Money, format_minor, parse_amount, parse_currency
from billing.payments import StripePayments
from billing.reconcile import ReconcileReport, reconcile

RECENT = 10
log = structlog.get_logger(__name__)


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {value}") from None


def _amount(value: str) -> int:
    try:
        return parse_amount(int(value, 10))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a positive whole number of minor units: {value}") from None


def _limit(value: str) -> int:
    try:
        limit = int(value, 10)
    except ValueError:
        limit = -1
    if limit < 0:
        raise argparse.ArgumentTypeError(f"not a whole number of minor units, zero or more: {value}")
    return limit


def _currency(value: str) -> str:
    try:
        return parse_currency(value).value
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    wallet = sub.add_parser("wallet", help="wallets and the ledger").add_subparsers(dest="action", required=True)
    for action, helptext in (("credit", "add money (an adjustment entry)"),
                             ("debit", "take money out (an adjustment entry; never overdraws)")):
        p = wallet.add_parser(action, help=helptext)
        p.add_argument("--business", type=_uuid, required=True)
        p.add_argument("--amount", type=_amount, required=True, help="minor units (cents, paise)")
        p.add_argument("--currency", type=_currency, required=True, help="USD or INR")
        p.add_argument("--reason", required=True, help="why; recorded as the entry's reference")
        p.add_argument("--idempotency-key", help="repeat the command with the same key to make sure it ran once")
        add_json_flag(p)
        p.set_defaults(handler=cmd_adjust, sign=1 if action == "credit" else -1)
    p = wallet.add_parser("show", help="balances and recent entries of a business")
    p.add_argument("--business", type=_uuid, required=True)
    add_json_flag(p)
    p.set_defaults(handler=cmd_show)
    p = wallet.add_parser("set-credit-limit", help="let a wallet go below zero by up to this much (0: prepaid only)")
    p.add_argument("--business", type=_uuid, required=True)
    p.add_argument("--limit", type=_limit, required=True, help="minor units (cents, paise)")
    p.add_argument("--currency", type=_currency, required=True, help="USD or INR")
    p.add_argument("--reason", required=True, help="why; logged with the operator's name")
    add_json_flag(p)
    p.set_defaults(handler=cmd_set_credit_limit)
    p = wallet.add_parser("reconcile", help="apply Stripe events whose webhook never arrived")
    p.add_argument("--since-hours", type=int, default=72, help="look back this far (Stripe retries for 3 days)")
    add_json_flag(p)
    p.set_defaults(handler=cmd_reconcile)


def operator() -> str:
    """Who ran the command, as recorded on the entry: the OS account, since the CLI has no login."""
    try:
        return f"operator:{getpass.getuser()}"
    except (KeyError, OSError):
        return "operator:unknown"


def entry_data(entry: Entry) -> dict[str, Any]:
    return {"id": entry.id, "type": entry.kind.value, "amount": entry.amount, "currency": entry.currency.value,
            "reference": entry.reference, "actor": entry.actor, "balanceAfter": entry.balance_after,
            "createdAt": entry.created_at.isoformat()}


def wallet_data(wallet: Wallet) -> dict[str, Any]:
    return {"currency": wallet.currency.value, "balance": wallet.balance, "held": wallet.held,
            "available": wallet.available, "creditLimit": wallet.credit_limit, "updatedAt": wallet.updated_at.isoformat()}


def cmd_adjust(ctx: Context, args: argparse.Namespace) -> int:
    amount = Money(args.sign * args.amount, parse_currency(args.currency))
    key = args.idempotency_key or f"cli:{uuid.uuid4()}"
    reason = args.reason.strip()
    if not reason:
        raise CliError("--reason must not be empty")

    async def run(pool: asyncpg.Pool) -> Entry:
        if not await topups.business_exists(pool, args.business):
            raise CliError(f"business {args.business} not found")
        return await ledger.post_entry(pool, business_id=args.business, amount=amount, kind=EntryKind.ADJUSTMENT,
                                       idempotency_key=key, reference=reason[:500], actor=operator())

    try:
        entry = ctx.run_db(run)
    except BillingError as exc:
        raise CliError(str(exc)) from exc
    text = (f"{'credited' if amount.amount > 0 else 'debited'} {format_minor(abs(amount.amount), amount.currency)};"
            f" balance {format_minor(entry.balance_after, entry.currency)} (entry {entry.id})")
    return output(args, {"entry": entry_data(entry), "idempotencyKey": key}, text)


def cmd_show(ctx: Context, args: argparse.Namespace) -> int:
    async def run(pool: asyncpg.Pool) -> tuple[list[Wallet], list[Entry]]:
        if not await topups.business_exists(pool, args.business):
            raise CliError(f"business {args.business} not found")
        return (await ledger.wallets_of(pool, args.business),
                await ledger.list_entries(pool, args.business, limit=RECENT))

    wallets, entries = ctx.run_db(run)
    lines = [f"business {args.business}"]
    lines += [f"  {w.currency.value}: balance {format_minor(w.balance, w.currency)},"
              f" held {format_minor(w.held, w.currency)}, available {format_minor(w.available, w.currency)}"
              for w in wallets] or ["  no wallet yet"]
    lines += [f"  #{e.id} {e.created_at:%Y-%m-%d %H:%M:%S} {e.kind.value:<15} {format_minor(e.amount, e.currency):>16}"
              f"  {e.reference}  ({e.actor})" for e in entries]
    data = {"businessId": str(args.business), "wallets": [wallet_data(w) for w in wallets],
            "recent": [entry_data(e) for e in entries]}
    return output(args, data, "\n".join(lines))


def cmd_reconcile(ctx: Context, args: argparse.Namespace) -> int:
    if not ctx.settings.stripe.secret_key:
        raise CliError("STRIPE_SECRET_KEY is not set")
    since = int(time.time()) - args.since_hours * 3600

    async def run(pool: asyncpg.Pool) -> ReconcileReport:
        payments = StripePayments(ctx.settings.stripe)
        try:
            return await reconcile(pool, payments, since=since,
                                   dispute_fee_minor=ctx.settings.stripe.dispute_fee_minor)
        finally:
            await payments.close()

    try:
        report = ctx.run_db(run)
    except BillingError as exc:
        raise CliError(str(exc)) from exc
    data = {"listed": report.listed, "applied": report.applied, "deferred": report.deferred, "since": since}
    return output(args, data, f"{report.listed} event(s) listed, {report.applied} applied, {report.deferred} deferred")


def cmd_set_credit_limit(ctx: Context, args: argparse.Namespace) -> int:
    """Operators extend (or withdraw) credit; the change is logged with who made it and why."""
    reason = args.reason.strip()
    if not reason:
        raise CliError("--reason must not be empty")
    currency = parse_currency(args.currency)

    async def run(pool: asyncpg.Pool) -> tuple[int, Wallet]:
        if not await topups.business_exists(pool, args.business):
            raise CliError(f"business {args.business} not found")
        return await ledger.set_credit_limit(pool, args.business, currency, args.limit)

    previous, wallet = ctx.run_db(run)
    log.info("credit_limit_set", business_id=str(args.business), currency=currency.value, previous=previous,
             limit=args.limit, actor=operator(), reason=reason[:500])
    text = (f"{currency.value} credit limit {format_minor(previous, currency)} -> {format_minor(args.limit, currency)};"
            f" available {format_minor(wallet.available, currency)}")
    return output(args, {"previous": previous, "wallet": wallet_data(wallet)}, text)

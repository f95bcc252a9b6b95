"""Core commands: serve, migrate, and creating businesses, users, members, agents and numbers."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import os
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import structlog
from agent_server import agents, auth, serving, tenants
from agent_server.app import make_app
from agent_server.cli.common import CliError, Context, add_json_flag, output
from agent_server.gc_tuning import tune_gc_after_startup
from agent_server.migrations import migrate
from agent_server.workers import supervise, worker_command
from billing import ledger, price_book
from billing.ledger import EntryKind
from billing.money import Money, parse_currency
from billing.pricing import Prices
from phone_numbers import registry, rent

log = structlog.get_logger(__name__)

DEMO_FAQ = (
    agents.FaqEntry("What are your opening hours?", "We are open Monday to Friday, nine to five."),
    agents.FaqEntry("Where are you located?", "We are at 1 Market Street, San Francisco."),
    agents.FaqEntry("How can I book an appointment?", "Just tell me the day and time that suits you."),
)
DEMO_NUMBER = "+15005550006"
DEMO_CREDIT = 1000  # 10.00 in minor units


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {value}") from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the HTTP server")
    p.add_argument("--port", type=int, help="port (default: PORT or config)")
    p.add_argument("--demo", action="store_true", help="seed a demo business on an empty database and print its token")
    p.add_argument("--workers", type=int, default=1, help="server processes sharing the port (SO_REUSEPORT)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # set by the supervisor
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("migrate", help="apply pending database migrations")
    add_json_flag(p)
    p.set_defaults(handler=cmd_migrate)

    business = sub.add_parser("business", help="businesses").add_subparsers(dest="action", required=True)
    p = business.add_parser("create", help="create a business")
    p.add_argument("--name", required=True)
    add_json_flag(p)
    p.set_defaults(handler=cmd_business_create)

    p = business.add_parser("set-prices", help="override a business's usage prices (minor units)")
    p.add_argument("--business", type=_uuid, required=True)
    p.add_argument("--voice-per-minute", type=int, help="voice, per minute, billed per second")
    p.add_argument("--sms", type=int, help="per SMS reply")
    p.add_argument("--chat-per-1k-tokens", type=int, help="per 1,000 LLM tokens of chat")
    add_json_flag(p)
    p.set_defaults(handler=cmd_business_set_prices)

    user = sub.add_parser("user", help="users").add_subparsers(dest="action", required=True)
    p = user.add_parser("create", help="create a user")
    p.add_argument("--email", required=True)
    p.add_argument("--id", type=_uuid, help="keep an existing Supabase user id")
    add_json_flag(p)
    p.set_defaults(handler=cmd_user_create)

    member = sub.add_parser("member", help="memberships").add_subparsers(dest="action", required=True)
    p = member.add_parser("add", help="add a user to a business")
    p.add_argument("--business", type=_uuid, required=True)
    p.add_argument("--user", type=_uuid, required=True)
    p.add_argument("--role", choices=("owner", "member"), default="member")
    add_json_flag(p)
    p.set_defaults(handler=cmd_member_add)

    p = sub.add_parser("token", help="mint a dashboard JWT with the configured secret")
    p.add_argument("--user", type=_uuid, required=True)
    p.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    add_json_flag(p)
    p.set_defaults(handler=cmd_token)

    agent = sub.add_parser("agent", help="agents").add_subparsers(dest="action", required=True)
    p = agent.add_parser("create", help="create an agent")
    p.add_argument("--business", type=_uuid, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--prompt", default="", help="system prompt")
    p.add_argument("--greeting", default="")
    p.add_argument("--faq", type=Path, help='JSON file: [{"question": ..., "answer": ...}]')
    p.add_argument("--transfer-number", help="E.164 number a caller can be transferred to")
    add_json_flag(p)
    p.set_defaults(handler=cmd_agent_create)

    number = sub.add_parser("number", help="phone numbers").add_subparsers(dest="action", required=True)
    p = number.add_parser("add", help="register a number that already routes here (no purchase)")
    p.add_argument("--business", type=_uuid, required=True)
    p.add_argument("--phone", required=True, help="E.164, e.g. +14155550100")
    p.add_argument("--agent", type=_uuid)
    add_json_flag(p)
    p.set_defaults(handler=cmd_number_add)
    p = number.add_parser("charge-rent", help="run the monthly rent job now (the server runs it every "
                                                "numbers.rent_job_interval_seconds)")
    add_json_flag(p)
    p.set_defaults(handler=cmd_number_charge_rent)


def _db_error(exc: asyncpg.PostgresError) -> CliError:
    return CliError(f"database refused: {exc.args[0] if exc.args else exc}")


def cmd_serve(ctx: Context, args: argparse.Namespace) -> int:
    settings = ctx.settings
    if args.port:
        settings = dataclasses.replace(settings, server=dataclasses.replace(settings.server, port=args.port))
    dsn = ctx.dsn()
    if not args.worker:
        asyncio.run(migrate(dsn))
    if args.demo:
        demo = asyncio.run(_seed_demo(ctx, dsn))
        print(orjson.dumps(demo, option=orjson.OPT_INDENT_2).decode(), flush=True)
    settings = dataclasses.replace(settings, database=dataclasses.replace(settings.database, url=dsn))
    url = f"http://{settings.server.host}:{settings.server.port}"
    if args.workers > 1:
        log.info("serving", url=url, workers=args.workers, embedded_database=not ctx.settings.database.url)
        # Workers inherit the resolved database and signing secrets, so the embedded server and
        # the development secrets are set up once, here.
        env = {**os.environ, "DATABASE_URL": dsn, "SUPABASE_JWT_SECRET": settings.auth.jwt_secret,
               "TWILIO_AUTH_TOKEN": settings.twilio.auth_token, "CUSTOMER_JWT_SECRET": settings.customers.jwt_secret}
        return supervise(args.workers, worker_command(settings.server.port), env,
                         settings.server.call_drain_seconds + settings.server.shutdown_timeout_seconds)
    log.info("serving", url=url, pid=os.getpid(), embedded_database=not ctx.settings.database.url)
    app = make_app(settings)
    app.on_startup.append(tune_gc_after_startup)
    serving.run(app, settings.server.host, settings.server.port,
                shutdown_timeout=settings.server.shutdown_timeout_seconds, reuse_port=args.worker)
    return 0


async def _seed_demo(ctx: Context, dsn: str) -> dict[str, Any]:
    """Create the demo business, user, agent and number once; always mint a fresh token."""
    conn = await asyncpg.connect(dsn)
    try:
        from storage.pool import init_connection

        await init_connection(conn)
        async with conn.transaction():
            await conn.execute("LOCK TABLE businesses IN EXCLUSIVE MODE")
            if await tenants.is_empty(conn):
                business_id = await tenants.create_business(conn, "Demo Dental")
                user_id = await tenants.create_user(conn, "demo@example.com")
                await tenants.add_member(conn, business_id, user_id, "owner")
                agent_id = await agents.create_agent(
                    conn, business_id, "Demo receptionist",
                    system_prompt="You are the friendly receptionist of Demo Dental. Answer briefly.",
                    greeting="Hello, thanks for calling Demo Dental. How can I help?", faq=DEMO_FAQ)
                await registry.add_number(conn, business_id, DEMO_NUMBER, agent_id=agent_id,
                                          display_name="Demo line", is_primary=True)
                # Calls, SMS and chat are paid from the wallet; the demo starts with credit.
                await ledger.credit(conn, business_id=business_id,
                                    amount=Money(DEMO_CREDIT, parse_currency(ctx.settings.billing.currency)),
                                    kind=EntryKind.ADJUSTMENT, idempotency_key="demo:credit",
                                    reference="demo seed", actor="agent-server serve --demo")
        row = await conn.fetchrow(
            "SELECT u.id AS user_id, m.business_id, a.id AS agent_id FROM users u"
            " JOIN memberships m ON m.user_id = u.id JOIN agents a ON a.business_id = m.business_id"
            " WHERE u.email = 'demo@example.com' ORDER BY a.created_at LIMIT 1")
    finally:
        await conn.close()
    if row is None:
        return {"demo": "database already holds other data; no demo seeded"}
    return {
        "businessId": str(row["business_id"]), "userId": str(row["user_id"]),
        "agentId": str(row["agent_id"]), "phoneNumber": DEMO_NUMBER,
        "token": auth.mint_token(ctx.settings.auth, row["user_id"], ttl_seconds=7 * 24 * 3600),
    }


def cmd_migrate(ctx: Context, args: argparse.Namespace) -> int:
    applied = asyncio.run(migrate(ctx.dsn()))
    return output(args, {"applied": applied}, f"applied {len(applied)} migration(s): {', '.join(applied) or 'none'}")


def cmd_business_create(ctx: Context, args: argparse.Namespace) -> int:
    try:
        business_id = ctx.run_db(lambda pool: tenants.create_business(pool, args.name))
    except asyncpg.PostgresError as exc:
        raise _db_error(exc) from exc
    return output(args, {"id": str(business_id), "name": args.name}, f"business {business_id}")


def cmd_business_set_prices(ctx: Context, args: argparse.Namespace) -> int:
    given = {"voice_per_minute": args.voice_per_minute, "sms_per_reply": args.sms,
             "chat_per_1k_tokens": args.chat_per_1k_tokens}
    if all(v is None for v in given.values()):
        raise CliError("give at least one of --voice-per-minute, --sms, --chat-per-1k-tokens")
    defaults = price_book.default_prices(ctx.settings.billing)

    async def apply(pool: asyncpg.Pool) -> Prices:
        await price_book.set_prices(pool, args.business, **given)
        return await price_book.prices_for(pool, args.business, defaults)

    try:
        prices = ctx.run_db(apply)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    except asyncpg.PostgresError as exc:
        raise _db_error(exc) from exc
    data = {"businessId": str(args.business), "currency": prices.currency.value,
            "voicePerMinute": prices.voice_per_minute, "sms": prices.sms_per_reply,
            "chatPer1kTokens": prices.chat_per_1k_tokens}
    return output(args, data, f"prices for {args.business}: voice {prices.voice_per_minute}/min, "
                              f"sms {prices.sms_per_reply}, chat {prices.chat_per_1k_tokens}/1k tokens "
                              f"({prices.currency.value} minor units)")


def cmd_user_create(ctx: Context, args: argparse.Namespace) -> int:
    try:
        user_id = ctx.run_db(lambda pool: tenants.create_user(pool, args.email, args.id))
    except asyncpg.PostgresError as exc:
        raise _db_error(exc) from exc
    return output(args, {"id": str(user_id), "email": args.email.lower()}, f"user {user_id}")


def cmd_member_add(ctx: Context, args: argparse.Namespace) -> int:
    try:
        ctx.run_db(lambda pool: tenants.add_member(pool, args.business, args.user, args.role))
    except asyncpg.PostgresError as exc:
        raise _db_error(exc) from exc
    data = {"businessId": str(args.business), "userId": str(args.user), "role": args.role}
    return output(args, data, f"user {args.user} is {args.role} of {args.business}")


def cmd_token(ctx: Context, args: argparse.Namespace) -> int:
    if not ctx.settings.auth.jwt_secret:
        raise CliError("SUPABASE_JWT_SECRET is not set")
    if not 0 < args.ttl <= ctx.settings.auth.jwt_max_lifetime_seconds:
        raise CliError(f"--ttl must be between 1 and {ctx.settings.auth.jwt_max_lifetime_seconds}")
    token = auth.mint_token(ctx.settings.auth, args.user, ttl_seconds=args.ttl)
    return output(args, {"token": token, "userId": str(args.user), "ttl": args.ttl}, token)


def cmd_agent_create(ctx: Context, args: argparse.Namespace) -> int:
    faq: tuple[agents.FaqEntry, ...] = ()
    if args.faq:
        try:
            faq = agents.parse_faq(orjson.loads(args.faq.read_bytes()))
        except (OSError, orjson.JSONDecodeError, ValueError) as exc:
            raise CliError(f"--faq {args.faq}: {exc}") from exc
    try:
        agent_id = ctx.run_db(lambda pool: agents.create_agent(
            pool, args.business, args.name, system_prompt=args.prompt, greeting=args.greeting, faq=faq,
            transfer_number=args.transfer_number))
    except asyncpg.PostgresError as exc:
        raise _db_error(exc) from exc
    return output(args, {"id": str(agent_id), "businessId": str(args.business), "name": args.name,
                         "faqEntries": len(faq)}, f"agent {agent_id}")


def cmd_number_add(ctx: Context, args: argparse.Namespace) -> int:
    try:
        number_id = ctx.run_db(lambda pool: registry.add_number(pool, args.business, args.phone, agent_id=args.agent))
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    except asyncpg.PostgresError as exc:
        raise _db_error(exc) from exc
    return output(args, {"id": str(number_id), "businessId": str(args.business), "phoneNumber": args.phone},
                  f"number {args.phone} ({number_id})")


def cmd_number_charge_rent(ctx: Context, args: argparse.Namespace) -> int:
    """Charge what is due now, e.g. right after topping up a wallet whose numbers were suspended.

    Safe beside running servers: the job takes the same advisory lock (a held lock means a
    server is running it, and this run skips) and each period's debit is idempotent.
    """
    now = datetime.datetime.now(datetime.UTC)
    done = ctx.run_db(lambda pool: rent.run_rent(pool, ctx.settings.numbers, now=now,
                                                 costs=ctx.settings.provider_costs))
    if done is None:
        return output(args, {"skipped": True}, "skipped: another process is running the rent job")
    counts = dataclasses.asdict(done)
    return output(args, {"skipped": False, **counts}, ", ".join(f"{key} {value}" for key, value in counts.items()))

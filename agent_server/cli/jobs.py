"""Background work: `agent-server worker` runs jobs; `agent-server mail list` shows the outbox."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses

from agent_server import job_runner
from agent_server.cli.common import Context, add_json_flag, output
from agent_server.migrations import migrate
from mail import outbox


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("worker", help="run background jobs (email, ...) until SIGTERM")
    p.set_defaults(handler=cmd_worker)

    mail = sub.add_parser("mail", help="the email outbox").add_subparsers(dest="action", required=True)
    p = mail.add_parser("list", help="emails, newest first (held ones: no SMTP_URL was set)")
    p.add_argument("--status", choices=outbox.STATUSES, default="held")
    p.add_argument("--limit", type=int, default=50)
    add_json_flag(p)
    p.set_defaults(handler=cmd_mail_list)


def cmd_worker(ctx: Context, args: argparse.Namespace) -> int:
    dsn = ctx.dsn()
    asyncio.run(migrate(dsn))
    settings = dataclasses.replace(ctx.settings, database=dataclasses.replace(ctx.settings.database, url=dsn))
    asyncio.run(job_runner.run_worker(settings))
    return 0


def cmd_mail_list(ctx: Context, args: argparse.Namespace) -> int:
    emails = ctx.run_db(lambda pool: outbox.list_emails(pool, status=args.status, limit=args.limit))
    rows = [{"id": e.id, "status": e.status, "recipient": e.recipient, "subject": e.subject,
             "template": e.template, "attempts": e.attempts, "lastError": e.last_error,
             "createdAt": e.created_at.isoformat(), "sentAt": e.sent_at.isoformat() if e.sent_at else None}
            for e in emails]
    text = "\n".join(f"{r['id']}\t{r['status']}\t{r['createdAt']}\t{r['recipient']}\t{r['subject']}" for r in rows)
    return output(args, {"emails": rows}, text or f"no {args.status} emails")

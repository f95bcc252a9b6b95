"""`agent-server inbound-smtp`: take requesters' emailed replies to tickets (see agent_server/inbound_smtp.py)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses

from agent_server import inbound_smtp
from agent_server.cli.common import Context
from agent_server.migrations import migrate


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("inbound-smtp", help="an SMTP server for replies to tickets' reply addresses, until SIGTERM")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 behind the MX)")
    p.add_argument("--port", type=int, default=2525)
    p.set_defaults(handler=cmd_inbound_smtp)


def cmd_inbound_smtp(ctx: Context, args: argparse.Namespace) -> int:
    inbound_smtp.addresses_for(ctx.settings)
    dsn = ctx.dsn()
    asyncio.run(migrate(dsn))
    settings = dataclasses.replace(ctx.settings, database=dataclasses.replace(ctx.settings.database, url=dsn))
    asyncio.run(inbound_smtp.run(settings, args.host, args.port))
    return 0

"""`agent-server`: serve the app and administer tenants, agents, numbers and wallets."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from agent_server.cli import books, call, core, inbound, jobs, wallet
from agent_server.cli.common import CliError, Context
from agent_server.config import ConfigError

# Each module adds its subcommands with `register(subparsers)`.
COMMAND_MODULES = (core, wallet, books, call, jobs, inbound)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agent-server", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        context = Context.load()
        result: int = args.handler(context, args)
        return result
    except ConfigError as exc:
        print(f"agent-server: configuration error: {exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"agent-server: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

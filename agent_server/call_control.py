"""Call control across processes: PostgreSQL LISTEN/NOTIFY on one channel.

A call's media stream lives in exactly one server process, but the request to stop it
(a hangup from the dashboard, a wallet run dry by a charge elsewhere) may land on any
process. Every process listens on `call_control`; a command is a NOTIFY carrying the call
sid, and the process that holds that call (`LIVE_CALLS`) acts on it; the others ignore it.
NOTIFY is delivered at commit and payloads are small, so only ids travel.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import orjson
import structlog
from aiohttp import web

from agent_server.jobs import running
from agent_server.state import DSN, LIVE_CALLS, SETTINGS
from media.pipeline.hooks import LiveCalls
from media.pipeline.lifecycle import EndReason

log = structlog.get_logger(__name__)

CHANNEL = "call_control"
# Command -> how the call ends: a dashboard hangup ends at once; out of funds says goodbye.
COMMANDS: dict[str, EndReason] = {"hangup": EndReason.HANGUP_REQUESTED, "out_of_funds": EndReason.OUT_OF_FUNDS}


def parse_command(payload: str) -> tuple[str, str] | None:
    """(call_sid, command) from a notification, or None when it is not one of ours."""
    try:
        message = orjson.loads(payload)
        call_sid, command = message["call_sid"], message["command"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if not isinstance(call_sid, str) or command not in COMMANDS:
        return None
    return call_sid, command


def dispatch(live: LiveCalls, payload: str, goodbye: str) -> bool:
    """Act on one notification if this process holds the call; returns whether it did."""
    parsed = parse_command(payload)
    if parsed is None:
        log.warning("call_control_bad_payload", payload=payload[:200])
        return False
    call_sid, command = parsed
    call = live.by_sid(call_sid)
    if call is None:
        return False
    reason = COMMANDS[command]
    log.info("call_control_command", call_sid=call_sid, command=command)
    call.request_end(reason, goodbye=goodbye if reason is EndReason.OUT_OF_FUNDS else None)
    return True


async def send(db: asyncpg.Pool | asyncpg.Connection, call_sid: str, command: str) -> None:
    """Tell whichever process holds `call_sid` to act (at commit, when inside a transaction)."""
    if command not in COMMANDS:
        raise ValueError(f"unknown call command {command!r}")
    await db.execute("SELECT pg_notify($1, $2)", CHANNEL,
                     orjson.dumps({"call_sid": call_sid, "command": command}).decode())


class Listener:
    """One dedicated LISTEN connection per process, reopened when it drops."""

    def __init__(self, dsn: str, live: LiveCalls, goodbye: str) -> None:
        self._dsn = dsn
        self._live = live
        self._goodbye = goodbye
        self.listening = asyncio.Event()

    def _on_notify(self, conn: object, pid: int, channel: str, payload: object) -> None:
        dispatch(self._live, str(payload), self._goodbye)

    async def run(self) -> None:
        """Listen until cancelled. Commands sent while the connection is down are lost, which is
        why the end of a call never depends on them alone (holds expire, Twilio hangs up)."""
        while True:
            lost = asyncio.Event()
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn)
                conn.add_termination_listener(lambda _conn: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                self.listening.set()
                await lost.wait()
                log.warning("call_control_listener_lost")
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("call_control_listener_down", error=str(exc))
            finally:
                self.listening.clear()
                if conn is not None and not conn.is_closed():
                    await conn.close()
            await asyncio.sleep(1.0)


CALL_LISTENER = web.AppKey("call_listener", Listener)


async def _listen(app: web.Application) -> AsyncIterator[None]:
    listener = Listener(app[DSN], app[LIVE_CALLS], app[SETTINGS].calls.goodbye_text)
    app[CALL_LISTENER] = listener
    async with running(listener.run()):
        yield


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_listen)

"""The one executor of actions: the execute route and the model's tool calls (every channel) both run `execute`.

Order: the arguments are read and checked against the action's parameters before anything
runs (problems come back as data: `RunResult.errors`, no row written, nothing done); then the
run's idempotency key is claimed in `action_executions` (a key seen before returns the first
run's result and acts no more); then the action runs within its timeout (capped lower on a
call); then its row gets the output, status and duration. What the model reads of a run is at
most `TOOL_TEXT_CHARS` characters of JSON.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Mapping
from typing import Any

import aiohttp
import msgspec
import structlog

from automations import action_email, action_executions, calendar_tool
from automations.action_config import calendar_config, email_config, http_config
from automations.action_executions import Execution, Status
from automations.action_http import ACTION_CALLED, TOOL_CALLED, call, result_of
from automations.action_model import Action
from automations.action_schema import ArgumentError, check_arguments, decoded_arguments
from automations.calendar_local import LocalCalendar
from automations.calendar_provider import CalendarProvider, zone
from automations.calendar_remote import RemoteCalendar
from jobs.runner import Clock, utc_now
from storage.executor import Executor

log = structlog.get_logger(__name__)

TOOL_TEXT_CHARS = 4000


@dataclasses.dataclass(frozen=True)
class ActionServices:
    """What running an action needs beyond the database: the guarded HTTP session and its allow-list, a clock."""

    session: aiohttp.ClientSession
    allowed_private_hosts: tuple[str, ...] = ()
    clock: Clock = utc_now


@dataclasses.dataclass(frozen=True)
class RunResult:
    """A run (or a replay of one); `errors` set means the arguments were refused and nothing ran."""

    success: bool
    result: Any
    error: str | None
    duration_ms: int
    execution_id: uuid.UUID | None = None
    errors: tuple[ArgumentError, ...] = ()
    replayed: bool = False

    def tool_text(self) -> str:
        """The tool message the model reads: JSON, at most TOOL_TEXT_CHARS characters."""
        if self.errors:
            return _capped({"ok": False, "errors": [dataclasses.asdict(e) for e in self.errors]})
        shown: dict[str, Any] = {"ok": self.success, "result": self.result}
        if self.error is not None:
            shown["error"] = self.error[:500]
        return _capped(shown)


def _capped(shown: dict[str, Any]) -> str:
    text = msgspec.json.encode(shown).decode()
    if len(text) <= TOOL_TEXT_CHARS:
        return text
    result = shown.get("result")
    flat = result if isinstance(result, str) else msgspec.json.encode(result).decode()
    room = TOOL_TEXT_CHARS - 100
    while True:
        text = msgspec.json.encode({**shown, "result": flat[:room], "truncated": True}).decode()
        if len(text) <= TOOL_TEXT_CHARS:
            return text
        room -= len(text) - TOOL_TEXT_CHARS


def _from_row(execution: Execution) -> RunResult:
    output = execution.output if isinstance(execution.output, dict) else {}
    error = execution.error or ("the first run of this call is still running" if execution.status == "running"
                                else None)
    return RunResult(execution.status == "succeeded", output.get("result"), error, execution.duration_ms or 0,
                     execution.id, replayed=True)


def _invalid(*errors: ArgumentError) -> RunResult:
    return RunResult(False, None, "invalid arguments", 0, errors=errors)


# Rows being written after their result went back (`finish_later`): held so they are not collected mid-write.
_FINISHING: set[asyncio.Task[Any]] = set()


async def execute(db: Executor, action: Action, arguments: str | Mapping[str, Any], *, key: str,
                  conversation_id: uuid.UUID | None, channel: str, services: ActionServices,
                  timeout_cap_ms: int | None = None, finish_later: bool = False) -> RunResult:
    """Run the action once per `key`; every outcome comes back as a `RunResult`, never raised.

    `finish_later` (a call's tool) hands the result back before its `action_executions` row is
    written, so the database write is off the path from the tool's answer to the caller's ear; a
    retry of the key meanwhile waits for the row as it waits for a run in flight.
    """
    decoded = decoded_arguments(arguments)
    if isinstance(decoded, ArgumentError):
        return _invalid(decoded)
    problems = check_arguments(action.parameters, decoded)
    if problems:
        return _invalid(*problems)
    timeout = min(action.timeout_ms, timeout_cap_ms or action.timeout_ms) / 1000
    execution, new = await action_executions.claim(db, action.business_id, action.id, key, decoded,
                                                   conversation_id=conversation_id, channel=channel,
                                                   now=services.clock())
    if not new:
        return _from_row(await action_executions.settled(db, execution, within=timeout + 1))
    started = time.monotonic()
    # What the row says if the run is cancelled under us (a call hung up): stopped, not done.
    status: Status = "timed_out"
    output: Any = None
    error: str | None = "the run was stopped before it finished"
    try:
        async with asyncio.timeout(timeout):
            status, output, error = await _run(db, action, decoded, execution, services, timeout)
    except TimeoutError:
        status, error = "timed_out", f"no result within {timeout:g} s"
    except Exception as exc:  # an action's failure is the model's data, never the conversation's crash
        # No traceback: the logs' tracebacks show each frame's locals, and these hold the write-only headers.
        log.error("action_failed", action_id=str(action.id), execution_id=str(execution.id),
                  error_type=type(exc).__name__, error=str(exc)[:200])
        status, error = "failed", f"the action failed ({type(exc).__name__})"
    finally:
        duration = int((time.monotonic() - started) * 1000)
        finished = action_executions.finish(db, execution.id, status, output={"result": output}, error=error,
                                            duration_ms=duration, now=services.clock())
        if finish_later:
            task = asyncio.create_task(finished, name="action-execution-finish")
            _FINISHING.add(task)
            task.add_done_callback(_FINISHING.discard)
        else:
            await asyncio.shield(finished)
    return RunResult(status == "succeeded", output, error, duration, execution.id)


async def _run(db: Executor, action: Action, args: dict[str, Any], execution: Execution, services: ActionServices,
               timeout: float) -> tuple[Status, Any, str | None]:
    """(status, result for the model, error) of one run."""
    now = services.clock()
    if action.type in ("webhook_call", "custom_tool"):
        config = http_config(action.configuration)
        tool = action.type == "custom_tool"
        data = {"action_id": str(action.id), "action_name": action.name, "execution_id": str(execution.id),
                "conversation_id": None if execution.conversation_id is None else str(execution.conversation_id),
                "channel": execution.channel, "arguments" if tool else "input": args}
        answer = await call(services.session, config.url, event_type=TOOL_CALLED if tool else ACTION_CALLED,
                            data=data, secret=action.signing_secret, execution_id=execution.id,
                            extra_headers=config.headers, now=now, allowed_private_hosts=services.allowed_private_hosts,
                            timeout=timeout, max_bytes=action.max_response_bytes)
        if answer.timed_out:
            return "timed_out", None, answer.error
        result = result_of(answer) if answer.status is not None else None
        if answer.ok:
            return "succeeded", result, None
        return "failed", result, answer.error or f"the receiver answered HTTP {answer.status}"
    if action.type == "email_send":
        ok, told = await action_email.send(db, action.business_id, email_config(action.configuration), args,
                                           execution_id=execution.id, now=now)
        return ("succeeded", told, None) if ok else ("failed", None, told["error"])
    timezone = await db.fetchval("SELECT timezone FROM businesses WHERE id = $1", action.business_id)
    tz = zone(timezone or "UTC")
    hours = calendar_config(action.configuration)
    calendar: CalendarProvider = LocalCalendar(db, action.business_id, action.id, hours, tz)
    if hours.provider == "remote":
        calendar = RemoteCalendar(services.session, hours, tz, secret=action.signing_secret, timeout=timeout,
                                  allowed_private_hosts=services.allowed_private_hosts)
    ok, told = await calendar_tool.run(calendar, hours, tz, args, idempotency_key=execution.idempotency_key, now=now)
    return ("succeeded", told, None) if ok else ("failed", told, told.get("error") or told.get("reason"))

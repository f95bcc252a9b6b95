"""What one provider check found, and the timing and error mapping every check shares.

A check never raises: whatever goes wrong becomes a result with one of a few stable codes,
and the provider's own words cut to 200 characters. Nothing a check reports carries a key: the
messages are built from statuses and response bodies, never from the request's headers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Final, Literal

import aiohttp

ErrorCode = Literal["auth_failed", "model_not_found", "voice_not_found", "timeout", "unreachable",
                    "webhook_mismatch", "not_configured"]
MESSAGE_CHARS: Final = 200
TIMEOUT_SECONDS: Final = 5.0


class CheckFailed(Exception):
    """A probe's verdict: the provider answered, and the answer says what is wrong."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message[:MESSAGE_CHARS]


@dataclass(frozen=True, slots=True)
class CheckError:
    code: ErrorCode
    message: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One round trip: which provider, for what (a model, a voice, a language, a number), how it went."""

    provider: str
    kind: str
    target: str
    ok: bool
    latency_ms: int
    error: CheckError | None = None
    local: bool = False


def refused(status: int, body: str, *, not_found: ErrorCode, what: str) -> CheckFailed:
    """A provider's HTTP refusal as a check's verdict: 401/403 a key problem, 404 (or `what`'s 400) not found."""
    detail = f"answered {status}: {body}"
    if status in (401, 403):
        return CheckFailed("auth_failed", detail)
    if status in (400, 404):
        return CheckFailed(not_found, f"{what}: {detail}")
    return CheckFailed("unreachable", detail)


async def timed(provider: str, kind: str, target: str, probe: Awaitable[None], *, local: bool = False,
                timeout: float = TIMEOUT_SECONDS) -> CheckResult:
    """Run `probe` within `timeout` seconds and report it; every failure is a result, never an exception."""
    started = time.perf_counter()
    error: CheckError | None = None
    try:
        async with asyncio.timeout(timeout):
            await probe
    except CheckFailed as exc:
        error = CheckError(exc.code, exc.message)
    except TimeoutError:
        error = CheckError("timeout", f"no answer within {timeout:g} s")
    except (aiohttp.ClientError, OSError) as exc:
        error = CheckError("unreachable", f"{type(exc).__name__}: {exc}"[:MESSAGE_CHARS])
    latency = round((time.perf_counter() - started) * 1000)
    return CheckResult(provider, kind, target, error is None, latency, error, local)


def not_configured(provider: str, kind: str, target: str, message: str) -> CheckResult:
    return CheckResult(provider, kind, target, False, 0, CheckError("not_configured", message[:MESSAGE_CHARS]))

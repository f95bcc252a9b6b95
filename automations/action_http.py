"""webhook_call and custom_tool over HTTP: one signed POST whose answer is awaited and read up to the action's cap.

The body is a Standard Webhooks message (`{type, timestamp, data}`), signed exactly as the
webhook sender signs (`webhook_signing.headers`, the action's own `whsec_` secret), its
`webhook-id` the execution's, so a receiver can drop a replay. The URL passed the guard on save;
the session's resolver checks every connection again. No redirect is followed. The answer is
read while it streams and cut at `max_response_bytes` (the connection is dropped there), all
within the action's timeout. Configured headers are sent and never logged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import time
import uuid
from collections.abc import Collection, Mapping
from typing import Any

import aiohttp
import msgspec
from yarl import URL

from automations.webhook_outbox import body_of, message_header_id
from automations.webhook_signing import headers as signed_headers
from knowledge.errors import UrlNotAllowed
from knowledge.url_guard import check_url

ACTION_CALLED = "action.called"
TOOL_CALLED = "tool.called"
_CHUNK = 16 * 1024


@dataclasses.dataclass(frozen=True)
class Answer:
    """What came back: the status (None when none did), the body read so far, and why it stopped."""

    status: int | None
    body: bytes
    truncated: bool
    error: str | None
    duration_ms: int
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def call(session: aiohttp.ClientSession, url: str, *, event_type: str, data: Mapping[str, Any],
               secret: str, execution_id: uuid.UUID, extra_headers: Mapping[str, str], now: datetime.datetime,
               allowed_private_hosts: Collection[str], timeout: float, max_bytes: int) -> Answer:
    """POST the signed message once and read its answer; every failure comes back in the `Answer`, never raised."""
    body = body_of(event_type, data, now)
    signed = signed_headers([secret], message_header_id(execution_id), int(now.timestamp()), body)
    started = time.monotonic()

    def done(status: int | None, read: bytes = b"", truncated: bool = False, error: str | None = None,
             timed_out: bool = False) -> Answer:
        return Answer(status, read, truncated, error, int((time.monotonic() - started) * 1000), timed_out)

    try:
        check_url(URL(url), allowed_private_hosts)
        async with asyncio.timeout(timeout):
            async with session.post(url, data=body, allow_redirects=False,
                                    headers={**extra_headers, **signed, "Content-Type": "application/json"}
                                    ) as response:
                read, truncated = await _read(response, max_bytes)
                return done(response.status, read, truncated)
    except UrlNotAllowed as exc:
        return done(None, error=f"refused: {exc}")
    except TimeoutError:
        return done(None, error=f"no answer within {timeout:g} s", timed_out=True)
    except (aiohttp.ClientError, OSError) as exc:
        return done(None, error=f"{type(exc).__name__}: {exc}"[:300])


async def _read(response: aiohttp.ClientResponse, cap: int) -> tuple[bytes, bool]:
    """The answer up to `cap` bytes, and whether there was more (then the connection is closed)."""
    parts: list[bytes] = []
    read = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        room = cap - read
        if len(chunk) > room:
            parts.append(chunk[:room])
            response.close()
            return b"".join(parts), True
        parts.append(chunk)
        read += len(chunk)
    return b"".join(parts), False


def result_of(answer: Answer) -> Any:
    """The answer as the model reads it: its JSON when it is JSON (and whole), else its text."""
    if not answer.truncated:
        try:
            return msgspec.json.decode(answer.body) if answer.body.strip() else None
        except msgspec.DecodeError:
            pass
    return answer.body.decode("utf-8", errors="replace")

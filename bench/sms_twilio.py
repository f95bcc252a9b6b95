"""The SMS bench's Twilio: the Messages API of `tests/fake_twilio.py`, plus the signed status callbacks Twilio posts.

Runs in a process of its own (so its CPU is not the server's), on uvloop with the cyclic GC
off (its objects live until the process ends). Each message the server sends is recorded
with its arrival time (``time.time()``), and, while callbacks are on, answered later by
two callbacks to its ``StatusCallback``, ``sent`` then ``delivered``, each signed with the
Auth Token as Twilio signs them (the twilio library's `RequestValidator`), posted by
``--posters`` tasks at once over keep-alive connections.

Control routes for the bench (no auth; 127.0.0.1 only): ``POST /bench/own`` {"phones": [...]}
puts numbers in the account, ``POST /bench/callbacks`` {"on": bool}, ``GET /bench/arrivals``
gives ``[[time, from, to, body], ...]`` and ``GET /bench/stats`` the callbacks posted and failed.

    python bench/sms_twilio.py --posters 16      # prints its base URL, serves until killed
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from aiohttp import web
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fake_http import serve_locally  # noqa: E402
from tests.fake_twilio import FakeTwilio  # noqa: E402

CALLBACK_STATUSES = ("sent", "delivered")


@dataclasses.dataclass
class CallingTwilio(FakeTwilio):
    """The fake account, recording arrivals and queueing each accepted message's callbacks."""

    arrivals: list[tuple[float, str, str, str]] = dataclasses.field(default_factory=list)
    pending: asyncio.Queue[dict[str, Any]] = dataclasses.field(default_factory=asyncio.Queue)
    callbacks_on: bool = True
    posted: int = 0
    failed: int = 0

    def _send_message(self, form: dict[str, str]) -> web.Response:
        response = super()._send_message(form)
        message = self.messages[-1]
        self.arrivals.append((time.time(), message["from"], message["to"], message["body"]))
        if self.callbacks_on and message["status_callback"]:
            self.pending.put_nowait(message)
        return response


async def post_callbacks(twilio: CallingTwilio, session: aiohttp.ClientSession) -> None:
    """Forever: take an accepted message, post its callbacks in order (as Twilio would, signed)."""
    validator = RequestValidator(twilio.auth_token)
    while True:
        message = await twilio.pending.get()
        url = message["status_callback"]
        for status in CALLBACK_STATUSES:
            params = {"AccountSid": twilio.account_sid, "ApiVersion": "2010-04-01", "From": message["from"],
                      "MessageSid": message["sid"], "MessageStatus": status, "SmsSid": message["sid"],
                      "SmsStatus": status, "To": message["to"]}
            headers = {"X-Twilio-Signature": validator.compute_signature(url, params)}
            try:
                async with session.post(url, data=params, headers=headers) as answer:
                    await answer.read()
                    ok = answer.status == 204
            except aiohttp.ClientError:
                ok = False
            twilio.posted += ok
            twilio.failed += not ok


def control_routes(twilio: CallingTwilio) -> web.Application:
    """The fake's own app with the bench's control routes added."""
    app = twilio.app()

    async def own(request: web.Request) -> web.Response:
        for phone in (await request.json())["phones"]:
            twilio.own(phone)
        return web.json_response({"owned": len(twilio.owned)})

    async def callbacks(request: web.Request) -> web.Response:
        twilio.callbacks_on = bool((await request.json())["on"])
        return web.json_response({"on": twilio.callbacks_on})

    async def arrivals(_: web.Request) -> web.Response:
        return web.json_response(twilio.arrivals)

    async def stats(_: web.Request) -> web.Response:
        return web.json_response({"posted": twilio.posted, "failed": twilio.failed, "pending": twilio.pending.qsize(),
                                  "messages": len(twilio.messages)})

    app.router.add_post("/bench/own", own)
    app.router.add_post("/bench/callbacks", callbacks)
    app.router.add_get("/bench/arrivals", arrivals)
    app.router.add_get("/bench/stats", stats)
    return app


async def main(posters: int) -> None:
    twilio = CallingTwilio()
    runner, port = await serve_locally(control_routes(twilio))
    twilio.base_url = f"http://127.0.0.1:{port}"
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=posters))
    tasks = [asyncio.create_task(post_callbacks(twilio, session)) for _ in range(posters)]
    gc.collect()
    gc.disable()
    print(twilio.base_url, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        for task in tasks:
            task.cancel()
        await session.close()
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posters", type=int, default=16, help="callbacks in flight at once")
    uvloop.run(main(parser.parse_args().posters))

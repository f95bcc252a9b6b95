"""A business's own calendar service on 127.0.0.1, as a `remote` calendar_booking action calls it.

It speaks `automations.calendar_remote`'s contract: signed POSTs to `/availability`, `/book` and
`/cancel`, each a Standard Webhooks message whose signature is checked with `standardwebhooks` when
`secret` is set (a bad one is a 401).
Bookings are kept in memory by start (one per slot) and idempotency key. `delay` makes every
answer that many seconds late (a slow calendar).
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from standardwebhooks.webhooks import Webhook


class FakeCalendar:
    """Start with `async with FakeCalendar() as calendar:`; `base_url` is the action's `baseUrl`."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.secret: str | None = None
        self.bookings: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []
        self._server: TestServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}/calendar"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(request.match_info["operation"])
        if self.secret is not None and not self._signed(body, request):
            return web.json_response({"error": "bad signature"}, status=401)
        await asyncio.sleep(self.delay)
        data: dict[str, Any] = (await request.json())["data"]
        operation = request.match_info["operation"]
        if operation == "availability":
            taken = {b["start"] for b in self.bookings.values() if b["live"]}
            return web.json_response({"free": [s for s in data["slots"] if s not in taken]})
        if operation == "book":
            for booking_id, booking in self.bookings.items():
                if booking["key"] == data["idempotencyKey"]:
                    return web.json_response({"id": booking_id}, status=201)
                if booking["live"] and booking["start"] == data["start"]:
                    return web.json_response({"error": "taken"}, status=409)
            booking_id = uuid.uuid4().hex
            self.bookings[booking_id] = {"start": data["start"], "key": data["idempotencyKey"], "live": True}
            return web.json_response({"id": booking_id}, status=201)
        found = self.bookings.get(data["bookingId"])
        if found is None or not found["live"]:
            return web.json_response({"error": "no such booking"}, status=404)
        found["live"] = False
        return web.json_response({"cancelled": True})

    def _signed(self, body: bytes, request: web.Request) -> bool:
        """One `v1` entry is the secret's, as `standardwebhooks` signs at the header's own timestamp (the
        tests' clock is injected, so the library's five-minute window would refuse it)."""
        assert self.secret is not None
        stamp = datetime.datetime.fromtimestamp(int(request.headers["webhook-timestamp"]), tz=datetime.UTC)
        expected = Webhook(self.secret).sign(request.headers["webhook-id"], stamp, body.decode())
        return expected in request.headers["webhook-signature"].split(" ")

    async def __aenter__(self) -> FakeCalendar:
        app = web.Application()
        app.router.add_post("/calendar/{operation:availability|book|cancel}", self._handle)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        await self._server.close()

"""A webhook receiver on 127.0.0.1 that checks every signature with `standardwebhooks`, and misbehaves on request.

The path says how it answers: `/ok` (204), `/echo` (200, the request's body as the answer),
`/close` (204, then the connection closed), `/500`,
`/410`, `/429/<seconds>` (with Retry-After), `/301` (a redirect to `/ok`, which must never be followed), `/slow/<seconds>`, `/reset` (the
connection dropped before any answer), `/5mb` (200 with a 5 MB body, sent slowly enough that a
reader that does not stop would be seen). `script(path, [...])` overrides a path's answers in
order (then its default). Every request is kept in `received`, raw, with the time it arrived.

Signatures are checked by the `standardwebhooks` package (an independent implementation):
`verifies()` recomputes with its `Webhook.sign` at the header's own timestamp, so tests on an
injected clock check them too; `verify_now()` is the library's full check (timestamp within 5
minutes of the real clock).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from standardwebhooks.webhooks import Webhook

BIG_BYTES = 5 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def verifies(self, secret: str) -> bool:
        """True when one `v1` entry of the signature is `secret`'s, as `standardwebhooks` computes it."""
        stamp = datetime.datetime.fromtimestamp(int(self.headers["webhook-timestamp"]), tz=datetime.UTC)
        expected = Webhook(secret).sign(self.webhook_id, stamp, self.body.decode())
        return expected in self.headers["webhook-signature"].split(" ")

    def verify_now(self, secret: str) -> Any:
        """`Webhook.verify` as a receiver runs it: the parsed body, or WebhookVerificationError."""
        return Webhook(secret).verify(self.body, self.headers)


class FakeWebhookReceiver:
    """Start with `async with FakeWebhookReceiver() as receiver:`; `url(path)` is where to send."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._scripts: dict[str, list[str]] = {}
        self._server: TestServer | None = None
        # Connections whose answer is still being slept on: closed at exit, not left for the collector.
        self._sleeping: set[asyncio.Transport] = set()

    def url(self, path: str) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}{path}"

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.port or 0)

    def script(self, path: str, answers: Sequence[str]) -> None:
        """Answer the next requests on `path` with these behaviours (`ok`, `500`, `410`, ...), in order."""
        self._scripts[path] = list(answers)

    def on(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(Received(request.path, {k.lower(): v for k, v in request.headers.items()}, body,
                                      time.monotonic()))
        script = self._scripts.get(request.path)
        behaviour = script.pop(0) if script else request.path.strip("/")
        return await self._answer(request, behaviour)

    async def _answer(self, request: web.Request, behaviour: str) -> web.StreamResponse:
        kind, _, arg = behaviour.partition("/")
        if kind == "ok":
            return web.Response(status=204)
        if kind == "echo":
            return web.Response(status=200, body=await request.read(), content_type="application/json")
        if kind == "close":
            answer = web.Response(status=204)
            answer.force_close()
            return answer
        if kind == "429":
            return web.Response(status=429, headers={"Retry-After": arg or "60"})
        if kind == "301":
            return web.Response(status=301, headers={"Location": self.url("/ok")})
        if kind == "slow":
            transport = request.transport
            if transport is not None:
                self._sleeping.add(transport)
            try:
                await asyncio.sleep(float(arg or 30))
            finally:
                self._sleeping.discard(transport)
            return web.Response(status=204)
        if kind == "reset":
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=204)
        if kind == "5mb":
            return await self._big(request)
        return web.Response(status=int(kind), text="no")

    async def _big(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Length": str(BIG_BYTES)})
        await response.prepare(request)
        chunk = b"x" * 65536
        written = 0
        try:
            for _ in range(BIG_BYTES // len(chunk)):
                await response.write(chunk)
                written += len(chunk)
                await asyncio.sleep(0.001)
        finally:
            if written < BIG_BYTES:
                self._scripts.setdefault("_aborted", []).append(request.path)
        return response

    @property
    def big_answers_aborted(self) -> int:
        """How many 5 MB answers the client stopped reading (the connection closed under the writer)."""
        return len(self._scripts.get("_aborted", []))

    async def __aenter__(self) -> FakeWebhookReceiver:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        for transport in list(self._sleeping):
            transport.abort()  # a slow answer outliving its test: its socket closed now
        await self._server.close()


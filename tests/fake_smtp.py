"""A local SMTP server (aiosmtpd's protocol) in the caller's event loop, on 127.0.0.1 and a free port.

aiosmtpd's threaded `Controller` can't bind port 0, so the `SMTP` protocol is served with
`loop.create_server` directly. Replies can be scripted: the next DATA replies (`451 ...`,
`550 ...`) and refused recipients; every accepted message is kept, parsed. `stop()` and
`start()` take the server down and bring it back on the same port::

    async with FakeSmtp() as smtp:
        smtp.data_replies.append("451 4.3.0 try again later")
        mailer = SmtpMailer(SmtpTarget.parse(smtp.url), timeout_seconds=5)
"""

from __future__ import annotations

import asyncio
import email.policy
from collections import deque
from email.message import EmailMessage
from email.parser import BytesParser
from types import TracebackType

from aiosmtpd.smtp import SMTP, Envelope, Session


class _Handler:
    def __init__(self, fake: FakeSmtp) -> None:
        self._fake = fake

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        refused = self._fake.refuse.get(address)
        if refused is not None:
            return refused
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._fake.data_replies:
            reply = self._fake.data_replies.popleft()
            if not reply.startswith("2"):
                return reply
        self._fake.accepted += 1
        if self._fake.keep:
            content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
            message = BytesParser(policy=email.policy.default).parsebytes(content)
            assert isinstance(message, EmailMessage)
            self._fake.received.append(message)
            self._fake.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return f"250 2.0.0 Ok: queued as Q{self._fake.accepted}"


class FakeSmtp:
    """The server and what it saw; `url` is `smtp://127.0.0.1:PORT` once started.

    With `keep=False` (the bench) messages are only counted (`accepted`), not parsed and kept.
    """

    def __init__(self, *, keep: bool = True) -> None:
        self.keep = keep
        self.accepted = 0
        self.received: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.data_replies: deque[str] = deque()
        self.refuse: dict[str, str] = {}
        self.port = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._sessions: list[SMTP] = []

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen (again on the same port after a `stop()`)."""
        handler = _Handler(self)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: self._session(handler), "127.0.0.1", self.port,
                                                reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    def _session(self, handler: _Handler) -> SMTP:
        self.connections += 1
        session = SMTP(handler, hostname="fake-smtp.test")
        self._sessions.append(session)
        return session

    async def drop_clients(self) -> None:
        """Close every open client connection (a server dropping idle ones)."""
        for session in self._sessions:
            if session.transport is not None:
                session.transport.close()
        self._sessions.clear()
        await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await self.drop_clients()

    async def __aenter__(self) -> FakeSmtp:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()


def serve_forever(port: int = 0) -> None:
    """Run a counting fake on `port` in this process until killed (the bench's SMTP server)."""
    async def main() -> None:
        fake = FakeSmtp(keep=False)
        fake.port = port
        await fake.start()
        print(fake.port, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())

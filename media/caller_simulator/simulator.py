"""One simulated call, start to hang-up: the signed webhook, then the media stream with its line, player and script.

The caller's side of the call is spread over this package's modules; this one wires them
onto one socket and closes the stream as Twilio does (``stop``, then the socket).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets

import aiohttp
from yarl import URL

from media.caller_simulator.line import Line
from media.caller_simulator.pacing import Pacer
from media.caller_simulator.playback import Player, echo_marks, receive
from media.caller_simulator.result import CallResult
from media.caller_simulator.script import Script
from media.caller_simulator.steps import Step
from media.caller_simulator.web_wire import WebWire
from media.caller_simulator.webhook import VOICE_PATH, parse_twiml, sign
from media.protocol.twilio import Connected, MediaFormat, Start, Stop


class CallerSimulator:
    """Places one simulated call.

    Args:
        server_url: where the server listens, e.g. ``http://127.0.0.1:8080``.
        public_url: the server's PUBLIC_URL (what Twilio signs); defaults to ``server_url``.
        auth_token: the Twilio auth token shared with the server.
        session: an aiohttp session (one per process for many calls).
        quiet_timeout: give up waiting for the agent to finish after this many seconds.
        reply_timeout: seconds to wait for an expected reply (or greeting) to start before
            taking the next step anyway.
        record_arrivals: keep every agent frame with its arrival time (``CallResult.arrivals``).
    """

    def __init__(self, server_url: str, auth_token: str, session: aiohttp.ClientSession, *,
                 public_url: str | None = None, quiet_timeout: float = 30.0, reply_timeout: float = 3.0,
                 record_arrivals: bool = False) -> None:
        self.server_url = server_url.rstrip("/")
        self.public_url = (public_url or server_url).rstrip("/")
        self.auth_token = auth_token
        self.session = session
        self.quiet_timeout = quiet_timeout
        self.reply_timeout = reply_timeout
        self.record_arrivals = record_arrivals
        self._pacer: Pacer | None = None

    def _pacer_here(self) -> Pacer:
        """One pacer for all of this simulator's calls on the running loop (a new loop gets a new one)."""
        loop = asyncio.get_running_loop()
        if self._pacer is None or self._pacer.loop is not loop:
            self._pacer = Pacer(loop)
        return self._pacer

    async def call(self, to_number: str, steps: list[Step], *, from_number: str = "+15551230000",
                   call_sid: str | None = None) -> CallResult:
        """Run the call through ``steps``; hang up when they are done and the agent is quiet."""
        call_sid = call_sid or "CA" + secrets.token_hex(16)
        account_sid = "AC" + "0" * 32
        form = {"CallSid": call_sid, "AccountSid": account_sid, "From": from_number, "To": to_number,
                "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01"}
        headers = {"X-Twilio-Signature": sign(self.auth_token, self.public_url + VOICE_PATH, form)}
        async with self.session.post(self.server_url + VOICE_PATH, data=form, headers=headers) as resp:
            twiml = await resp.text()
            if resp.status != 200:
                raise RuntimeError(f"voice webhook answered {resp.status}: {twiml[:200]}")
        result = CallResult(call_sid=call_sid, twiml=twiml)
        if self.record_arrivals:
            result.arrivals = []
        url, params, refusal = parse_twiml(twiml)
        if url is None:
            result.refused_with = refusal
            return result
        await self._stream(url, params, steps, result, account_sid)
        return result

    async def web_call(self, stream_url: str, token: str, steps: list[Step], *,
                       origin: str | None = None, wire: WebWire | None = None) -> CallResult:
        """A browser's call: the same wire protocol on the server's web stream, admitted by ``token``.

        ``wire`` is the browser's audio format and framing (default: μ-law in ``media`` messages).
        """
        result = CallResult(call_sid="", twiml="")
        if self.record_arrivals:
            result.arrivals = []
        wire = wire or WebWire()
        await self._stream(stream_url, {"token": token, **wire.parameters()}, steps, result, "AC" + "0" * 32,
                           origin=origin, wire=wire)
        return result

    def _local(self, stream_url: str) -> str:
        """The TwiML's public stream URL, re-pointed at the server we actually reach."""
        public, local = URL(stream_url), URL(self.server_url)
        return str(public.with_scheme("wss" if local.scheme == "https" else "ws")
                   .with_host(local.host or "127.0.0.1").with_port(local.port))

    async def _stream(self, url: str, params: dict[str, str], steps: list[Step], result: CallResult,
                      account_sid: str, *, origin: str | None = None, wire: WebWire | None = None) -> None:
        headers = {"X-Twilio-Signature": sign(self.auth_token, url, {})}
        if origin is not None:
            headers["Origin"] = origin
        stream_sid = "MZ" + secrets.token_hex(16)
        async with self.session.ws_connect(self._local(url), headers=headers, heartbeat=20.0) as ws:
            await ws.send_str(Connected(protocol="Call", version="1.0.0").to_json())
            await ws.send_str(Start(
                sequence_number=1, stream_sid=stream_sid, account_sid=account_sid, call_sid=result.call_sid,
                tracks=("inbound",), custom_parameters=params,
                media_format=wire.media_format() if wire else MediaFormat("audio/x-mulaw", 8000, 1)).to_json())
            player = Player(self._pacer_here(), result)
            line = Line(ws, stream_sid, result, player.pacer, wire)
            tasks = [asyncio.create_task(line.send_loop()), asyncio.create_task(receive(ws, player, line)),
                     asyncio.create_task(echo_marks(ws, stream_sid, player, line))]
            try:
                await Script(self.quiet_timeout, self.reply_timeout).run(steps, line, player, tasks[1])
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                player.close()
                if not ws.closed:
                    with contextlib.suppress(ConnectionError):
                        await ws.send_str(Stop(sequence_number=line.sequence + 1, stream_sid=stream_sid,
                                               account_sid=account_sid, call_sid=result.call_sid).to_json())
                    await ws.close()
                result.close_code = ws.close_code

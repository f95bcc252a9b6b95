"""What every HTTP fake shares: serving on a free 127.0.0.1 port, and streaming a body in timed chunks."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web


async def serve_locally(app: web.Application) -> tuple[web.AppRunner, int]:
    """Start ``app`` on 127.0.0.1 (a free port); the caller cleans the runner up."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, int(runner.addresses[0][1])


async def stream_body(request: web.Request, body: bytes, *, content_type: str, first_byte_delay: float,
                      chunk_bytes: int, chunk_delay: float) -> web.StreamResponse:
    """Answer with ``body`` as a provider's streaming TTS does: head after a delay, then paced chunks.

    A client that hangs up mid-body (a barge-in cancels the speech) ends the answer quietly.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.sleep(first_byte_delay)
    resp = web.StreamResponse(headers={"Content-Type": content_type})
    with contextlib.suppress(ConnectionError):
        await resp.prepare(request)
        for n, i in enumerate(range(0, len(body), chunk_bytes)):
            if i and chunk_delay:  # due at a fixed time from the request, so sleeps' lateness does not add up
                await asyncio.sleep(start + first_byte_delay + n * chunk_delay - loop.time())
            await resp.write(body[i : i + chunk_bytes])
        await resp.write_eof()
    return resp

"""Operations: health/readiness, graceful shutdown, and the real `agent-server serve` process."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

from agent_server.app import make_app
from agent_server.config import Settings
from agent_server.state import SOCKETS
from tests.conftest import JWT_SECRET


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_graceful_shutdown_finishes_in_flight_request_and_closes_websockets(settings: Settings) -> None:
    app = make_app(settings)

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.5)
        return web.json_response({"done": True})

    async def socket_route(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        request.app[SOCKETS].add(ws)
        async for _ in ws:
            pass
        return ws

    app.router.add_get("/test/slow", slow)
    app.router.add_get("/test/ws", socket_route)
    runner = web.AppRunner(app, shutdown_timeout=5)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"http://127.0.0.1:{port}/test/ws")
        in_flight = asyncio.create_task(session.get(f"http://127.0.0.1:{port}/test/slow"))
        await asyncio.sleep(0.1)
        shutdown = asyncio.create_task(runner.cleanup())
        resp = await in_flight
        assert resp.status == 200 and await resp.json() == {"done": True}
        msg = await ws.receive()
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1001
        await shutdown


async def test_readiness_checks_the_database(app_client: object) -> None:
    resp = await app_client.get("/readyz")  # type: ignore[attr-defined]
    assert resp.status == 200
    assert (await app_client.get("/healthz")).status == 200  # type: ignore[attr-defined]


async def test_serve_process_comes_up_logs_json_and_exits_on_sigterm(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SUPABASE_JWT_SECRET": JWT_SECRET, "PORT": str(port)}
    exe = Path(sys.executable).parent / "agent-server"
    proc = subprocess.Popen([str(exe), "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
                assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.get_running_loop().run_in_executor(None, lambda: proc.communicate(timeout=20))
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    lines = [orjson.loads(line) for line in out.splitlines() if line.strip()]
    events = [line["event"] for line in lines]
    assert "serving" in events
    requests = [line for line in lines if line["event"] == "request"]
    assert requests and all("request_id" in line for line in requests)


async def test_workers_share_one_port_and_all_stop_on_sigterm(database_url: str) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SUPABASE_JWT_SECRET": JWT_SECRET, "PORT": str(port)}
    exe = Path(sys.executable).parent / "agent-server"
    # Three processes share one pipe; a line longer than the default 64 KiB limit would end the reader.
    proc = await asyncio.create_subprocess_exec(str(exe), "serve", "--workers", "2", env=env, limit=1 << 22,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    lines: list[dict[str, object]] = []

    async def read_until(predicate: object) -> None:
        assert proc.stdout is not None
        while not predicate(lines):  # type: ignore[operator]
            raw = await proc.stdout.readline()
            assert raw, "server exited early"
            if raw.startswith(b"{"):
                try:
                    lines.append(orjson.loads(raw))
                except orjson.JSONDecodeError:
                    lines.append({"event": "UNPARSED", "raw": raw.decode(errors="replace")})
            else:
                lines.append({"event": "NONJSON", "raw": raw.decode(errors="replace")})

    def serving_pids(seen: list[dict[str, object]]) -> set[object]:
        return {line["pid"] for line in seen if line["event"] == "serving" and "workers" not in line}

    try:
        # Each worker logs `serving` just before it binds; then give both a moment to listen.
        await asyncio.wait_for(read_until(lambda seen: len(serving_pids(seen)) == 2), 60)
        reader = asyncio.create_task(read_until(lambda seen: False))
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        for _ in range(60):
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as fresh:
                async with fresh.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
        await asyncio.gather(reader, return_exceptions=True)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0
    pids = {line["pid"] for line in lines if line["event"] == "request" and line.get("path") == "/healthz"}
    assert pids == serving_pids(lines)
    assert any(line["event"] == "workers_stopped" for line in lines), lines[-40:]


async def test_sigterm_lets_live_calls_finish_then_tells_the_rest_to_say_goodbye(
        make_settings: Callable[..., Settings]) -> None:
    from agent_server.state import LIVE_CALLS
    from media.pipeline.lifecycle import EndReason
    from tests.agent_server.test_call_control import held

    settings = make_settings()
    settings = dataclasses.replace(settings, server=dataclasses.replace(settings.server, call_drain_seconds=0.6))
    app = make_app(settings)
    runner = web.AppRunner(app, shutdown_timeout=2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", free_port()).start()
    live = app[LIVE_CALLS]
    finishing, stubborn = held("CAfinishing"), held("CAstubborn")
    live.add(finishing)  # type: ignore[arg-type]
    live.add(stubborn)  # type: ignore[arg-type]
    asyncio.get_running_loop().call_later(0.2, live.remove, finishing)  # type: ignore[arg-type]
    stubborn_ends = asyncio.get_running_loop().call_later(1.5, live.remove, stubborn)  # type: ignore[arg-type]
    started = asyncio.get_running_loop().time()
    await runner.cleanup()
    stubborn_ends.cancel()
    assert finishing.ended == []
    assert stubborn.ended == [(EndReason.SHUTDOWN, settings.calls.goodbye_text)]
    assert asyncio.get_running_loop().time() - started >= 0.6

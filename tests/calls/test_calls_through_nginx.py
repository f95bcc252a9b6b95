"""A call carried through a real nginx (Debian's, installed when missing) with the recommended config."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from agent_server.nginx_config import ensure_nginx, nginx_config, start_nginx
from media.caller_simulator import CallerSimulator, Say
from tests.calls.conftest import AUTH_TOKEN, NUMBER, speech
from tests.conftest import PUBLIC_URL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_listening(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError("nginx did not start listening")


async def test_a_call_goes_through_nginx_to_the_server(line_factory: Any, tmp_path: Path) -> None:
    await asyncio.to_thread(ensure_nginx)
    line = await line_factory()
    line.deepgram.state.say("What are your opening hours?")
    line.openai.state.script("We open at nine.")
    port = free_port()
    (tmp_path / "nginx.conf").write_text(nginx_config(port, [line.client.port], tmp_path))
    nginx = start_nginx(tmp_path)
    try:
        await wait_listening(port)
        simulator = CallerSimulator(f"http://127.0.0.1:{port}", AUTH_TOKEN, line.http, public_url=PUBLIC_URL,
                                    quiet_timeout=10.0)
        result = await simulator.call(NUMBER, [Say(speech())])
        await line.settled()
    finally:
        nginx.terminate()
        await asyncio.to_thread(nginx.wait, 10)
    assert result.refused_with is None and result.replies == 2
    assert len(result.turn_latencies_ms) == 1
    turns = await line.turns(result.call_sid)
    assert [t["text"] for t in turns][-1] == "We open at nine."

"""The floor beside the server: a bare Twilio voice relay on the same fakes, placed on the same core.

``/work/shared/bench/floor_relay.py`` speaks the same wire protocols as the agent server with
no framework, database or metering, so what the server adds beyond it is the price of its
features. Absolute latencies travel badly between machines and days; the floor measured in
the same run, on the same fakes and the same load, is the comparison that holds.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

sys.path.insert(0, str(Path(__file__).resolve().parent))

import calls as bench_calls  # noqa: E402  (bench/calls.py: ports, readiness)

FLOOR_RELAY: Final = Path("/work/shared/bench/floor_relay.py")
VOICE_PATH: Final = "/voice/incoming"
"""The relay's voice webhook (the agent server's is ``/api/voice-agent/handle-call``)."""


@contextlib.contextmanager
def floor_relay(script: Path, providers_url: str, cpus: str | None) -> Iterator[tuple[str, int]]:
    """Run the relay (pinned to ``cpus`` when given) until the block ends; yields its URL and pid."""
    port = bench_calls._free_port()
    command = [sys.executable, str(script), "--port", str(port), "--providers", providers_url,
               "--auth-token", bench_calls.AUTH_TOKEN]
    if cpus:
        command = ["taskset", "-c", cpus, *command]
    relay = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        bench_calls._wait_ready(port)
        yield f"http://127.0.0.1:{port}", relay.pid
    finally:
        relay.terminate()
        relay.wait(timeout=20)

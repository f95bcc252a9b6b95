"""`serve --workers N`: N server processes on one port (SO_REUSEPORT), all sharing PostgreSQL.

Each worker is a full `agent-server serve` process with its own event loop, pool and
sockets; the kernel spreads new connections across them. Anything that must happen once
(migrations, scheduled jobs) is serialised in the database (advisory locks), and call
control crosses processes through LISTEN/NOTIFY, so any process can take any request.
The supervisor only starts workers, restarts one that dies, and on SIGTERM/SIGINT passes
SIGTERM on so every worker drains gracefully, killing only those still alive after the
drain bound.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

import structlog

log = structlog.get_logger(__name__)

# A worker dying more often than this is a crash loop, not bad luck: give up loudly.
MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 30.0


def worker_command(port: int) -> list[str]:
    exe = Path(sys.executable).parent / "agent-server"
    return [str(exe), "serve", "--port", str(port), "--worker"]


def supervise(count: int, command: Sequence[str], env: Mapping[str, str], drain_seconds: float) -> int:
    """Run `count` copies of `command` until SIGTERM/SIGINT; returns the exit code."""
    procs = [subprocess.Popen(command, env=dict(env)) for _ in range(count)]
    log.info("workers_started", pids=[p.pid for p in procs])
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    restarts: list[float] = []
    code = 0
    try:
        while not stopping:
            for i, proc in enumerate(procs):
                if proc.poll() is None:
                    continue
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < RESTART_WINDOW_SECONDS] + [now]
                log.warning("worker_exited", pid=proc.pid, returncode=proc.returncode, restarts=len(restarts))
                if len(restarts) > MAX_RESTARTS:
                    log.error("worker_crash_loop", restarts=len(restarts))
                    stopping, code = True, 1
                    break
                procs[i] = subprocess.Popen(command, env=dict(env))
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_all(procs, drain_seconds)
    return code


def _stop_all(procs: Sequence[subprocess.Popen[bytes]], drain_seconds: float) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + drain_seconds + 5.0
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("worker_killed_after_drain", pid=proc.pid)
            proc.kill()
            proc.wait()
    log.info("workers_stopped", pids=[p.pid for p in procs], supervisor=os.getpid())

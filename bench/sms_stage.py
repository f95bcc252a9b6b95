"""The SMS bench's processes: the embedded PostgreSQL, the Twilio fake, `agent-server serve`, and their CPU.

Placement (``--server-cpus``, ``--load-cpus``; taskset lists): the server alone on its core,
the database, the Twilio fake and the bench process (load generator) on the other(s), so
"one process on one core" is the server's. Every figure carries the machine's load average
(``/proc/loadavg``) at its start and end, since other work shares these CPUs, and CPU-seconds
per message of each process, which load does not change as it changes wall-clock rates.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.limits import cpu_seconds, database_cpu, process_tree  # noqa: E402
from bench.served import wait_ready  # noqa: E402

JWT_SECRET = "bench-secret-with-enough-entropy-0123456789abcdef"


def loadavg() -> str:
    """The 1-minute load average now (``/proc/loadavg``)."""
    return Path("/proc/loadavg").read_text().split()[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pinned(cpus: str | None, command: list[str]) -> list[str]:
    return ["taskset", "-c", cpus, *command] if cpus else command


def cpu_set(cpus: str) -> set[int]:
    """A taskset list (``1``, ``0,2``, ``1-3``) as a set of CPUs."""
    found: set[int] = set()
    for part in cpus.split(","):
        low, _, high = part.partition("-")
        found.update(range(int(low), int(high or low) + 1))
    return found


def pin_tree(pid: int, cpus: str | None) -> None:
    """Pin a running process and its children (the postmaster and its backends) to a taskset list."""
    if not cpus:
        return
    wanted = cpu_set(cpus)
    for child in process_tree(pid):
        for task in Path(f"/proc/{child}/task").iterdir():
            with contextlib.suppress(ProcessLookupError, FileNotFoundError):
                os.sched_setaffinity(int(task.name), wanted)


def tree_cpu(pid: int) -> float:
    total = 0.0
    for child in process_tree(pid):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += cpu_seconds(child)
    return total


@dataclasses.dataclass
class Usage:
    """What one measured stretch cost: wall seconds, CPU-seconds per process, load average before and after."""

    wall: float
    server: float
    database: float
    twilio: float
    bench: float
    load: tuple[str, str]

    def per_message(self, messages: int) -> str:
        ms = {name: getattr(self, name) / messages * 1000 for name in ("server", "database", "twilio", "bench")}
        return ("CPU per message: " + ", ".join(f"{name} {value:.2f} ms" for name, value in ms.items())
                + f" (server: {messages / self.server:,.0f} messages per CPU-second)")

    def describe(self) -> str:
        return (f"{self.wall:.2f} s wall; CPU server {self.server:.1f} s ({self.server / self.wall * 100:.0f}% of a"
                f" core), database {self.database:.1f} s, Twilio fake {self.twilio:.1f} s, bench {self.bench:.1f} s;"
                f" load average {self.load[0]} -> {self.load[1]}")


class Meter:
    """CPU of the processes a figure depends on, between `start` and `stop`."""

    def __init__(self, server_pid: int, postmaster: int, twilio_pid: int) -> None:
        self._pids = (server_pid, postmaster, twilio_pid)
        self._start: tuple[float, ...] = ()

    def _now(self) -> tuple[float, ...]:
        server, postmaster, twilio = self._pids
        return (time.perf_counter(), tree_cpu(server), database_cpu(postmaster), cpu_seconds(twilio),
                time.process_time())

    def start(self) -> None:
        self._start = self._now()
        self._load = loadavg()

    def stop(self, wall: float | None = None) -> Usage:
        end = self._now()
        d = [b - a for a, b in zip(self._start, end, strict=True)]
        return Usage(wall if wall is not None else d[0], d[1], d[2], d[3], d[4], (self._load, loadavg()))


class Twilio:
    """The Twilio fake (`bench/sms_twilio.py`) in its own process, and its control routes."""

    def __init__(self, cpus: str | None, posters: int) -> None:
        self.process = subprocess.Popen(
            pinned(cpus, [sys.executable, str(ROOT / "bench/sms_twilio.py"), "--posters", str(posters)]),
            cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()
        self.session: aiohttp.ClientSession | None = None

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        if self.session is None:
            self.session = aiohttp.ClientSession()
        async with self.session.request(method, self.base_url + path, json=body) as answer:
            answer.raise_for_status()
            return await answer.json()

    async def own(self, phones: list[str]) -> None:
        await self._call("POST", "/bench/own", {"phones": phones})

    async def callbacks(self, on: bool) -> None:
        await self._call("POST", "/bench/callbacks", {"on": on})

    async def arrivals(self) -> list[tuple[float, str, str, str]]:
        return [tuple(a) for a in await self._call("GET", "/bench/arrivals")]  # type: ignore[misc]

    async def stats(self) -> dict[str, int]:
        found: dict[str, int] = await self._call("GET", "/bench/stats")
        return found

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        self.process.kill()
        self.process.wait()


@contextlib.asynccontextmanager
async def server(env: Mapping[str, str], cpus: str | None, log: Path) -> AsyncIterator[tuple[str, int]]:
    """`agent-server serve` on a free port for the block: yields its base URL and pid; stopped with SIGTERM."""
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(pinned(cpus, [str(ROOT / ".venv/bin/agent-server"), "serve", "--port", str(port)]),
                                   cwd=ROOT, env={**env, "PUBLIC_URL": f"http://127.0.0.1:{port}"},
                                   stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(base, process)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def config_with(overrides: Mapping[str, str], scratch: Path) -> Path:
    """config.toml with some `key = value` lines replaced (``{"long_code_mps": "1000.0"}``), written to `scratch`."""
    lines = (ROOT / "config.toml").read_text().splitlines()
    done = set()
    for i, line in enumerate(lines):
        key = line.split("=", 1)[0].strip()
        if key in overrides and "=" in line and not line.lstrip().startswith("#"):
            lines[i], _ = f"{key} = {overrides[key]}", done.add(key)
    missing = set(overrides) - done
    if missing:
        raise ValueError(f"not in config.toml: {', '.join(sorted(missing))}")
    path = scratch / f"config-{len(list(scratch.glob('config-*')))}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path

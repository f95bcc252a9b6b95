"""How the soak reads the server from outside (`/metrics`, `/proc`: fds, sockets, RSS) and when it is at rest."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import aiohttp
import asyncpg


def read_process(pid: int, ports: dict[int, str]) -> tuple[int, dict[str, int], int, int]:
    """Open fds, its sockets by kind, RSS in KiB and threads of process ``pid``.

    A TCP socket is named for the port at either end found in ``ports`` (the server's own:
    callers; the fakes': providers), else ``tcp``; the rest are ``unix`` (PostgreSQL's
    socket among them) or ``other``.
    """
    tcp = tcp_ports(pid)
    fds = 0
    sockets: dict[str, int] = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        fds += 1
        if target.startswith("socket:["):
            ends = tcp.get(target[8:-1])
            kind = "unix/other" if ends is None else next((ports[p] for p in ends if p in ports), "tcp")
            sockets[kind] = sockets.get(kind, 0) + 1
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return fds, sockets, int(status["VmRSS"].split()[0]), int(status["Threads"])


def tcp_ports(pid: int) -> dict[str, tuple[int, int]]:
    """Socket inode → (local port, remote port) of every TCP socket in ``pid``'s network namespace."""
    ends: dict[str, tuple[int, int]] = {}
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = row.split()
            ends[fields[9]] = (int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16))
    return ends


async def read_metrics(url: str) -> dict[str, float]:
    """The unlabelled series of ``/metrics``, on a connection that does not stay open."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        async with http.get(url + "/metrics") as resp:
            text = await resp.text()
    values: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if line and not line.startswith("#") and "{" not in name:
            values[name] = float(value)
    return values


async def wait_for(predicate_url: str, proc: subprocess.Popen[bytes], live: float | None = None) -> None:
    """Until the server answers (``live`` None) or holds ``live`` calls, per ``/metrics``."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            values = await read_metrics(predicate_url)
            if live is None or values.get("agent_live_calls") == live:
                return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("server did not come to rest")


async def wait_for_connections_closed(pid: int, ports: dict[int, str], bound: float = 10.0) -> None:
    """Until the server holds no connection from a caller or to a provider (its listener only), at most ``bound`` s.

    No live call is not yet rest: each call's handler and connection end a moment after its
    session (later under load), and a sample read at once counts their tasks. A connection
    that never closes is still there when the bound runs out, and the sample counts it.
    """
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        kinds = read_process(pid, ports)[1]
        if kinds.get("callers", 0) <= 1 and not kinds.get("providers"):
            return
        await asyncio.sleep(0.05)


async def wait_for_jobs_done(dsn: str, bound: float = 30.0) -> None:
    """Until the server's job queue holds no job running or due, at most ``bound`` s.

    Every call queues its conversation's analysis, which the server's in-process runner
    claims on its next poll (1 s) and runs, up to 8 at a time, after the call is over: a
    sample taken then counted the analyses' tasks (+6 over the baseline in one run of the suite's soak).
    """
    deadline = time.monotonic() + bound
    conn = await asyncpg.connect(dsn)
    try:
        while time.monotonic() < deadline:
            busy = await conn.fetchval("SELECT count(*) FROM jobs WHERE status = 'running'"
                                       " OR (status = 'queued' AND run_at <= now())")
            if not busy:
                return
            await asyncio.sleep(0.1)
    finally:
        await conn.close()

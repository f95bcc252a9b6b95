"""What the knowledge benches share: an embedded database, a seeded business, `agent-server serve` as its own process.

`bench/answer_cache_hits.py` and `bench/crawl_throughput.py` run against a real server
process (the in-process job runner included) on a scratch embedded PostgreSQL, configured by
the repository's config.toml with a few lines replaced, and read CPU time from /proc: the
server's own and the database's (the postmaster and every backend).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent_server import agents, auth, tenants  # noqa: E402
from agent_server.config import load_settings  # noqa: E402
from agent_server.migrations import migrate  # noqa: E402
from billing import ledger  # noqa: E402
from billing.ledger import EntryKind  # noqa: E402
from billing.money import Currency, Money  # noqa: E402
from llm_usage import token_settings  # noqa: E402
from storage.pool import init_connection  # noqa: E402

JWT_SECRET = "bench-secret-with-enough-entropy-0123456789abcdef"


@dataclasses.dataclass(frozen=True)
class Tenant:
    business_id: uuid.UUID
    agent_id: uuid.UUID
    token: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def config_with(overrides: Mapping[str, str], scratch: Path) -> Path:
    """config.toml with some `key = value` lines replaced (each key must be there once), written to `scratch`."""
    lines = (ROOT / "config.toml").read_text().splitlines()
    done: set[str] = set()
    for i, line in enumerate(lines):
        key = line.split("=", 1)[0].strip()
        if key in overrides and "=" in line and not line.lstrip().startswith("#"):
            lines[i] = f"{key} = {overrides[key]}"
            done.add(key)
    if missing := set(overrides) - done:
        raise ValueError(f"not in config.toml: {', '.join(sorted(missing))}")
    path = scratch / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def seed(dsn: str) -> Tenant:
    """Migrate; one business with an owner, a funded wallet and one agent."""
    await migrate(dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2, init=init_connection)
    assert pool is not None
    try:
        business = await tenants.create_business(pool, "Bench")
        user = await tenants.create_user(pool, f"bench-{uuid.uuid4().hex[:8]}@example.com")
        await tenants.add_member(pool, business, user, "owner")
        await ledger.credit(pool, business_id=business, amount=Money(10_000_000, Currency.USD), kind=EntryKind.TOPUP,
                            idempotency_key="bench:seed", reference="seed", actor="bench")
        agent = await agents.create_agent(pool, business, "Front desk",
                                          system_prompt="You are the front desk of a bicycle workshop.")
        # The bench measures the served routes, not the token caps: this agent's daily and monthly caps are lifted.
        await token_settings.update(pool, agent, {"daily_limit": None, "monthly_limit": None})
    finally:
        await pool.close()
    token = auth.mint_token(load_settings(env={"SUPABASE_JWT_SECRET": JWT_SECRET}).auth, user, ttl_seconds=86_400)
    return Tenant(business, agent, token)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_cpu_seconds(data_dir: Path) -> float:
    """CPU time of the embedded PostgreSQL: its postmaster and every process it started (backends, writers)."""
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(entry.name) == postmaster or int(fields[1]) == postmaster:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@contextlib.asynccontextmanager
async def serving(dsn: str, scratch: Path, overrides: Mapping[str, str],
                  env: Mapping[str, str] | None = None) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    """`agent-server serve` on a free port for the block: its base URL and process (log: scratch/server.log)."""
    port = free_port()
    environment = {**os.environ, "DATABASE_URL": dsn, "SUPABASE_JWT_SECRET": JWT_SECRET, "PORT": str(port),
                   "PUBLIC_URL": f"http://127.0.0.1:{port}", "LOG_LEVEL": "warning",
                   "AGENT_SERVER_CONFIG": str(config_with(overrides, scratch)), **(env or {})}
    for name in ("OPENAI_API_KEY", "DEEPGRAM_API_KEY", "TWILIO_ACCOUNT_SID", "STRIPE_SECRET_KEY", "SMTP_URL"):
        if name not in (env or {}):
            environment.pop(name, None)
    serve = "import sys; from agent_server.cli import main; sys.exit(main(['serve']))"
    with open(scratch / "server.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-c", serve], cwd=ROOT, env=environment, stdout=log,
                                  stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(base, server)
        yield base, server
    finally:
        server.terminate()
        server.wait(timeout=30)


async def wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited with {server.returncode} (see server.log)")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not become ready")


def percentile(ordered: list[float], fraction: float) -> float:
    """The value below which `fraction` of the sorted values lie (nearest rank)."""
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def probe_lines(prefix: Path, pid: int) -> list[str]:
    """Ask a process's probe (`bench/probe`) to write what it measured since its reset (`SIGUSR1`), and read it."""
    os.kill(pid, signal.SIGUSR2)
    for _ in range(50):
        written = list(prefix.parent.glob(f"{prefix.name}.*.{pid}"))
        if written and written[0].stat().st_size:
            return written[0].read_text().splitlines()
        await asyncio.sleep(0.1)
    return ["(the probe wrote nothing)"]

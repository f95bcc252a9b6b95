"""How many simultaneous calls one core, and ``serve --workers N``, carry before a call suffers.

Reuses ``bench/calls.py`` (the fakes with fixed delays, the seeded database, the caller
simulator's calls: greeting, a question, a barge-in half a second into the answer, a
second answer, a third question and answer) and ramps the number of calls, step by step,
reporting how many were live at once at the peak (from the calls' stream start and end in
the database, so a stagger longer than a call cannot pass for concurrency), until one step
fails (``bench/pass_rule.py``): a call fails or misses a turn, outbound audio has a gap,
server-added latency p99 (at the caller: response latency minus the fakes' configured
delays) passes ``--p99-ms`` (30) or barge-in p99 ``--barge-p99-ms`` (15), the step's
calls were not all live together for ``--min-plateau-s`` (15; 0 for ramps of short calls),
or the load generator and fakes took more than ``--max-load-pct`` (50) of a core there.
After a failure only that size's repeats still run: ``--steps 150,200,200,200`` ends with
``200: 2 of 3 passed (holds)``, a size holding when two thirds of its steps passed. The
server's own figure for the same turns (turn end → first frame sent, minus the LLM and TTS
delays, from ``call_turns``) is printed beside each step, to tell the server's share from
the load generator's. Reported per step: latency p50/p99,
barge-in p99, server CPU and RSS per call, and the load generator's own CPU (with the
fakes), so a saturated generator is visible rather than mistaken for a slow server.

The step's average CPU mixes the ramp up and down with the peak, so each step also reports
its plateau: the seconds during which at least 95% of the peak was live, with the server's
CPU there (and per live call) and how busy the load side's cores were (the load generator,
the fakes and the kernel's loopback work run there). With the default three
answers a call lasts about as long as the stagger, so the plateau is short or missing;
``--answers 8`` gives calls of about 25 s and a plateau of about 15 s with every call live.

Placement: for ``--mode core`` the server and its PostgreSQL are pinned to ``--server-cpus``
(default core 0; the database shares the server's core, as in production) with taskset and
the load generator and fakes to ``--load-cpus`` (default the other cores); ``--mode workers`` runs ``serve --workers N`` unpinned. Each ramp stops after
``--max-seconds``.

Scale-out on a small machine: ``--cpu-quota F`` caps each server process at F of a core
(a cgroup, ``bench/cpu_quota.py``) and pins the servers as in ``--mode core``, so that one
capped process and ``--workers 2`` capped processes can be compared while the load side
keeps a core of its own.

The load generator is ``bench/light_caller.py`` (``--caller simulator`` for the caller
simulator) and the fakes' delays are ``--fakes quick`` or ``provider`` (``bench/fakes.py``).
``--floor`` runs each step a second time against the floor relay on the same cores and fakes.

Overload: ``--max-live-calls N`` runs the server with ``[calls] max_live_calls = N``, so a
step of more calls than that shows the admitted calls' latency while the rest get a busy
signal (counted as "rejected busy", not as failures).

Usage::

    .venv/bin/python bench/scale.py --mode core --answers 8 --fakes provider --floor --steps 150,200,200,200
    .venv/bin/python bench/scale.py --mode core --answers 8 --fakes provider --floor --steps 4 \
        --p50-ms 5 --p99-ms 10 --min-plateau-s 0
    .venv/bin/python bench/scale.py --mode core --min-plateau-s 0 --steps 25,50,100,150,200
    .venv/bin/python bench/scale.py --mode workers --workers 2 --min-plateau-s 0 --steps 50,100,200,300
    .venv/bin/python bench/scale.py --mode core --cpu-quota 0.3 --answers 8 --steps 20,30,40,50
    .venv/bin/python bench/scale.py --mode workers --workers 2 --cpu-quota 0.3 --answers 8 --steps 40,60,80,100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import calls as bench_calls  # noqa: E402  (bench/calls.py: fakes, seeding, the simulated calls)
import floor  # noqa: E402  (bench/floor.py: the floor relay beside the server)
from cpu_quota import CpuQuota  # noqa: E402
from light_caller import LightCallResult  # noqa: E402
from pass_rule import Limits, PassRule, after_failure, largest_held, summary  # noqa: E402
from plateau import Plateau, Sample, plateau  # noqa: E402

import asyncpg  # noqa: E402
import uvloop  # noqa: E402

NUMBER = bench_calls.NUMBER
STEP_TIMEOUT = 90.0
"""A step whose calls have not all ended by then counts as failed (the server fell behind)."""


@dataclass(frozen=True)
class Step:
    """One ramp step's outcome."""

    calls: int
    peak_live: int
    completed: int
    failed: int
    busy: int
    """Calls the server turned away with a busy signal (``--max-live-calls``): by design, not failures."""
    missed_turns: int
    added_p50: float
    added_p99: float
    inside_p50: float
    inside_p99: float
    barge_p99: float
    gaps: int
    server_cpu_pct: float
    load_cpu_pct: float
    rss_per_call_mib: float
    plateau: Plateau | None

    def line(self) -> str:
        return (f"N={self.calls:4d} (at most {self.peak_live} live at once): completed {self.completed}, "
                f"failed {self.failed}, rejected busy {self.busy}, missed turns "
                f"{self.missed_turns}, gaps {self.gaps}; server-added p50 {self.added_p50:.1f} ms p99 "
                f"{self.added_p99:.1f} ms (inside the server p50 {self.inside_p50:.0f} ms p99 {self.inside_p99:.0f} ms); "
                f"barge-in p99 {self.barge_p99:.1f} ms; server CPU "
                f"{self.server_cpu_pct:.0f}% of a core; load generator + fakes CPU {self.load_cpu_pct:.0f}%; "
                f"RSS {self.rss_per_call_mib:.3f} MiB per call"
                + (f"; {self.plateau.line()}" if self.plateau else ""))


def _process_tree(pid: int) -> list[int]:
    """The server process and its workers (``serve --workers`` starts them as children)."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        for child in children.read_text().split():
            pids.extend(_process_tree(int(child)))
    return pids


def _tree_sum(pids: Sequence[int], read: Callable[[int], float]) -> float:
    """``read`` summed over the processes; one that has exited (a restarted worker) counts as 0."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            total += read(pid)
    return total


def _tree_cpu(pids: Sequence[int]) -> float:
    return _tree_sum(pids, bench_calls._cpu_seconds)


def _tree_rss(pids: Sequence[int]) -> float:
    return _tree_sum(pids, bench_calls._rss_mib)


async def _inside_server(dsn: str, call_sids: list[str],
                         delays: bench_calls.Delays) -> tuple[list[float], list[tuple[float, float]]]:
    """The server's own figure for these calls (turn end → first frame sent, minus the LLM and TTS
    delays), and each call's stream start and end (wall-clock seconds), for the peak and the plateau."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT t.server_latency_ms FROM call_turns t JOIN calls c ON c.id = t.call_id"
                                " WHERE c.call_sid = ANY($1) AND t.server_latency_ms IS NOT NULL", call_sids)
        spans = await conn.fetch("SELECT stream_started_at, ended_at FROM calls WHERE call_sid = ANY($1)"
                                 " AND stream_started_at IS NOT NULL AND ended_at IS NOT NULL", call_sids)
    finally:
        await conn.close()
    inside = [r[0] - delays.inside * 1000 for r in rows]
    return inside, [(r[0].timestamp(), r[1].timestamp()) for r in spans]


def _measure(results: list[bench_calls.Outcome | BaseException], n: int, answers: int, delays: bench_calls.Delays,
             server_cpu: float, load_cpu: float, wall: float, rss_growth: float, inside: list[float],
             peak_live: int, steady: Plateau | None) -> Step:
    ok = [r for r in results if not isinstance(r, BaseException) and r.refused_with is None]
    busy = sum(1 for r in results if not isinstance(r, BaseException) and r.refused_with == "rejected: busy")
    added = [v - delays.response * 1000 for r in ok for v in r.turn_latencies_ms]
    barge = [v for r in ok for v in r.barge_in_latencies_ms]
    return Step(
        calls=n, peak_live=peak_live, completed=len(ok), failed=n - len(ok) - busy, busy=busy,
        missed_turns=sum(1 for r in ok if len(r.turn_latencies_ms) < answers),
        added_p50=bench_calls._pct(added, 0.5), added_p99=bench_calls._pct(added, 0.99),
        inside_p50=bench_calls._pct(inside, 0.5), inside_p99=bench_calls._pct(inside, 0.99),
        barge_p99=bench_calls._pct(barge, 0.99), gaps=sum(len(r.gaps_ms) for r in ok),
        server_cpu_pct=server_cpu / wall * 100, load_cpu_pct=load_cpu / wall * 100,
        rss_per_call_mib=rss_growth / max(n, 1), plateau=steady,
    )


async def _step(url: str, dsn: str | None, n: int, args: argparse.Namespace, tree: list[int], fakes_pid: int,
                idle_rss: float, delays: bench_calls.Delays, voice_path: str = bench_calls.VOICE_PATH) -> Step:
    """One step of ``n`` calls; ``dsn`` None is a relay without records (the floor): spans from the caller."""
    cpu0, own0, fakes0, t0 = _tree_cpu(tree), time.process_time(), bench_calls._cpu_seconds(fakes_pid), time.monotonic()
    peak = idle_rss
    task = asyncio.create_task(bench_calls._calls(url, NUMBER, n, args.stagger, args.answers, args.caller,
                                                  voice_path))
    deadline = t0 + STEP_TIMEOUT
    load_cpus = sorted(os.sched_getaffinity(0))
    samples: list[Sample] = []
    while not task.done() and time.monotonic() < deadline:
        peak = max(peak, _tree_rss(tree))
        own = time.process_time()
        samples.append(Sample(time.time(), _tree_cpu(tree), own + bench_calls._cpu_seconds(fakes_pid),
                              _cores_busy(load_cpus), own))
        await asyncio.sleep(0.5)
    if not task.done():
        task.cancel()
        results: list[bench_calls.Outcome | BaseException] = [TimeoutError("step timed out")] * n
    else:
        results = task.result()
    wall = time.monotonic() - t0
    load_cpu = time.process_time() - own0 + bench_calls._cpu_seconds(fakes_pid) - fakes0
    server_cpu = _tree_cpu(tree) - cpu0
    await asyncio.sleep(1.0)  # turns are written in the background after each call ends
    sids = [r.call_sid for r in results if not isinstance(r, BaseException)]
    if dsn is not None:
        inside, spans = await _inside_server(dsn, sids, delays)
    else:
        inside = []
        spans = [span for r in results if isinstance(r, LightCallResult) and (span := r.stream_span)]
    peak_live = bench_calls.peak_overlap(spans)
    return _measure(results, n, args.answers, delays, server_cpu, load_cpu, wall, peak - idle_rss, inside, peak_live,
                    plateau(samples, spans, peak_live))


def _cores_busy(cpus: Sequence[int]) -> tuple[float, float]:
    """Busy and total jiffies of these CPUs so far (``/proc/stat``: everything but idle and iowait is busy)."""
    busy = total = 0.0
    wanted = {f"cpu{c}" for c in cpus}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name in wanted:
            values = [float(v) for v in fields[:8]]
            total += sum(values)
            busy += sum(values) - values[3] - values[4]
    return busy, total


def _config_with_cap(workdir: Path, max_live_calls: int) -> Path:
    """The repository's config.toml with ``[calls] max_live_calls`` set, written into the bench's workdir."""
    text = (bench_calls.ROOT / "config.toml").read_text()
    capped = re.sub(r"(?m)^max_live_calls = \d+$", f"max_live_calls = {max_live_calls}", text)
    if capped == text:
        raise SystemExit("config.toml has no [calls] max_live_calls line to set")
    path = workdir / "config.toml"
    path.write_text(capped)
    return path


def _pinned(args: argparse.Namespace) -> bool:
    return bool(args.mode == "core" or args.cpu_quota)


def _server_command(args: argparse.Namespace) -> list[str]:
    command = [str(bench_calls.ROOT / ".venv/bin/agent-server"), "serve"]
    if args.mode == "workers":
        command = [*command, "--workers", str(args.workers)]
    return ["taskset", "-c", args.server_cpus, *command] if _pinned(args) else command


def _wait_for_workers(pid: int, count: int) -> list[int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        tree = _process_tree(pid)
        if len(tree) >= count + 1:
            return tree
        time.sleep(0.2)
    raise SystemExit("workers did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("core", "workers"), default="core")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", default="25,50,100,150,200,250,300", help="simultaneous calls per step")
    parser.add_argument("--stagger", type=float, default=10.0, help="seconds over which a step's calls start")
    parser.add_argument("--answers", type=int, default=bench_calls.TURNS,
                        help="answers each call waits for (longer calls: a longer plateau with every call live)")
    parser.add_argument("--max-live-calls", type=int, default=0,
                        help="the server's [calls] max_live_calls: calls beyond it get a busy signal (0: none)")
    parser.add_argument("--p99-ms", type=float, default=30.0, help="server-added latency p99 that fails a step")
    parser.add_argument("--barge-p99-ms", type=float, default=15.0, help="barge-in latency p99 that fails a step")
    parser.add_argument("--p50-ms", type=float, default=math.inf,
                        help="server-added latency p50 that fails a step (the light-load row: 5)")
    parser.add_argument("--max-load-pct", type=float, default=50.0,
                        help="the load generator and fakes' CPU at the plateau (%% of a core) that fails a step")
    parser.add_argument("--min-plateau-s", type=float, default=15.0,
                        help="seconds every call of a step must be live together (0: no steady state asked, "
                             "for ramps of short calls)")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="bound on the whole ramp")
    parser.add_argument("--server-cpus", default="0",
                        help="cores for the server in --mode core or with --cpu-quota (taskset list)")
    parser.add_argument("--cpu-quota", type=float,
                        help="cap each server process at this fraction of a core (a cgroup; see bench/cpu_quota.py)")
    parser.add_argument("--load-cpus", help="cores for the load generator and fakes (default: the others)")
    parser.add_argument("--floor", action="store_true",
                        help=f"after each step, the same step against the floor relay ({floor.FLOOR_RELAY}) on the "
                             "server's cores and the same fakes (needs the light caller)")
    bench_calls.add_load_options(parser)
    args = parser.parse_args()
    if args.answers < 2:
        parser.error("--answers must be at least 2")
    if args.floor and (args.caller != "light" or not floor.FLOOR_RELAY.exists()):
        parser.error(f"--floor needs --caller light and {floor.FLOOR_RELAY}")
    steps = [int(s) for s in args.steps.split(",")]
    server_cpus: set[int] | None = None
    all_cpus = sorted(os.sched_getaffinity(0))
    if _pinned(args):
        server_cpus = {int(c) for c in args.server_cpus.split(",")}
        load = ({int(c) for c in args.load_cpus.split(",")} if args.load_cpus
                else set(all_cpus) - server_cpus or set(all_cpus))
        os.sched_setaffinity(0, load)  # inherited by the fakes' process
    delays = bench_calls.PROFILES[args.fakes]
    port = bench_calls._free_port()
    url = f"http://127.0.0.1:{port}"
    with bench_calls.stage("bench-scale-", delays, url, db_cpus=server_cpus) as bench:
        return _ramp(args, steps, delays, bench, port, url)


def _ramp(args: argparse.Namespace, steps: list[int], delays: bench_calls.Delays, bench: bench_calls.Stage,
          port: int, url: str) -> int:
    server: subprocess.Popen[bytes] | None = None
    quotas: list[CpuQuota] = []
    stack = contextlib.ExitStack()
    try:
        env = {**bench.env, "PORT": str(port)}
        if args.max_live_calls:
            env["AGENT_SERVER_CONFIG"] = str(_config_with_cap(bench.workdir, args.max_live_calls))
        server = subprocess.Popen(_server_command(args), env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        bench_calls._wait_ready(port)
        tree = _wait_for_workers(server.pid, args.workers) if args.mode == "workers" else [server.pid]
        if args.cpu_quota:
            for i, pid in enumerate(tree[1:] if args.mode == "workers" else tree):
                quota = CpuQuota(f"agent-bench-{i}", args.cpu_quota)
                quotas.append(quota)
                quota.add(pid)
        time.sleep(1.0)
        idle_rss = _tree_rss(tree)
        servers = "server" if args.mode == "core" else f"serve --workers {args.workers}"
        placement = (f"{servers} and PostgreSQL pinned to CPU {args.server_cpus}, load generator and fakes on "
                     f"{sorted(os.sched_getaffinity(0))}" if _pinned(args)
                     else f"{servers}, unpinned, load generator and fakes on the same CPUs")
        if quotas:
            placement += f"; each server process capped at {args.cpu_quota:.2f} of a core"
        print(f"mode {args.mode}: {placement}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
              f"before the ramp; server idle RSS {idle_rss:.0f} MiB; caller {args.caller}; fakes {args.fakes}: "
              f"{delays.describe()}", flush=True)
        relay = stack.enter_context(floor.floor_relay(floor.FLOOR_RELAY, bench.providers_url,
                                                      args.server_cpus if _pinned(args) else None)) \
            if args.floor else None
        rule = PassRule(Limits(args.p99_ms, args.barge_p99_ms, args.p50_ms), args.min_plateau_s, args.max_load_pct)
        print(f"pass rule: every turn answered, 0 gaps, server-added p99 <= {args.p99_ms:g} ms, barge-in p99 <= "
              f"{args.barge_p99_ms:g} ms" + (f", p50 <= {args.p50_ms:g} ms" if math.isfinite(args.p50_ms) else "")
              + (f", every call live together for >= {args.min_plateau_s:g} s" if args.min_plateau_s else "")
              + f", the load side <= {args.max_load_pct:g}% of a core at the plateau"
              + ("; a limit the floor relay misses becomes its ratio to the floor" if relay else ""), flush=True)
        outcomes: list[tuple[int, bool]] = []
        ramp_end = time.monotonic() + args.max_seconds
        pending = list(steps)
        while pending:
            n = pending.pop(0)
            if time.monotonic() > ramp_end:
                print(f"ramp stopped: --max-seconds {args.max_seconds:.0f} reached")
                break
            # uvloop for the load generator (as for the fakes): cheaper per frame, so it is not the limit.
            step = uvloop.run(_step(url, bench.dsn, n, args, tree, bench.fakes_pid, idle_rss, delays))
            print(step.line(), flush=True)
            floor_step = None
            if relay is not None:
                time.sleep(2.0)
                floor_step = uvloop.run(_step(relay[0], None, n, args, [relay[1]], bench.fakes_pid,
                                              _tree_rss([relay[1]]), delays, floor.VOICE_PATH))
                print(f"  floor relay: {floor_step.line()}", flush=True)
            reasons = rule.failures(step, floor_step)
            outcomes.append((n, not reasons))
            print(f"  step {'passed' if not reasons else 'failed: ' + '; '.join(reasons)}", flush=True)
            if reasons:
                if step.plateau is not None and step.plateau.load_cores_busy_pct > 90:
                    print("  note: the load side's cores were over 90% busy at the plateau: they may be the limit")
                pending = after_failure(n, pending)
            time.sleep(2.0)
        for line in summary(outcomes):
            print(line)
        print(f"largest N that held ({args.mode}; at least two thirds of its steps passed): "
              f"{largest_held(outcomes)}; load average after {os.getloadavg()[0]:.1f}")
    finally:
        stack.close()
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
        for quota in quotas:
            quota.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())

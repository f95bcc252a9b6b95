"""Simulated calls through nginx (a real load balancer) in front of two server processes.

Debian's nginx runs in the foreground as our child, with its own prefix, config and temp
directories, listening on 127.0.0.1 in front of two ``agent-server serve`` processes on two
ports that share one PostgreSQL. Its config is :func:`agent_server.nginx_config.nginx_config`
(websocket upgrade headers passed on, ``least_conn``), so every call's voice webhook and
Media Streams socket go through nginx, and a call's webhook and stream may land on
different processes. Each process's own ``/metrics`` (read on its own port) tells how many
answers and barge-ins it handled, so the report shows that both took calls. nginx is
installed with apt-get when /usr/sbin/nginx is missing.

Usage::

    .venv/bin/python bench/nginx_calls.py --calls 40
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import calls as bench_calls  # noqa: E402  (bench/calls.py: fakes, seeding, the simulated calls)

import aiohttp  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from agent_server.nginx_config import NGINX, ensure_nginx, nginx_config, start_nginx  # noqa: E402

NUMBER = bench_calls.NUMBER


async def _per_process(ports: list[int]) -> list[dict[str, float]]:
    """Answers (server_total observations) and barge-ins each process handled, from its own /metrics."""
    out = []
    async with aiohttp.ClientSession() as http:
        for port in ports:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                text = await resp.text()
            figures = {"answers": 0.0, "barge_ins": 0.0}
            for family in text_string_to_metric_families(text):
                for s in family.samples:
                    if s.name == "agent_call_stage_latency_seconds_count" and s.labels.get("stage") == "server_total":
                        figures["answers"] = s.value
                    elif s.name == "agent_barge_ins_total":
                        figures["barge_ins"] = s.value
            out.append(figures)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=40, help="simultaneous calls")
    parser.add_argument("--stagger", type=float, default=2.0, help="seconds over which calls start")
    args = parser.parse_args()
    ensure_nginx()
    delays = bench_calls.PROFILES["quick"]
    lb_port = bench_calls._free_port()
    url = f"http://127.0.0.1:{lb_port}"
    with bench_calls.stage("bench-nginx-", delays, url) as bench:
        return _through_nginx(args, delays, bench, lb_port, url)


def _through_nginx(args: argparse.Namespace, delays: bench_calls.Delays, bench: bench_calls.Stage, lb_port: int,
                   url: str) -> int:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ports = [bench_calls._free_port() for _ in range(2)]
        env = bench.env
        for port in ports:
            procs.append(subprocess.Popen([str(bench_calls.ROOT / ".venv/bin/agent-server"), "serve", "--port",
                                           str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in ports:
            bench_calls._wait_ready(port)
        prefix = bench.workdir / "nginx"
        prefix.mkdir()
        (prefix / "nginx.conf").write_text(nginx_config(lb_port, ports, prefix))
        procs.append(start_nginx(prefix))
        bench_calls._wait_ready(lb_port)
        t0 = time.monotonic()
        results = asyncio.run(bench_calls._calls(url, NUMBER, args.calls, args.stagger))
        wall = time.monotonic() - t0
        shares = asyncio.run(_per_process(ports))
        ok = [r for r in results if not isinstance(r, BaseException) and r.refused_with is None]
        added = [v - delays.response * 1000 for r in ok for v in r.turn_latencies_ms]
        barge = [v for r in ok for v in r.barge_in_latencies_ms]
        missed = sum(1 for r in ok if len(r.turn_latencies_ms) < bench_calls.TURNS)
        print(f"through nginx {NGINX} (least_conn over 2 serve processes) in {wall:.1f} s: {args.calls} calls, "
              f"completed {len(ok)}, failed {args.calls - len(ok)}, missed turns {missed}, "
              f"gaps {sum(len(r.gaps_ms) for r in ok)}")
        print(f"server-added latency at the caller p50 {bench_calls._pct(added, 0.5):.1f} ms, "
              f"p99 {bench_calls._pct(added, 0.99):.1f} ms; barge-in p99 {bench_calls._pct(barge, 0.99):.1f} ms; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        for port, share in zip(ports, shares, strict=True):
            print(f"process on port {port}: {share['answers']:.0f} answers, {share['barge_ins']:.0f} barge-ins")
        both = all(share["barge_ins"] > 0 for share in shares)
        print("both processes took calls" if both else "NOT every process took calls")
        return 0 if both and len(ok) == args.calls and missed == 0 else 1
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)


if __name__ == "__main__":
    sys.exit(main())

"""Prometheus metrics of one process: live calls, per-stage latency, barge-ins, errors, money held, HTTP.

A registry per app (not the library's global one) keeps tests and several apps in one
process apart. With `serve --workers N` each worker exposes its own series at /metrics;
scrape every worker (or aggregate at the load balancer), as with any pre-fork server.
Recording is a dict lookup and an add: cheap enough for every turn, never done per frame.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from agent_server.api.route import Reply, Route, register
from agent_server.state import LIVE_CALLS, POOL
from media.pipeline.telemetry import TurnTimings

# Seconds; fine steps below 100 ms where the latency targets are.
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0)
STAGES = ("stt_final_to_llm_first_token", "llm_first_token_to_tts_first_byte",
          "tts_first_byte_to_first_frame", "server_total", "barge_in")


class ReconciliationFindings(Collector):
    """``agent_reconciliation_findings_total{kind}``: findings the reconciliation with Stripe has stored.

    Read from ``reconciliation_findings`` at scrape time (the job may run in a worker that
    serves no /metrics), so every process reports the same totals: alert on an increase in
    one of them, don't sum them. A missed webhook counts under ``missing_in_ledger``.
    """

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily("agent_reconciliation_findings",
                                     "Findings of the daily reconciliation with Stripe, by kind.", labels=["kind"])
        for kind, count in sorted(self.counts.items()):
            family.add_metric([kind], count)
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_responses = Counter("agent_http_responses_total", "HTTP responses by method and status.",
                                      ["method", "status"], registry=self.registry)
        self.live_calls = Gauge("agent_live_calls", "Calls whose media stream this process holds.",
                                registry=self.registry)
        self.asyncio_tasks = Gauge("agent_asyncio_tasks", "Tasks alive on the event loop (at rest, growth is a leak).",
                                   registry=self.registry)
        self.stage_latency = Histogram("agent_call_stage_latency_seconds",
                                       "Latency of each pipeline stage of a call turn.", ["stage"],
                                       buckets=LATENCY_BUCKETS, registry=self.registry)
        self.barge_ins = Counter("agent_barge_ins_total", "Times a caller interrupted the agent.",
                                 registry=self.registry)
        self.calls_rejected = Counter("agent_calls_rejected_total",
                                      "Calls turned away with a busy signal ([calls] max_live_calls reached).",
                                      registry=self.registry)
        self.rate_limited = Counter("agent_messages_rate_limited_total",
                                    "Widget messages and inbound texts refused by a shared limit, by scope.",
                                    ["scope"], registry=self.registry)
        self.provider_errors = Counter("agent_provider_errors_total", "Errors from STT, LLM and TTS providers.",
                                       ["provider", "kind"], registry=self.registry)
        self.holds_active = Gauge("agent_wallet_holds_active", "Active wallet holds (all businesses).",
                                  registry=self.registry)
        self.holds_amount = Gauge("agent_wallet_holds_amount_minor", "Minor units reserved by active holds.",
                                  ["currency"], registry=self.registry)
        self.reconciliation = ReconciliationFindings()
        self.registry.register(self.reconciliation)

    def observe_stage(self, stage: str, seconds: float) -> None:
        self.stage_latency.labels(stage).observe(seconds)

    # media.pipeline.telemetry.CallMetrics: what each live call reports, once per turn.

    def turn(self, timings: TurnTimings) -> None:
        """An answer's first frame went out: one observation per stage it went through."""
        for stage, seconds in timings.stages():
            self.stage_latency.labels(stage).observe(seconds)

    def barge_in(self, reaction_seconds: float) -> None:
        """The caller interrupted: count it, and how long after the speech-start event ``clear`` went out."""
        self.barge_ins.inc()
        self.stage_latency.labels("barge_in").observe(reaction_seconds)

    def provider_error(self, provider: str, kind: str) -> None:
        """A provider failed (``stt``/``llm``/``tts``; kind is the status class or what happened)."""
        self.provider_errors.labels(provider, kind).inc()


METRICS = web.AppKey("metrics", Metrics)


async def metrics_endpoint(request: web.Request) -> web.Response:
    """Prometheus text format; money and call gauges are read at scrape time, not kept in sync."""
    metrics = request.app[METRICS]
    metrics.live_calls.set(len(request.app[LIVE_CALLS]))
    metrics.asyncio_tasks.set(len(asyncio.all_tasks()))
    rows = await request.app[POOL].fetch(
        "SELECT w.currency, count(*) AS n, coalesce(sum(h.amount), 0) AS amount FROM holds h"
        " JOIN wallets w ON w.id = h.wallet_id WHERE h.status = 'active' GROUP BY w.currency")
    metrics.holds_active.set(sum(r["n"] for r in rows))
    for row in rows:
        metrics.holds_amount.labels(row["currency"]).set(row["amount"])
    findings = await request.app[POOL].fetch("SELECT kind, count(*) AS n FROM reconciliation_findings GROUP BY kind")
    metrics.reconciliation.counts = {r["kind"]: r["n"] for r in findings}
    return web.Response(body=generate_latest(metrics.registry),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


ROUTES = (
    Route("GET", "/metrics", metrics_endpoint, "Prometheus metrics of this process", "operations", "public",
          (Reply(200, media_type="text/plain", description="Prometheus text exposition format"),)),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)

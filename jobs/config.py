"""The `[jobs]` config section: where jobs run and how many at a time."""

from __future__ import annotations

import dataclasses

from config_fields import check, positive


@dataclasses.dataclass(frozen=True)
class JobsConfig:
    # `agent-server serve` runs the runner in-process too (one command for `make run`);
    # a deployment with a `worker:` process may turn it off for the web processes.
    run_in_process: bool = True
    # How long an idle runner waits before looking for due jobs again.
    poll_interval_seconds: float = check(positive, 1.0)
    # Jobs one runner process runs at once.
    concurrency: int = check(positive, 8)
    # A claimed job is the runner's for this long, renewed while it runs; after that (the
    # runner died) another runner takes it again.
    lease_seconds: float = check(positive, 60.0)

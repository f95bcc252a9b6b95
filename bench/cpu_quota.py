"""A CPU budget for one process: a Linux cgroup with a CFS quota (bench-only, needs root).

Why: this machine has two cores, and a load generator that drives N calls needs about as
much CPU as the server that carries them, so a server process cannot be given whole cores
of its own and still leave the load side enough. Capping each server process at a fraction
of a core (``--cpu-quota`` in ``bench/scale.py``) makes a smaller model of the same setup:
one capped process against two capped processes shows whether a second process adds what
the first one carries (the shared port, PostgreSQL, LISTEN/NOTIFY and the job locks are
all real), while the load side keeps a core to itself.

The quota is enforced per period (``period_us``, 10 ms here): a process that used its share
early in a period waits for the next one, so a capped server sees stalls of up to
``period × (1 − fraction)``, and its latency is worse than on a whole core of the same
total speed. Use it for ratios between configurations, not as a per-core latency figure.

cgroup v2 (``cpu.max``) is used where the unified hierarchy has the ``cpu`` controller,
else cgroup v1's ``cpu`` hierarchy (``cpu.cfs_quota_us`` and ``cpu.cfs_period_us``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Final

_V2_ROOT: Final = Path("/sys/fs/cgroup")
_V1_ROOT: Final = Path("/sys/fs/cgroup/cpu")
PERIOD_US: Final = 10_000


def quota_us(fraction: float, period_us: int = PERIOD_US) -> int:
    """The CPU microseconds per period that make ``fraction`` of one core (at least 1 ms, the kernel's minimum)."""
    if not 0 < fraction <= 64:
        raise ValueError("a CPU quota is a positive fraction of a core")
    return max(1000, round(fraction * period_us))


class CpuQuota:
    """One cgroup holding processes to ``fraction`` of a core between them; remove it when they are gone."""

    def __init__(self, name: str, fraction: float, period_us: int = PERIOD_US) -> None:
        self.fraction = fraction
        self._v2 = "cpu" in _read(_V2_ROOT / "cgroup.controllers").split()
        root = _V2_ROOT if self._v2 else _V1_ROOT
        if not (root / "cgroup.procs").exists():
            raise RuntimeError("no cgroup CPU controller here: --cpu-quota needs Linux cgroups and root")
        if self._v2 and "cpu" not in _read(root / "cgroup.subtree_control").split():
            (root / "cgroup.subtree_control").write_text("+cpu")
        self.path = root / f"{name}-{os.getpid()}"
        self.path.mkdir()
        quota = quota_us(fraction, period_us)
        if self._v2:
            (self.path / "cpu.max").write_text(f"{quota} {period_us}")
        else:
            (self.path / "cpu.cfs_period_us").write_text(str(period_us))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))

    def add(self, pid: int) -> None:
        """Move a process (all its threads) into the budget."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def remove(self) -> None:
        """Delete the cgroup once its processes have exited; best effort, as it runs on the way out."""
        with contextlib.suppress(OSError):
            self.path.rmdir()


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""

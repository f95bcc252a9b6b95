"""Garbage-collector setting for a serving process: what start-up created is frozen out of full collections.

A server process holds tens of thousands of long-lived objects (modules, the app, the pool,
provider clients) that every full (generation-2) collection walks again; with many live
calls that walk lands on the event loop as one pause every call in flight hears. Once
start-up is done we move everything alive into the permanent generation (``gc.freeze()``),
so a full collection walks only what calls allocated since. Reference cycles are still
collected; the young-generation thresholds stay at CPython's defaults (raising them was
measured to trade many sub-millisecond pauses for single pauses of tens of milliseconds).
Measured with ``bench/scale.py`` (README, Performance).
"""

from __future__ import annotations

import gc

from aiohttp import web


def tune_gc() -> None:
    """Collect once, then freeze what is alive; call when start-up is done."""
    gc.collect()
    gc.freeze()


async def tune_gc_after_startup(app: web.Application) -> None:
    """``on_startup`` hook: runs after the app's resources (pool, providers) exist."""
    tune_gc()

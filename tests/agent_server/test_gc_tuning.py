"""The serving process's GC setting: start-up objects frozen out of full collections."""

from __future__ import annotations

import gc

from agent_server.gc_tuning import tune_gc


def test_tune_gc_freezes_what_start_up_left_alive() -> None:
    try:
        tune_gc()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()

"""The call lifecycle: every end signal converges, once, and a goodbye plays before a graceful end."""

from __future__ import annotations

from media.pipeline.lifecycle import CallLifecycle, CallState, EndReason, Transition


def active() -> CallLifecycle:
    lifecycle = CallLifecycle()
    assert lifecycle.activate()
    return lifecycle


def test_hard_end_finishes_once_and_keeps_the_first_reason() -> None:
    lifecycle = active()
    assert lifecycle.request_end(EndReason.CALLER_HUNG_UP, graceful=False) is Transition.FINISH
    assert lifecycle.request_end(EndReason.STATUS_CALLBACK, graceful=False) is Transition.NONE
    assert lifecycle.request_end(EndReason.OUT_OF_FUNDS, graceful=True) is Transition.NONE
    assert lifecycle.state is CallState.ENDED and lifecycle.reason is EndReason.CALLER_HUNG_UP


def test_graceful_end_says_goodbye_then_finishes() -> None:
    lifecycle = active()
    assert lifecycle.request_end(EndReason.OUT_OF_FUNDS, graceful=True) is Transition.SAY_GOODBYE
    assert not lifecycle.accepting_turns
    assert lifecycle.request_end(EndReason.AGENT_ENDED, graceful=True) is Transition.NONE
    assert lifecycle.goodbye_played() is Transition.FINISH
    assert lifecycle.goodbye_played() is Transition.NONE
    assert lifecycle.reason is EndReason.OUT_OF_FUNDS


def test_hang_up_during_goodbye_cuts_it_short() -> None:
    lifecycle = active()
    lifecycle.request_end(EndReason.MAX_DURATION, graceful=True)
    assert lifecycle.request_end(EndReason.CALLER_HUNG_UP, graceful=False) is Transition.FINISH
    assert lifecycle.reason is EndReason.MAX_DURATION


def test_end_before_the_stream_started_needs_no_goodbye() -> None:
    lifecycle = CallLifecycle()
    assert lifecycle.request_end(EndReason.STATUS_CALLBACK, graceful=True) is Transition.FINISH
    assert not lifecycle.activate()

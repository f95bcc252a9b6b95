"""Call control across processes: a hangup lands on any process and ends the call where it lives."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

import asyncpg

from agent_server.call_control import CALL_LISTENER, dispatch
from agent_server.state import LIVE_CALLS
from media.pipeline.hooks import CallInfo, LiveCalls
from media.pipeline.lifecycle import EndReason
from tests.conftest import MakeBusiness, MakeClient


@dataclass
class HeldCall:
    """Stands in for a live call session: records how it was asked to end."""

    info: CallInfo
    ended: list[tuple[EndReason, str | None]] = field(default_factory=list)
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def elapsed(self) -> float:
        return 1.0

    def request_end(self, reason: EndReason, *, goodbye: str | None = None) -> None:
        self.ended.append((reason, goodbye))
        self.event.set()


def held(call_sid: str, business_id: uuid.UUID | None = None, call_id: uuid.UUID | None = None) -> HeldCall:
    return HeldCall(CallInfo(call_id or uuid.uuid4(), call_sid, business_id or uuid.uuid4(), uuid.uuid4(),
                             "+15550001", "+15550002"))


def test_dispatch_acts_only_on_calls_this_process_holds() -> None:
    live = LiveCalls()
    mine = held("CAmine")
    live.add(mine)
    assert dispatch(live, '{"call_sid": "CAother", "command": "hangup"}', "bye") is False
    assert dispatch(live, '{"call_sid": "CAmine", "command": "explode"}', "bye") is False
    assert dispatch(live, "not json", "bye") is False
    assert dispatch(live, '{"call_sid": "CAmine", "command": "out_of_funds"}', "bye") is True
    assert mine.ended == [(EndReason.OUT_OF_FUNDS, "bye")]


async def test_hangup_requested_on_one_process_ends_the_call_held_by_another(
        make_client: MakeClient, pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    call_id = await pool.fetchval(
        "INSERT INTO calls (call_sid, business_id, from_number, to_number, status)"
        " VALUES ('CAlive', $1, '+15550001', '+15550002', 'in-progress') RETURNING id", tenant.business_id)
    front = await make_client()
    holder = await make_client()
    call = held("CAlive", tenant.business_id, call_id)
    holder.app[LIVE_CALLS].add(call)  # type: ignore[arg-type]
    await holder.app[CALL_LISTENER].listening.wait()
    await front.app[CALL_LISTENER].listening.wait()
    resp = await front.post(f"/api/calls/{call_id}/hangup", headers=tenant.headers)
    assert resp.status == 202
    await asyncio.wait_for(call.event.wait(), 5)
    assert call.ended == [(EndReason.HANGUP_REQUESTED, None)]
    # A real session leaves the registry when it ends; this stand-in must too, or the app's
    # shutdown would wait out call_drain_seconds for a call that will never finish.
    holder.app[LIVE_CALLS].remove(call)  # type: ignore[arg-type]


async def test_hangup_of_another_business_call_is_404(app_client: object, pool: asyncpg.Pool,
                                                      make_business: MakeBusiness) -> None:
    owner = await make_business("A")
    stranger = await make_business("B")
    call_id = await pool.fetchval(
        "INSERT INTO calls (call_sid, business_id, from_number, to_number) VALUES ('CAx', $1, '+15550001',"
        " '+15550002') RETURNING id", owner.business_id)
    resp = await app_client.post(f"/api/calls/{call_id}/hangup", headers=stranger.headers)  # type: ignore[attr-defined]
    missing = await app_client.post(f"/api/calls/{uuid.uuid4()}/hangup", headers=stranger.headers)  # type: ignore[attr-defined]
    assert resp.status == missing.status == 404

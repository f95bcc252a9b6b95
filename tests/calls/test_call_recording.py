"""Recorded calls (issue 22): the notice first, both sides as the caller heard them, served with Range, deleted, expired."""

from __future__ import annotations

import datetime
import struct
from pathlib import Path
from typing import Any

import numpy as np

from media.caller_simulator import Say
from media.recording import retention
from tests.calls.conftest import speech

NOTICE = "This call may be recorded for training."
BLOCK = 40  # 5 ms: a block is "sound" when its RMS is above the fakes' silence


def _voice(enabled: bool = True, retention_days: int = 30) -> dict[str, Any]:
    return {"voice": {"recording": {"enabled": enabled, "noticeText": NOTICE, "retentionDays": retention_days}}}


def _wav(data: bytes) -> tuple[tuple[int, ...], np.ndarray]:
    fmt = struct.unpack("<4sI4s4sIHHIIHH4sI", data[:44])
    samples = np.frombuffer(data[44:], dtype="<i2").reshape(-1, 2)
    return fmt, samples


def _sound_ms(track: np.ndarray) -> float:
    blocks = track[: len(track) // BLOCK * BLOCK].astype(np.float64).reshape(-1, BLOCK)
    return float((np.sqrt((blocks ** 2).mean(axis=1)) > 300).sum()) * BLOCK / 8


def _first_sound_ms(track: np.ndarray) -> float:
    blocks = track[: len(track) // BLOCK * BLOCK].astype(np.float64).reshape(-1, BLOCK)
    return float(np.argmax(np.sqrt((blocks ** 2).mean(axis=1)) > 300)) * BLOCK / 8


async def _recorded_line(line_factory: Any, tmp_path: Path, **voice: Any) -> Any:
    line = await line_factory(recordings={"dir": str(tmp_path)})
    await line.pool.execute("UPDATE agents SET channels = $2 WHERE id = $1", line.agent_id, _voice(**voice))
    return line


async def test_recorded_call_says_the_notice_first_and_keeps_both_sides_as_heard(line_factory: Any,
                                                                                 tmp_path: Path) -> None:
    line = await _recorded_line(line_factory, tmp_path)
    line.deepgram.state.say("What are your opening hours?")
    line.openai.state.script("We open at nine.")
    result = await line.call([Say(speech(0.5))])
    await line.settled()
    texts = [t["text"] for t in await line.turns(result.call_sid) if t["role"] == "assistant"]
    assert texts[0].startswith(NOTICE) and texts[0].endswith("Hello, thanks for calling Acme.")
    assert line.deepgram.state.speak_requests[0].text.startswith(NOTICE)

    call = await line.call_row(result.call_sid)
    response = await line.client.get(f"/api/calls/{call['id']}", headers={"Authorization": f"Bearer {line.tenant.token}"})
    recording = (await response.json())["recording"]
    assert recording["status"] == "ready"
    data = (tmp_path / str(line.tenant.business_id) / f"{call['id']}.wav").read_bytes()
    assert recording["bytes"] == len(data)
    fmt, samples = _wav(data)
    assert fmt[6:11] == (2, 8000, 32000, 4, 16) and fmt[12] == len(data) - 44
    assert abs(len(samples) / 8 - recording["seconds"] * 1000) < 1
    caller, agent = samples[:, 0], samples[:, 1]
    assert abs(_sound_ms(caller) - 500) <= 40  # the caller's half second of speech, once
    assert abs(_sound_ms(agent) - len(result.heard) / 8) <= 40  # everything the caller heard, nothing more
    assert _first_sound_ms(caller) > _first_sound_ms(agent)  # the greeting played, then the caller spoke


async def test_recording_is_served_with_range_and_deleted_with_who_and_when(line_factory: Any,
                                                                             tmp_path: Path) -> None:
    line = await _recorded_line(line_factory, tmp_path)
    result = await line.call([Say(speech(0.3))])
    await line.settled()
    call = await line.call_row(result.call_sid)
    headers = {"Authorization": f"Bearer {line.tenant.token}"}
    url = f"/api/calls/{call['id']}/recording"
    whole = await line.client.get(url, headers=headers)
    assert whole.status == 200 and whole.headers["Content-Type"] == "audio/wav"
    body = await whole.read()
    part = await line.client.get(url, headers={**headers, "Range": "bytes=0-43"})
    assert part.status == 206 and await part.read() == body[:44]

    deleted = await line.client.delete(url, headers=headers)
    assert deleted.status == 204
    assert not (tmp_path / str(line.tenant.business_id) / f"{call['id']}.wav").exists()
    row = await line.pool.fetchrow("SELECT status, deleted_by, deleted_reason, deleted_at FROM call_recordings"
                                   " WHERE call_id = $1", call["id"])
    assert (row["status"], row["deleted_by"], row["deleted_reason"]) == ("deleted", line.tenant.user_id, "user")
    assert row["deleted_at"] is not None
    for response in (await line.client.get(url, headers=headers), await line.client.delete(url, headers=headers)):
        assert response.status == 404
        assert (await response.json())["error"] == {"code": "NOT_FOUND", "message": "recording not found"}


async def test_another_business_gets_the_same_404_as_a_call_never_recorded(line_factory: Any, tmp_path: Path,
                                                                          make_business: Any) -> None:
    line = await _recorded_line(line_factory, tmp_path)
    result = await line.call([Say(speech(0.3))])
    await line.settled()
    call = await line.call_row(result.call_sid)
    other = await make_business("Other")
    headers = {"Authorization": f"Bearer {other.token}"}
    for method in ("GET", "DELETE"):
        foreign = await line.client.request(method, f"/api/calls/{call['id']}/recording", headers=headers)
        missing = await line.client.request(method, "/api/calls/00000000-0000-0000-0000-000000000000/recording",
                                            headers=headers)
        assert foreign.status == missing.status == 404
        assert await foreign.json() == await missing.json()
    assert (tmp_path / str(line.tenant.business_id) / f"{call['id']}.wav").exists()


async def test_recording_off_writes_no_file_and_no_notice(line_factory: Any, tmp_path: Path) -> None:
    line = await _recorded_line(line_factory, tmp_path, enabled=False)
    result = await line.call([Say(speech(0.3))])
    await line.settled()
    call = await line.call_row(result.call_sid)
    assert list(tmp_path.iterdir()) == []
    assert await line.pool.fetchval("SELECT count(*) FROM call_recordings") == 0
    assert not line.deepgram.state.speak_requests[0].text.startswith(NOTICE)
    headers = {"Authorization": f"Bearer {line.tenant.token}"}
    detail = await line.client.get(f"/api/calls/{call['id']}", headers=headers)
    assert (await detail.json())["recording"] is None


async def test_retention_deletes_only_recordings_past_their_days(line_factory: Any, tmp_path: Path) -> None:
    line = await _recorded_line(line_factory, tmp_path, retention_days=30)
    result = await line.call([Say(speech(0.3))])
    await line.settled()
    call = await line.call_row(result.call_sid)
    path = tmp_path / str(line.tenant.business_id) / f"{call['id']}.wav"
    now = datetime.datetime.now(datetime.UTC)
    assert await retention.delete_expired(line.pool, tmp_path, now=now + datetime.timedelta(days=29), batch=10) == 0
    assert path.exists()
    assert await retention.delete_expired(line.pool, tmp_path, now=now + datetime.timedelta(days=31), batch=10) == 1
    assert not path.exists()
    row = await line.pool.fetchrow("SELECT status, deleted_by, deleted_reason FROM call_recordings WHERE call_id = $1",
                                   call["id"])
    assert tuple(row) == ("deleted", None, "retention")

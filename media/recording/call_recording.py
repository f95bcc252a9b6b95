"""A recorded call's tap: the session hands it every frame both ways, and it appends them to a WAV file.

The per-frame work is placing 160 bytes on the tape (no I/O, no decoding). Once a second or
more is final, it is decoded, interleaved and appended by a thread of the loop's default
executor, one write at a time and in order; a write still running when the next second is
ready leaves the samples on the tape for the write after. The header is written with a zero
length first and patched when the call ends, so a file cut short by a crash is still a WAV
file. A failing disk marks the recording failed and never touches the call.
"""

from __future__ import annotations

import asyncio
import datetime
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

import structlog

from jobs.queue import enqueue
from media.recording import records
from media.recording.s3_store import UPLOAD_KIND
from media.recording.tape import SAMPLES_PER_MS, StereoTape
from media.recording.wav import HEADER_BYTES, header, interleave
from storage.executor import Executor
from storage.transactions import transaction

log = structlog.get_logger(__name__)

FLUSH_MS: Final = 1000
"""Audio that must be final before a write: writes stay off the loop and a second or more each."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """A finished recording's length and size (the row's `duration_ms` and `bytes`)."""

    ok: bool
    duration_ms: int
    size: int


class CallRecording:
    """One call's recording in progress.

    Args:
        path: the WAV file to write (its folder is created).
        clock: seconds, monotonic; the recording's time 0 is when this is made (the stream's start).
        db, call_id: where :meth:`close` records the result (None: nowhere, as in unit tests).
        upload: queue the `media.recording_upload` job with the result (the S3 backend).
    """

    __slots__ = ("_path", "_clock", "_t0", "_tape", "_loop", "_write", "_file", "_data_bytes", "_failed",
                 "_db", "_call_id", "_upload")

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.monotonic, db: Executor | None = None,
                 call_id: uuid.UUID | None = None, upload: bool = False) -> None:
        self._path = path
        self._clock = clock
        self._t0 = clock()
        self._tape = StereoTape()
        self._loop = asyncio.get_running_loop()
        self._write: asyncio.Future[None] | None = None
        self._file: BinaryIO | None = None
        self._data_bytes = 0
        self._failed = False
        self._db = db
        self._call_id = call_id
        self._upload = upload

    def _now_ms(self) -> int:
        return int((self._clock() - self._t0) * 1000)

    def caller(self, frame: bytes, timestamp_ms: int) -> None:
        """An inbound frame (the hot path: placing it is all)."""
        now = self._now_ms()
        self._tape.caller(frame, timestamp_ms, now)
        self._maybe_write(now)

    def agent(self, frame: bytes) -> None:
        """An outbound frame, sent now."""
        now = self._now_ms()
        self._tape.agent(frame, now)
        self._maybe_write(now)

    def clear(self) -> None:
        """A ``clear`` was sent: the agent's audio queued after now was never heard."""
        self._tape.clear(self._now_ms())

    def _maybe_write(self, now: int) -> None:
        if self._failed or (self._write is not None and not self._write.done()):
            return
        if self._tape.final(now) < FLUSH_MS * SAMPLES_PER_MS:
            return
        caller, agent = self._tape.take(now)
        self._write = self._loop.run_in_executor(None, self._append, caller, agent)

    async def close(self) -> Recorded:
        """The call ended: write the rest, patch the header, close the file, record the result."""
        if self._write is not None:
            await asyncio.gather(self._write, return_exceptions=True)
        caller, agent = self._tape.take(self._now_ms())
        await self._loop.run_in_executor(None, self._finish, caller, agent)
        done = Recorded(not self._failed, self._tape.taken // SAMPLES_PER_MS, HEADER_BYTES + self._data_bytes)
        if self._db is not None and self._call_id is not None:
            async with transaction(self._db) as conn:
                await records.finish(conn, self._call_id, ok=done.ok, duration_ms=done.duration_ms, size=done.size)
                if self._upload and done.ok:
                    await enqueue(conn, UPLOAD_KIND, {"callId": str(self._call_id)},
                                  now=datetime.datetime.now(datetime.UTC), dedupe_key=str(self._call_id))
        return done

    # -- in the executor's thread, one at a time ---------------------------------------------------

    def _append(self, caller: bytes, agent: bytes) -> None:
        if self._failed:
            return
        try:
            if self._file is None:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self._path.open("wb")
                self._file.write(header(0))
            data = interleave(caller, agent)
            self._file.write(data)
            self._data_bytes += len(data)
        except OSError:
            self._failed = True
            log.exception("call_recording_write_failed", path=str(self._path))

    def _finish(self, caller: bytes, agent: bytes) -> None:
        self._append(caller, agent)
        if self._file is None:
            return
        try:
            self._file.seek(0)
            self._file.write(header(self._data_bytes))
            self._file.close()
        except OSError:
            self._failed = True
            log.exception("call_recording_write_failed", path=str(self._path))


def location(business_id: uuid.UUID, call_id: uuid.UUID) -> str:
    """The recording's key under the backend's root: one folder per business."""
    return f"{business_id}/{call_id}.wav"


async def open_recording(db: Executor, root: Path, *, call_id: uuid.UUID, business_id: uuid.UUID,
                         retention_days: int, upload: bool) -> CallRecording:
    """Start recording a call: its row (`recording`, in `local` until uploaded) now, its file at the first second.

    With ``upload`` (the S3 backend), the finished file is queued for upload with its result.
    """
    key = location(business_id, call_id)
    await records.start(db, call_id=call_id, business_id=business_id, backend="local", location=key,
                        retention_days=retention_days)
    return CallRecording(root / key, db=db, call_id=call_id, upload=upload)

"""`agent-server call` helpers: caller audio from a WAV file, what was heard back to a WAV file."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from agent_server.cli import build_parser
from agent_server.cli.call import save_wav, wav_to_mulaw
from media.audio import g711


def test_wav_lines_become_8khz_mulaw_and_heard_audio_saves_as_wav(tmp_path: Path) -> None:
    source = tmp_path / "line.wav"
    with wave.open(str(source), "wb") as f:
        f.setnchannels(2)
        f.setsampwidth(2)
        f.setframerate(16000)
        tone = (8000 * np.sin(np.arange(16000) / 16000 * 2 * np.pi * 300)).astype("<i2")
        f.writeframes(np.repeat(tone, 2).tobytes())
    mulaw = wav_to_mulaw(source)
    assert abs(len(mulaw) - 8000) < 80
    out = tmp_path / "heard.wav"
    save_wav(out, mulaw)
    with wave.open(str(out), "rb") as f:
        assert (f.getframerate(), f.getnchannels(), f.getsampwidth()) == (8000, 1, 2)
        assert f.getnframes() == len(mulaw)
    assert np.abs(g711.decode_array(mulaw)).max() > 4000


def test_call_command_takes_several_lines() -> None:
    args = build_parser().parse_args(["call", "--to", "+15005550006", "--say", "hi", "--say", "bye",
                                      "--out", "r.wav"])
    assert args.say == ["hi", "bye"] and args.out == Path("r.wav")

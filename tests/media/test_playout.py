"""Mark accounting: what is sent, what Twilio confirmed played, and what the caller heard."""

from __future__ import annotations

from media.pipeline.playout import Playout

FRAME = b"\xff" * 160


def speak(playout: Playout, text: str, frames: int) -> list[tuple[bool, str | None]]:
    playout.start_sentence(text)
    sent = []
    for _ in range(frames):
        out = playout.add_frame(FRAME)
        sent.append((out is not None, out.mark if out else None))
    end = playout.end_sentence()
    if end is not None:
        sent.append((False, end))
    return sent


def test_marks_follow_the_first_frame_every_interval_and_each_sentence_end() -> None:
    playout = Playout(7, mark_every=10)
    sent = speak(playout, "one two three", 25)
    marks = [m for _, m in sent if m]
    assert marks == ["7.0.0.1", "7.0.0.10", "7.0.0.20", "7.0.0.25"]
    assert playout.finish() == "7.0.end"


def test_heard_text_counts_only_echoed_marks_and_words_in_proportion() -> None:
    playout = Playout(1, mark_every=10)
    speak(playout, "alpha beta gamma delta", 40)
    speak(playout, "second sentence", 20)
    assert playout.heard_text() == ""
    assert playout.played("1.0.0.20")
    assert playout.heard_text() == "alpha beta"
    assert playout.played("1.0.1.10")
    assert playout.heard_text() == "alpha beta gamma delta second"
    assert not playout.played("2.0.0.10") and not playout.played("1.5.0.30")


def test_clear_rewinds_to_what_was_heard_and_ignores_stale_echoes() -> None:
    playout = Playout(1, mark_every=10)
    speak(playout, "a b c d e", 50)
    playout.played("1.0.0.10")
    playout.pause()
    assert not playout.played("1.0.0.40")
    assert playout.frames_sent == 10
    assert playout.heard_text() == "a"


def test_resume_after_false_interruption_sends_everything_unheard_again() -> None:
    playout = Playout(1, mark_every=10)
    speak(playout, "first words here", 30)
    playout.played("1.0.0.10")
    playout.pause()
    speak(playout, "more", 5)
    playout.finish()
    resent = playout.resume()
    frames = [s for s in resent if s.frame is not None]
    marks = [s.mark for s in resent if s.mark]
    assert len(frames) == 20 + 5
    assert marks == ["1.1.0.20", "1.1.0.30", "1.1.1.5", "1.1.end"]
    assert playout.played("1.1.end") and playout.played_out
    assert playout.heard_text() == "first words here more"


def test_sentence_without_audio_is_never_heard() -> None:
    playout = Playout(1)
    speak(playout, "spoken", 3)
    speak(playout, "lost to a tts failure", 0)
    assert playout.full_text() == "spoken"
    assert playout.finish() == "1.0.end"

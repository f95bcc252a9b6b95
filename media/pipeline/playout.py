"""One agent reply's audio on its way to the caller, and which of its words the caller has heard.

Audio is sent to Twilio as soon as TTS makes it (Twilio buffers and plays it in real time),
so "sent" runs ahead of "heard". Marks tell us what played: one after the reply's first
frame (for the at-the-ear latency), then every ``mark_every`` frames and at each sentence
end. A mark's name encodes its position (``"<reply>.<epoch>.<sentence>.<frames>"``), so an
echo needs no lookup table, and a ``clear`` bumps the epoch: Twilio echoes every pending
mark when it clears, and those echoes must not count as heard.

The frames stay here until the reply ends, so a false interruption (the caller coughed)
resumes exactly where playback stopped. Pure: no I/O, the session sends what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

END: Final = "end"
"""Last segment of the mark sent after a reply's final frame; the caller simulator relies on it."""


@dataclass(slots=True)
class _Sentence:
    text: str
    frames: list[bytes] = field(default_factory=list)
    complete: bool = False


@dataclass(frozen=True, slots=True)
class Send:
    """What to put on the wire: a media frame, then optionally a mark after it."""

    frame: bytes | None
    mark: str | None


class Playout:
    """Frames, marks and the heard position of one reply.

    Args:
        reply_id: unique per call; the first segment of every mark name.
        mark_every: frames between progress marks (10 = 200 ms).
    """

    __slots__ = ("reply_id", "mark_every", "_sentences", "_epoch", "_sent", "_heard", "_paused",
                 "_finished", "_end_sent", "played_out", "first_heard")

    def __init__(self, reply_id: int, mark_every: int = 10) -> None:
        if mark_every < 1:
            raise ValueError("mark_every must be at least 1")
        self.reply_id = reply_id
        self.mark_every = mark_every
        self._sentences: list[_Sentence] = []
        self._epoch = 0
        self._sent = (0, 0)
        self._heard = (0, 0)
        self._paused = False
        self._finished = False
        self._end_sent = False
        self.played_out = False
        """The end mark was echoed: the caller heard the whole reply."""
        self.first_heard = False
        """Some audio of this reply has been confirmed played."""

    @property
    def paused(self) -> bool:
        """True between :meth:`pause` and :meth:`resume` (frames are kept, not sent)."""
        return self._paused

    @property
    def frames_sent(self) -> int:
        """Frames currently sent and not cleared."""
        s, f = self._sent
        return sum(len(x.frames) for x in self._sentences[:s]) + f

    def start_sentence(self, text: str) -> None:
        """Begin the audio of the next sentence (its text is what the frames say)."""
        caught_up = not self._paused and self._sent == self._end_position()
        self._sentences.append(_Sentence(text))
        if caught_up:
            self._sent = (len(self._sentences) - 1, 0)

    def add_frame(self, frame: bytes) -> Send | None:
        """Store one 160-byte frame of the current sentence; return it to send unless paused."""
        index = len(self._sentences) - 1
        sentence = self._sentences[index]
        sentence.frames.append(frame)
        if self._paused or self._sent != (index, len(sentence.frames) - 1):
            return None
        return self._advance(index, sentence)

    def end_sentence(self) -> str | None:
        """Close the current sentence; return its end mark when it was sent in full."""
        index = len(self._sentences) - 1
        if not self._sentences[index].frames:
            # Nothing was synthesised (TTS failed): the caller never hears this text.
            self._sentences.pop()
            if self._sent == (index, 0):
                self._sent = self._end_position()
            return None
        self._sentences[index].complete = True
        if self._paused or self._sent != (index, len(self._sentences[index].frames)):
            return None
        return self._sentence_end_mark(index)

    def finish(self) -> str | None:
        """No more audio: return the reply's end mark when everything has been sent."""
        self._finished = True
        if self._paused or self._end_sent or self._sent != self._end_position():
            return None
        self._end_sent = True
        return f"{self.reply_id}.{self._epoch}.{END}"

    def pause(self) -> None:
        """A ``clear`` was sent: forget marks in flight and rewind "sent" to what was heard."""
        self._paused = True
        self._epoch += 1
        self._sent = self._heard
        self._end_sent = False

    def resume(self) -> list[Send]:
        """Carry on after a false interruption: everything from the heard position again."""
        self._paused = False
        out: list[Send] = []
        s = self._sent[0]
        while s < len(self._sentences):
            sentence = self._sentences[s]
            while self._sent[1] < len(sentence.frames):
                out.append(self._advance(s, sentence))
            if not sentence.complete:
                break
            mark = self._sentence_end_mark(s)
            if mark is not None:
                out.append(Send(None, mark))
            if s + 1 >= len(self._sentences):
                break
            s += 1
            self._sent = (s, 0)
        if self._finished:
            end = self.finish()
            if end is not None:
                out.append(Send(None, end))
        return out

    def sent_past_heard_sentence(self) -> bool:
        """Audio of a sentence after the one being heard is already queued at the carrier."""
        return self._sent[0] > self._heard[0]

    def cut_after_heard_sentence(self) -> list[Send]:
        """End the reply with the sentence being heard: after a ``clear``, what to send again.

        Audio goes out ahead of playback, so later sentences already sit in the carrier's
        buffer; the caller should hear the current sentence to its end and nothing after
        it. Call only when no more audio will be added (the reply's synthesis was stopped).
        """
        self.pause()
        del self._sentences[self._heard[0] + 1:]
        if self._sentences:
            self._sentences[-1].complete = True
        self._finished = True
        return self.resume()

    def _sentence_end_mark(self, index: int) -> str | None:
        """The sentence-end mark, unless a progress mark already sits at that frame."""
        count = len(self._sentences[index].frames)
        if count == 0 or count % self.mark_every == 0 or (index == 0 and count == 1):
            return None
        return self._name(index, count)

    def _advance(self, index: int, sentence: _Sentence) -> Send:
        """Mark the next frame of ``sentence`` as sent; decide whether a mark follows it."""
        count = self._sent[1] + 1
        self._sent = (index, count)
        frame = sentence.frames[count - 1]
        first_of_reply = index == 0 and count == 1
        if first_of_reply or count % self.mark_every == 0:
            return Send(frame, self._name(index, count))
        return Send(frame, None)

    def _end_position(self) -> tuple[int, int]:
        if not self._sentences:
            return (0, 0)
        last = len(self._sentences) - 1
        return (last, len(self._sentences[last].frames))

    def _name(self, sentence: int, frames: int) -> str:
        return f"{self.reply_id}.{self._epoch}.{sentence}.{frames}"

    def played(self, name: str) -> bool:
        """Record a mark echo; False for marks of another reply or of a cleared epoch."""
        parts = name.split(".")
        if len(parts) < 3 or parts[0] != str(self.reply_id) or parts[1] != str(self._epoch):
            return False
        if parts[2] == END:
            if len(parts) != 3:
                return False
            self._heard = self._end_position()
            self.played_out = self._finished
            self.first_heard = True
            return True
        try:
            position = (int(parts[2]), int(parts[3]))
        except (IndexError, ValueError):
            return False
        if position > self._heard:
            self._heard = position
        self.first_heard = True
        return True

    def heard_text(self) -> str:
        """The words the caller heard: whole sentences, then the last one in proportion to time."""
        if self.played_out:
            return " ".join(s.text for s in self._sentences)
        s, f = self._heard
        words = [x.text for x in self._sentences[:s]]
        if s < len(self._sentences) and f > 0:
            sentence = self._sentences[s]
            total = max(len(sentence.frames), f)
            if sentence.complete and f >= total:
                words.append(sentence.text)
            else:
                parts = sentence.text.split()
                keep = len(parts) * f // total
                if keep:
                    words.append(" ".join(parts[:keep]))
        return " ".join(words)

    def full_text(self) -> str:
        """Everything the reply was to say (sentences started so far)."""
        return " ".join(s.text for s in self._sentences)

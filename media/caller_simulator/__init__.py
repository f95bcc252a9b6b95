"""A phone caller that behaves as Twilio does, for the ``agent-server call`` command, tests and benches.

It posts the signed voice webhook, parses the TwiML, opens the media stream with the
signature and the TwiML's parameters, then streams the caller's audio at real-time pace
(20 ms frames, silence between lines, as a phone line does). It plays the agent's audio on
a simulated clock: a ``mark`` is echoed when playback reaches it, ``clear`` drops what has
not played and echoes the pending marks at once, and ``stop`` ends the call. It measures,
from the caller's side, each turn's response latency (last caller speech frame sent →
first agent frame received), barge-in latency (first frame of an interruption → ``clear``
received) and playback gaps inside a reply.

The modules: :mod:`.simulator` (one call, start to hang-up), :mod:`.webhook` (signature
and TwiML), :mod:`.line` (the caller's microphone), :mod:`.playback` (the agent's audio
played, marks echoed), :mod:`.script` (when each step is taken), :mod:`.pacing` (the clock),
:mod:`.steps` and :mod:`.result` (what goes in and what comes out), :mod:`.web_wire` (a browser's
call: 16 kHz L16 and binary frames, converted at the caller's edge).
"""

from media.caller_simulator.result import CallResult
from media.caller_simulator.simulator import CallerSimulator
from media.caller_simulator.steps import HangUp, Press, Say, Step
from media.caller_simulator.web_wire import WebWire
from media.caller_simulator.webhook import parse_twiml, sign

__all__ = ["CallResult", "CallerSimulator", "HangUp", "Press", "Say", "Step", "WebWire", "parse_twiml", "sign"]

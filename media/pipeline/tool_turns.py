"""The agent's tools on a call (forms, the handoff ticket, the business's actions): run in their own task,
never in silence.

After an answer's LLM request asked for tools, :meth:`ToolTurns.follow` starts one task that runs
the round's calls side by side, and waits for it inside the reply. When the model said nothing
before calling and the caller's turn has been silent for ``tool_filler_after`` with the task
still running, the filler is said (the tool's own, else ``tool_filler_text``; kept synthesised
by :mod:`media.pipeline.speech_cache`, so it starts when due: the call's first tool round starts
its synthesis beside the tool, so a call that never uses a tool never asks TTS for it). The wait is capped at
``tool_timeout``: then the model hears that the tool timed out and answers. Either way the
results go back to the model, whose next request continues the same reply (at most
:data:`MAX_TOOL_ROUNDS` rounds; a fourth round's calls are refused and the model must answer).

A barge-in cancels the reply (the filler stops with it) but not the tool task: it runs to its
end and its result is filed in the call's history where the round started, for the next answer
to see. Whatever the tool writes (submissions, tickets, `action_executions`) is written by its
own task, never by the audio path.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import structlog

from media.llm.base import Message, Tool, ToolCall
from media.llm.toolbox import ToolBox, ToolOutcome, assistant_calls, refused, tool_result
from media.pipeline.dialogue import Dialogue
from media.pipeline.llm_stage import LlmStage
from media.pipeline.prompt import CALL_TOOLS, END_CALL, TRANSFER_CALL
from media.pipeline.reply import Reply, Sentences
from media.pipeline.settings import CallSettings

log = structlog.get_logger(__name__)

MAX_TOOL_ROUNDS: Final = 3
_CALL_CONTROL: Final = frozenset({END_CALL, TRANSFER_CALL})
_OVER_LIMIT: Final = ("refused: this turn already used its tool rounds; answer the caller now with what you know,"
                      " and say what you could not do")


class SpokenToolBox(ToolBox, Protocol):
    """A toolbox on a call: each tool may have its own filler."""

    def voice_filler(self, name: str) -> str | None:
        """What to say while `name` runs (None: the call's default filler)."""
        ...


@dataclass(frozen=True, slots=True)
class CallTools:
    """A call's tools: the agent's toolbox and the conversation the calls' keys name (the call's id)."""

    toolbox: SpokenToolBox
    conversation: str


def timed_out(call: ToolCall, seconds: float) -> ToolOutcome:
    return ToolOutcome(json.dumps({"ok": False, "tool": call.name,
                                   "error": f"timed out after {seconds:g} s: tell the caller it could not be done"
                                            " right now"}), ok=False)


class ToolTurns:
    """The rounds of tool calls of one call's answers.

    Args:
        tools: the agent's toolbox for this call.
        settings: the filler's text and timing, the wait's cap.
        llm: asks the model again with the results.
        dialogue: where each round is filed.
        loop: the call's event loop.
        warm: keeps texts synthesised in the call's voice (the TTS stage's).
    """

    __slots__ = ("_tools", "_settings", "_llm", "_dialogue", "_loop", "_running", "_warm", "_warming")

    def __init__(self, tools: CallTools, settings: CallSettings, llm: LlmStage, dialogue: Dialogue,
                 loop: asyncio.AbstractEventLoop, warm: Callable[[list[str]], Awaitable[None]]) -> None:
        self._warm = warm
        self._warming: asyncio.Task[None] | None = None
        self._tools = tools
        self._settings = settings
        self._llm = llm
        self._dialogue = dialogue
        self._loop = loop
        self._running: set[asyncio.Task[list[ToolOutcome]]] = set()

    def definitions(self) -> tuple[Tool, ...]:
        """The call tools, then the agent's (by name): the same for every call of an agent version."""
        return (*CALL_TOOLS, *self._tools.toolbox.definitions())

    def fillers(self) -> list[str]:
        """Every filler this call may say, to keep synthesised."""
        toolbox = self._tools.toolbox
        own = (toolbox.voice_filler(str(t["function"]["name"])) for t in toolbox.definitions())
        return [self._settings.tool_filler_text, *(f for f in own if f)]

    async def follow(self, reply: Reply, messages: list[Message], said: str, sentences: Sentences) -> None:
        """While the reply's last request asked for the agent's tools: run them, then ask the model again."""
        rounds = 0
        while rounds <= MAX_TOOL_ROUNDS and not reply.stop_after_sentence:
            calls = [c for c in reply.tool_calls if c.name not in _CALL_CONTROL]
            if not calls:
                break
            reply.tool_calls = [c for c in reply.tool_calls if c.name in _CALL_CONTROL]
            rounds += 1
            if rounds > MAX_TOOL_ROUNDS:
                outcomes = [refused(c, _OVER_LIMIT) for c in calls]
                self._dialogue.tool_round(self._dialogue.anchor(), said, calls, outcomes)
            else:
                outcomes = await self._round(reply, calls, said, sentences)
            messages = [*messages, assistant_calls(said, calls),
                        *(tool_result(c, o) for c, o in zip(calls, outcomes, strict=True))]
            answered = await self._llm.think(reply, messages, sentences,
                                             tools=CALL_TOOLS if rounds >= MAX_TOOL_ROUNDS else None)
            if answered is None:
                return  # the request failed: the apology was said
            said = answered
        ending = any(c.name in _CALL_CONTROL for c in reply.tool_calls)  # the goodbye or transfer speaks
        if rounds and not said.strip() and not ending and not reply.stop_after_sentence:
            # The model answered the tools' results with nothing to say (or asked for more than the rounds
            # allow): the caller must not wait in silence.
            await sentences.put(self._settings.apology_text)

    async def _round(self, reply: Reply, calls: list[ToolCall], said: str,
                     sentences: Sentences) -> list[ToolOutcome]:
        """One round's outcomes: the tools' own, or "timed out" once the wait's cap is reached."""
        anchor = self._dialogue.anchor()
        filed = False

        def file(outcomes: list[ToolOutcome]) -> None:
            nonlocal filed
            if not filed:
                filed = True
                self._dialogue.tool_round(anchor, said, calls, outcomes)

        if self._warming is None:
            self._warming = self._loop.create_task(self._keep_fillers())
        task = self._loop.create_task(self._run(calls))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        # A barge-in cancels the reply, not the tool: its result is filed when it comes.
        task.add_done_callback(lambda t: file(t.result()) if not t.cancelled() else None)
        started = self._loop.time()
        settings = self._settings
        if not said.strip():
            due = (reply.turn_end_at if reply.turn_end_at is not None else started) + settings.tool_filler_after
            done, _ = await asyncio.wait({task}, timeout=max(0.0, due - self._loop.time()))
            if not done and not self._warming.done():  # a first filler still being synthesised
                await asyncio.wait({task, self._warming}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                own = next((f for c in calls if (f := self._tools.toolbox.voice_filler(c.name))), None)
                await sentences.put(own or settings.tool_filler_text)
        done, _ = await asyncio.wait({task}, timeout=max(0.0, started + settings.tool_timeout - self._loop.time()))
        outcomes = task.result() if done else [timed_out(c, settings.tool_timeout) for c in calls]
        file(outcomes)
        return outcomes

    async def _keep_fillers(self) -> None:
        await self._warm(self.fillers())

    async def _run(self, calls: Sequence[ToolCall]) -> list[ToolOutcome]:
        return list(await asyncio.gather(*(self._run_one(c) for c in calls)))

    async def _run_one(self, call: ToolCall) -> ToolOutcome:
        """One call's outcome; unreadable arguments and a failing tool are answered, never raised."""
        if call.error is not None:
            return refused(call, call.error)
        try:
            return await self._tools.toolbox.run(call, f"{self._tools.conversation}:{call.id}")
        except Exception:
            log.exception("call_tool_failed", tool=call.name)
            return refused(call, "the tool failed; tell the caller it could not be done now")

    async def close(self) -> None:
        """The call is over: give running tools the wait's cap to finish (their work is the business's),
        then cancel what is left."""
        if self._warming is not None:
            self._warming.cancel()
            await asyncio.gather(self._warming, return_exceptions=True)
        running = list(self._running)
        if not running:
            return
        _, left = await asyncio.wait(running, timeout=self._settings.tool_timeout)
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

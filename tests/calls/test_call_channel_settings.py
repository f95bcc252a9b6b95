"""A call follows the agent's `voice` channel settings (issue 22)."""

from __future__ import annotations

from typing import Any

from media.caller_simulator import Say
from tests.calls.conftest import speech

VOICE = {"greeting": "Acme phone line, how can I help?", "voice": "aura-2-orion-en", "model": "gpt-voice",
         "temperature": 0.2, "language": "en-GB"}


async def test_call_hears_the_voice_channels_greeting_in_its_voice_and_asks_its_model(line_factory: Any) -> None:
    line = await line_factory()
    await line.pool.execute("UPDATE agents SET model = 'gpt-agent', temperature = 0.9, channels = $2 WHERE id = $1",
                            line.agent_id, {"voice": VOICE, "sms": {"model": "gpt-sms"}})
    line.deepgram.state.say("What are your opening hours?")
    line.openai.state.script("We open at nine.")
    result = await line.call([Say(speech())])
    await line.settled()
    texts = [t["text"] for t in await line.turns(result.call_sid) if t["role"] == "assistant"]
    assert texts == [VOICE["greeting"], "We open at nine."]
    request = line.call_requests()[-1]
    assert request["model"] == "gpt-voice" and abs(request["temperature"] - 0.2) < 1e-6
    assert {r.query.get("model") for r in line.deepgram.state.speak_requests} == {VOICE["voice"]}
    assert [q["language"] for q in line.deepgram.state.listen_queries] == ["en-GB"]

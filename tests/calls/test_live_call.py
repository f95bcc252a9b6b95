"""Whole calls through the real app: the caller simulator on one side, fake Deepgram and OpenAI on the other."""

from __future__ import annotations

import asyncio
from typing import Any

from media.caller_simulator import Say
from tests.calls.conftest import GREETING, speech


async def test_two_turn_call_with_greeting(line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("What are your opening hours?", "Thanks, bye.")
    line.openai.state.script("We open at nine.", "You are welcome.")
    result = await line.call([Say(speech()), Say(speech())])
    await line.settled()
    assert result.refused_with is None
    assert result.replies == 3 and result.clears == 0
    assert len(result.turn_latencies_ms) == 2
    turns = await line.turns(result.call_sid)
    assert [(t["role"], t["text"]) for t in turns] == [
        ("assistant", GREETING), ("user", "What are your opening hours?"), ("assistant", "We open at nine."),
        ("user", "Thanks, bye."), ("assistant", "You are welcome."),
    ]
    answers = [t for t in turns if t["role"] == "assistant"][1:]
    assert all(t["server_latency_ms"] is not None and t["ear_latency_ms"] is not None for t in answers)
    second = line.openai.state.chat_requests[1]["messages"]
    assert [m["role"] for m in second] == ["system", "assistant", "user", "assistant", "user"]
    row = await line.call_row(result.call_sid)
    assert row["end_reason"] == "caller_hung_up" and row["ended_at"] is not None
    assert line.deepgram.state.connections_opened == line.deepgram.state.connections_closed == 1


async def test_the_caller_waits_for_a_late_greeting_instead_of_talking_over_it(line_factory: Any) -> None:
    """The greeting's first frame comes 0.6 s into the call, well past the 0.25 s of quiet that ends a reply:
    a person hears silence and waits for the hello, so the question follows the whole greeting."""
    line = await line_factory(deepgram_options={"speak_first_byte_delay": 0.6})
    line.deepgram.state.say("What are your opening hours?")
    line.openai.state.script("We open at nine.")
    result = await line.call([Say(speech())])
    await line.settled()
    assert result.replies == 2 and result.clears == 0
    turns = await line.turns(result.call_sid)
    assert [(t["role"], t["text"], t["interrupted"]) for t in turns] == [
        ("assistant", GREETING, False), ("user", "What are your opening hours?", False),
        ("assistant", "We open at nine.", False)]


LONG_REPLY = ("Our opening hours are nine to five on weekdays, ten to two on Saturdays, "
              "and we are closed on Sundays and public holidays, except in December.")


async def test_barge_in_clears_audio_cuts_the_reply_and_keeps_only_what_was_heard(line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("When are you open?", "Wait, stop please.")
    line.openai.state.script(LONG_REPLY, "Sure, I stopped.")
    result = await line.call([Say(speech()), Say(speech(0.6), barge_in_after=0.5)])
    await line.settled()
    assert result.clears == 1 and len(result.barge_in_latencies_ms) == 1
    turns = await line.turns(result.call_sid)
    cut = [t for t in turns if t["interrupted"]]
    assert len(cut) == 1
    heard = cut[0]["text"]
    assert heard and LONG_REPLY.startswith(heard) and len(heard) < len(LONG_REPLY) / 2
    followup = line.openai.state.chat_requests[1]["messages"]
    assert followup[-2] == {"role": "assistant", "content": heard}
    assert followup[-1] == {"role": "user", "content": "Wait, stop please."}
    assert turns[-1]["text"] == "Sure, I stopped." and not turns[-1]["interrupted"]


async def test_backchannel_pauses_then_the_agent_carries_on(line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("When are you open?", "uh-huh")
    line.openai.state.script(LONG_REPLY)
    result = await line.call([Say(speech()), Say(speech(0.3), barge_in_after=0.4)])
    await line.settled()
    assert result.clears == 1
    assert len(line.openai.state.chat_requests) == 1
    turns = await line.turns(result.call_sid)
    assert [t["text"] for t in turns if t["role"] == "assistant"][-1] == LONG_REPLY
    assert not any(t["interrupted"] for t in turns)
    assert result.replies == 2


async def test_without_provider_keys_the_local_providers_answer_from_the_faq(
        make_settings: Any, make_client: Any, make_business: Any, pool: Any) -> None:
    """The `make run` path: espeak-ng speaks, pocketsphinx listens, the FAQ responder answers."""
    import aiohttp

    from agent_server import agents
    from agent_server.cli.call import synthesize
    from media.caller_simulator import CallerSimulator
    from phone_numbers import registry
    from tests.calls.conftest import AUTH_TOKEN, NUMBER
    from tests.conftest import PUBLIC_URL, fund_wallet

    client = await make_client(make_settings(TWILIO_AUTH_TOKEN=AUTH_TOKEN))
    tenant = await make_business("Demo")
    faq = (agents.FaqEntry("What are your opening hours?", "We are open nine to five."),
           agents.FaqEntry("Where are you located?", "At 1 Market Street."))
    agent_id = await agents.create_agent(pool, tenant.business_id, "Demo", greeting="Hello.", faq=faq)
    await registry.add_number(pool, tenant.business_id, NUMBER, agent_id=agent_id)
    await fund_wallet(pool, tenant.business_id)
    async with aiohttp.ClientSession() as http:
        simulator = CallerSimulator(str(client.make_url("")).rstrip("/"), AUTH_TOKEN, http, public_url=PUBLIC_URL,
                                    reply_timeout=10.0)
        result = await simulator.call(NUMBER, [Say(await synthesize("Where are you located?"))])
    for _ in range(300):
        if await pool.fetchval("SELECT ended_at FROM calls WHERE call_sid = $1", result.call_sid):
            break
        await asyncio.sleep(0.01)
    rows = await pool.fetch("SELECT t.role, t.text FROM call_turns t JOIN calls c ON c.id = t.call_id"
                            " WHERE c.call_sid = $1 ORDER BY t.seq", result.call_sid)
    assert [r["text"] for r in rows][-1] == "At 1 Market Street.", (rows, result)

"""The SMS and WhatsApp channels' own greeting opens a thread's first reply (issue 22)."""

from __future__ import annotations

import asyncpg

from agent_server.config import Settings
from conversations.sms_reply import _greeted
from tests.conftest import MakeClient
from tests.fake_openai import FakeOpenAi
from tests.messaging.conftest import OUR_NUMBER, Shop
from tests.messaging.test_twilio_sms import SENDER, text

GREETING = "Hi, this is Corner Dental's assistant."


async def test_the_first_reply_of_a_thread_opens_with_the_channels_greeting_and_later_ones_do_not(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE agents SET channels = $2 WHERE id = $1", shop.agent_id, {"sms": {"greeting": GREETING}})
    fake_openai.state.script("Tuesday works.", "See you then.", "Hello on WhatsApp!")
    client = await make_client(messaging_settings)
    assert await text(client, "Can I come Tuesday?") == f"{GREETING}\n\nTuesday works."
    assert await text(client, "Great, 10am?") == "See you then."
    # WhatsApp sets no greeting of its own: the agent's general one ("Hi! How can I help?") is not inherited.
    assert await text(client, "hi", sender="whatsapp:" + SENDER, to="whatsapp:" + OUR_NUMBER) == "Hello on WhatsApp!"
    history = fake_openai.state.chat_requests[1]["messages"]
    assert {"role": "assistant", "content": f"{GREETING}\n\nTuesday works."} in history  # the thread as sent


def test_a_long_answer_is_cut_to_leave_the_greeting_room_in_one_reply() -> None:
    reply = _greeted("word " * 100, GREETING, 160)
    assert reply.startswith(GREETING + "\n\n") and len(reply) <= 160 and reply.endswith("…")
    assert _greeted("Fine.", "", 160) == "Fine."

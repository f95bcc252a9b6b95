"""A reply that misses Twilio's webhook budget is sent through the REST API (local Twilio fake)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import asyncpg

from tests.conftest import MakeClient, MakeSettings
from tests.fake_openai import FakeOpenAi
from tests.fake_twilio import FakeTwilio
from tests.messaging.conftest import OUR_NUMBER, TWILIO_SID, TWILIO_TOKEN, Shop
from tests.messaging.test_twilio_sms import SENDER, text


async def test_slow_reply_is_sent_through_the_rest_api(
        make_settings: MakeSettings, make_client: MakeClient, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    """Past the budget the webhook answers empty TwiML at once; the reply goes out via Messages.json."""
    async with FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        twilio.own(OUR_NUMBER)
        base = make_settings(TWILIO_AUTH_TOKEN=TWILIO_TOKEN, TWILIO_ACCOUNT_SID=TWILIO_SID,
                             TWILIO_API_BASE=twilio.base_url, OPENAI_API_KEY=fake_openai.state.options.api_key,
                             OPENAI_BASE_URL=fake_openai.base_url)
        settings = dataclasses.replace(base, messaging=dataclasses.replace(base.messaging,
                                                                           sms_reply_budget_seconds=0.2))
        fake_openai.state.options.first_token_delay = 0.6
        fake_openai.state.script("Sorry for the wait: yes, we are open.")
        client = await make_client(settings)
        assert await text(client, "Is the clinic open on bank holidays?") is None
        assert twilio.messages == []
        for _ in range(100):
            if twilio.messages:
                break
            await asyncio.sleep(0.05)
        sent: dict[str, Any] = twilio.messages[0]
        assert (sent["from"], sent["to"], sent["body"]) == (OUR_NUMBER, SENDER, "Sorry for the wait: yes, we are open.")
        for _ in range(40):
            row = await pool.fetchrow("SELECT status, message_sid FROM sms_messages WHERE direction = 'outbound'")
            if row is not None and row["status"] == "sent":
                break
            await asyncio.sleep(0.05)
        assert row is not None and (row["status"], row["message_sid"]) == ("sent", sent["sid"])

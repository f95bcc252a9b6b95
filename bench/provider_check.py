"""Latency of the provider check's round trips against the local fakes (OpenAI, Deepgram, Twilio).

Runs what `POST /api/agents/{agentId}/validate` runs, minus the route (its 6-a-minute limit
would stop a loop): `media.checks.probes.check_media` for two models, one voice and one
language, and `phone_numbers.number_checks.check_twilio` for the account and one number,
concurrently, `--runs` times one after another. Reports p50/p99/max of the whole check.

    .venv/bin/python bench/provider_check.py --runs 50
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media.checks.probes import MediaAccounts, Targets, check_media  # noqa: E402
from media.config import DeepgramConfig, OpenAIConfig  # noqa: E402
from media.providers import build_providers  # noqa: E402
from phone_numbers.number_checks import TwilioAccount, check_twilio  # noqa: E402
from phone_numbers.provisioning import webhooks_for  # noqa: E402
from tests.fake_deepgram import FakeDeepgram  # noqa: E402
from tests.fake_openai import FakeOpenAi  # noqa: E402
from tests.fake_twilio import FakeTwilio  # noqa: E402

PUBLIC_URL = "https://agent.example.test"
NUMBER = "+14155550100"


async def main(runs: int) -> None:
    openai, deepgram, twilio = FakeOpenAi(), FakeDeepgram(), FakeTwilio()
    openai_url, deepgram_url, twilio_url = await openai.start(), await deepgram.start(), await twilio.start()
    hooks = webhooks_for(PUBLIC_URL)
    twilio.own(NUMBER, voice_url=hooks.voice_url, sms_url=hooks.sms_url)
    async with aiohttp.ClientSession() as session:
        providers = build_providers(session=session, deepgram_api_key="test-key", deepgram_base_url=deepgram_url,
                                    openai_api_key="test-key", openai_base_url=openai_url)
        accounts = MediaAccounts(session=session, openai=OpenAIConfig(api_key="test-key", base_url=openai_url),
                                 deepgram=DeepgramConfig(api_key="test-key", base_url=deepgram_url),
                                 tts=providers.tts, stt=providers.stt)
        targets = Targets(models=("gpt-a", "gpt-b"), voices=("aura-2-thalia-en",), languages=("en-US",))
        account = TwilioAccount(twilio.account_sid, twilio.auth_token, twilio_url)
        took = []
        for _ in range(runs):
            started = time.perf_counter()
            media, phone = await asyncio.gather(
                check_media(accounts, targets),
                check_twilio(session, account, [NUMBER], hooks=["voice", "sms"], public_url=PUBLIC_URL))
            took.append((time.perf_counter() - started) * 1000)
            assert all(r.ok for r in (*media, *phone)), [r for r in (*media, *phone) if not r.ok]
    await openai.close()
    await deepgram.close()
    await twilio.close()
    took.sort()
    print(f"provider check x{runs}: p50 {statistics.median(took):.1f} ms, "
          f"p99 {took[min(len(took) - 1, int(len(took) * 0.99))]:.1f} ms, max {took[-1]:.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    asyncio.run(main(parser.parse_args().runs))

"""Media-only fixtures: a client session and the Deepgram fake on 127.0.0.1 (the OpenAI fake is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.fake_deepgram import FakeDeepgram


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session like the app's shared one."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def fake_deepgram() -> AsyncIterator[FakeDeepgram]:
    """A started fake Deepgram with no delays; adjust ``fake_deepgram.state.options`` per test."""
    fake = FakeDeepgram()
    await fake.start()
    yield fake
    await fake.close()

"""Fixtures for knowledge tests: one extraction process pool per module, the fake website per test, an embedder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from knowledge.embeddings import OpenAiEmbeddings
from knowledge.extraction import Extractor
from tests.fake_openai import FakeOpenAi
from tests.fake_website import FakeWebsite, serve


@pytest.fixture(scope="session")
def extractor() -> Iterator[Extractor]:
    pool = Extractor(workers=1)
    yield pool
    pool.close()


@pytest.fixture
def website() -> FakeWebsite:
    return FakeWebsite()


@pytest.fixture
async def site_server(website: FakeWebsite) -> AsyncIterator[TestServer]:
    async for server in serve(website):
        yield server


EMBEDDING_MODEL = "fake-embed"


@pytest.fixture
async def embedder(fake_openai: FakeOpenAi) -> AsyncIterator[OpenAiEmbeddings]:
    """The real embeddings client against the OpenAI fake (hashed bag-of-words vectors, 256 dimensions)."""
    async with aiohttp.ClientSession() as session:
        yield OpenAiEmbeddings(session, base_url=fake_openai.base_url, api_key="test-key", model=EMBEDDING_MODEL)

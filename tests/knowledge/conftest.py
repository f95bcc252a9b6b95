"""Fixtures for knowledge tests: one extraction process pool per module, the fake website per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp.test_utils import TestServer

from knowledge.extraction import Extractor
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

"""The crawler reaches only public http(s) addresses: checked after DNS, before any connection opens."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Mapping, Sequence

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer
from yarl import URL

from knowledge.errors import UrlNotAllowed
from knowledge.url_guard import check_url, guarded_session, refusal


class StubResolver(AbstractResolver):
    """Answers each name from a table, as a DNS server under an attacker's control would."""

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        self.asked.append(host)
        return [ResolveResult(hostname=host, host=a, port=port,
                              family=socket.AF_INET6 if ":" in a else socket.AF_INET, proto=0, flags=0)
                for a in self.table[host]]

    async def close(self) -> None:
        pass


class Counted:
    def __init__(self) -> None:
        self.requests = 0


@pytest.fixture
async def site() -> AsyncIterator[tuple[TestServer, Counted]]:
    counted = Counted()

    async def page(request: web.Request) -> web.Response:
        counted.requests += 1
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/", page)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server, counted
    await server.close()


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "224.0.0.1",
    "240.0.0.1", "0.0.0.0", "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1",
])
def test_refused_addresses_have_a_reason(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("url", [
    "ftp://example.com/", "file:///etc/passwd", "javascript:alert(1)", "http://169.254.169.254/latest/meta-data",
    "http://[::1]:8080/", "http://10.0.0.1/", "http://user:pw@example.com/", "gopher://example.com/",
])
def test_bad_scheme_or_literal_address_is_refused(url: str) -> None:
    with pytest.raises(UrlNotAllowed):
        check_url(URL(url), ())


def test_allowed_private_host_passes() -> None:
    check_url(URL("http://127.0.0.1:8080/"), ("127.0.0.1",))
    check_url(URL("https://example.com/"), ())


@pytest.mark.parametrize("addresses", [
    ["127.0.0.1"], ["10.0.0.7"], ["169.254.169.254"], ["100.100.1.1"], ["224.0.0.251"], ["::1"],
    ["fe80::1"], ["::ffff:192.168.0.1"], ["192.168.0.1", "10.0.0.1"],
])
async def test_name_resolving_to_refused_addresses_fails_before_connecting(
        site: tuple[TestServer, Counted], addresses: list[str]) -> None:
    server, counted = site
    resolver = StubResolver({"victim.test": addresses})
    async with guarded_session((), connections_per_host=2, user_agent="t", resolver=resolver) as session:
        with pytest.raises(UrlNotAllowed):
            await session.get(f"http://victim.test:{server.port}/")
    assert resolver.asked == ["victim.test"]
    assert counted.requests == 0


async def test_refused_answers_are_dropped_and_only_the_allowed_one_is_dialled(
        site: tuple[TestServer, Counted]) -> None:
    server, counted = site
    resolver = StubResolver({"mixed.test": ["169.254.169.254", "10.0.0.1", "127.0.0.1"]})
    async with guarded_session(("127.0.0.1",), connections_per_host=2, user_agent="t",
                               resolver=resolver) as session:
        async with session.get(f"http://mixed.test:{server.port}/") as response:
            assert await response.text() == "hello"
    assert counted.requests == 1


async def test_a_redirect_to_a_name_on_a_private_address_is_refused_at_its_hop(
        site: tuple[TestServer, Counted]) -> None:
    server, counted = site
    resolver = StubResolver({"public.test": ["127.0.0.1"], "internal.test": ["10.0.0.1"]})
    async with guarded_session(("public.test",), connections_per_host=2, user_agent="t",
                               resolver=resolver) as session:
        async with session.get(f"http://public.test:{server.port}/") as response:
            assert response.status == 200
        with pytest.raises(UrlNotAllowed):
            await session.get(f"http://internal.test:{server.port}/")
    assert resolver.asked == ["public.test", "internal.test"]
    assert counted.requests == 1


async def test_session_sends_no_cookies(site: tuple[TestServer, Counted]) -> None:
    server, _ = site
    async with guarded_session(("127.0.0.1",), connections_per_host=2, user_agent="AgentServerBot/1") as session:
        session.cookie_jar.update_cookies({"sid": "secret"}, URL(f"http://127.0.0.1:{server.port}/"))
        assert isinstance(session.cookie_jar, aiohttp.DummyCookieJar)
        assert len(session.cookie_jar) == 0

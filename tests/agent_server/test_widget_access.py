"""Widget origin checks and client IPs behind proxies."""

from __future__ import annotations

from agent_server.widget_access import allowed_origins, client_ip, origin_allowed, origin_of

PUBLIC = "http://127.0.0.1:8080"


def test_origins_are_normalised() -> None:
    assert origin_of("HTTPS://Shop.Example:443/path?q") == "https://shop.example"
    assert origin_of("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert origin_of("javascript:alert(1)") == "" and origin_of("null") == ""


def test_no_configured_origins_means_only_the_public_url() -> None:
    assert allowed_origins([], PUBLIC) == {"http://127.0.0.1:8080"}
    assert origin_allowed("http://127.0.0.1:8080", [], PUBLIC)
    assert not origin_allowed("http://localhost:8080", [], PUBLIC)
    assert not origin_allowed(None, [], PUBLIC) and not origin_allowed("null", [], PUBLIC)


def test_configured_origins_replace_the_default() -> None:
    configured = ["https://shop.example/", "https://www.shop.example"]
    assert origin_allowed("https://shop.example", configured, PUBLIC)
    assert not origin_allowed(PUBLIC, configured, PUBLIC)
    assert not origin_allowed("https://shop.example.evil.test", configured, PUBLIC)


def test_client_ip_trusts_only_the_configured_proxy_hops() -> None:
    assert client_ip("10.0.0.5", "1.2.3.4", 0) == "10.0.0.5"
    assert client_ip("10.0.0.5", "6.6.6.6, 1.2.3.4", 1) == "1.2.3.4"
    assert client_ip("10.0.0.5", "6.6.6.6, 1.2.3.4, 10.0.0.9", 2) == "1.2.3.4"
    assert client_ip("10.0.0.5", "", 1) == "10.0.0.5"

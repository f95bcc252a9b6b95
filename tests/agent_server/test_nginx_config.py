"""The recommended nginx config: websocket upgrade, HTTP/1.1 upstreams, balanced by open connections."""

from __future__ import annotations

from pathlib import Path

from agent_server.nginx_config import nginx_config


def test_config_upgrades_websockets_and_balances_by_open_connections(tmp_path: Path) -> None:
    text = nginx_config(8080, [9001, 9002], tmp_path)
    assert "listen 127.0.0.1:8080;" in text
    assert "server 127.0.0.1:9001;" in text and "server 127.0.0.1:9002;" in text
    assert "least_conn;" in text and "proxy_http_version 1.1;" in text
    assert "proxy_set_header Upgrade $http_upgrade;" in text
    assert "proxy_set_header Connection $connection_upgrade;" in text

"""An nginx configuration that carries calls: HTTP and Media Streams websockets to several server processes.

What a load balancer in front of ``agent-server`` must do: speak HTTP/1.1 to the upstreams
and pass ``Upgrade``/``Connection`` on (else the Media Streams and widget websockets never
open), keep idle sockets far longer than nginx's 60 s default (a call is silent on the
wire only between frames, but a widget socket may idle), and not buffer responses (the
streamed answers). Upstreams are chosen by fewest open connections: a call's stream is one
long-lived connection, and round robin over requests piled most streams onto one process
when measured (README, Performance). Used by ``bench/nginx_calls.py`` and its test; an
operator can start from :func:`nginx_config`'s output.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Final

NGINX: Final = Path("/usr/sbin/nginx")
"""Debian's nginx binary."""


def nginx_config(listen_port: int, upstream_ports: list[int], prefix: Path) -> str:
    """A foreground nginx on 127.0.0.1:``listen_port`` balancing over 127.0.0.1 ``upstream_ports``.

    Args:
        listen_port: where nginx listens.
        upstream_ports: the server processes' ports.
        prefix: a writable directory for nginx's pid, log and temp files.

    Returns:
        The text of ``nginx.conf``.
    """
    servers = "\n".join(f"        server 127.0.0.1:{p};" for p in upstream_ports)
    return f"""daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    upstream agent_server {{
        least_conn;
{servers}
    }}
    server {{
        listen 127.0.0.1:{listen_port};
        location / {{
            proxy_pass http://agent_server;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
            proxy_buffering off;
        }}
    }}
}}
"""


def ensure_nginx() -> None:
    """Install Debian's nginx when it is missing (needs root, as in CI)."""
    if NGINX.exists():
        return
    subprocess.run(["apt-get", "install", "-y", "nginx"], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def start_nginx(prefix: Path) -> subprocess.Popen[bytes]:
    """Run nginx in the foreground with ``prefix/nginx.conf`` (written by the caller)."""
    return subprocess.Popen([str(NGINX), "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                             "-e", str(prefix / "error.log")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

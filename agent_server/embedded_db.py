"""The embedded PostgreSQL (pgserver) used when DATABASE_URL is not set.

pgserver ships PostgreSQL inside a wheel, so a fresh clone needs no system database.
Several processes on one data folder share one server (the CLI beside `serve`); it stops
when the last of them exits.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

_SERVERS: dict[Path, Any] = {}


def start_embedded(data_dir: str | Path) -> str:
    """Start (or join) the embedded server for `data_dir` and return an asyncpg DSN."""
    path = Path(data_dir).resolve()
    if path not in _SERVERS:
        path.mkdir(parents=True, exist_ok=True)
        # A deep checkout path pushes the Unix socket under XDG_RUNTIME_DIR; give it one
        # rather than let platformdirs warn.
        os.environ.setdefault("XDG_RUNTIME_DIR", str(path.parent))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver.postgres_server import get_server

            _SERVERS[path] = get_server(path, cleanup_mode="stop")
    uri: str = _SERVERS[path].get_uri()
    return uri


def stop_embedded(data_dir: str | Path) -> None:
    """Stop the server this process started for `data_dir` (normally left to process exit)."""
    server = _SERVERS.pop(Path(data_dir).resolve(), None)
    if server is not None:
        server.cleanup()

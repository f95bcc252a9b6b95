"""Which PostgreSQL the server uses: DATABASE_URL, or the embedded one the shell starts."""

from __future__ import annotations

from agent_server.embedded_db import start_embedded
from storage.config import DatabaseConfig


def database_url(config: DatabaseConfig) -> str:
    """DATABASE_URL when set; otherwise start the embedded server and use it."""
    return config.url or start_embedded(config.data_dir)

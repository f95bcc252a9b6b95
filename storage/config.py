"""The `[database]` config section: where PostgreSQL is and how the pool is sized."""

from __future__ import annotations

import dataclasses

from config_fields import check, positive, secret


@dataclasses.dataclass(frozen=True)
class DatabaseConfig:
    url: str = secret()
    data_dir: str = ".data/postgres"
    pool_min_size: int = check(positive, 2)
    pool_max_size: int = check(positive, 10)
    command_timeout_seconds: float = check(positive, 10.0)

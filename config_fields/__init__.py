"""How a config section declares its keys: secrets, checked values and the common checks.

Every package's config dataclass is built from these, so the shell (`agent_server.config`)
can read one TOML file and the environment into all of them by the same rules, while the
sections themselves live with the package that uses them. No project imports.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit


def secret() -> Any:
    """Declare a field that may only come from the environment."""
    return dataclasses.field(default="", metadata={"secret": True})


def check(fn: Callable[[Any], Any], default: Any) -> Any:
    """Declare a field whose value is checked (and possibly normalised) by `fn`."""
    return dataclasses.field(default=default, metadata={"check": fn})


def url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value.rstrip("/")


def path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("must be a path starting with /")
    return value


def positive(value: int | float) -> int | float:
    if value <= 0:
        raise ValueError("must be positive")
    return value


def non_negative(value: int | float) -> int | float:
    if value < 0:
        raise ValueError("must not be negative")
    return value

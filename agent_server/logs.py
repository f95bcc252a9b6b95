"""structlog set-up: one JSON event per line on stdout, with contextvars merged in.

Configured once per process; `request_id`, `call_sid` and `business_id` are bound with
`structlog.contextvars` where a request or call starts, so every line below carries them.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

import orjson
import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def _dumps(obj: object, default: object = None) -> str:
    return orjson.dumps(obj, default=str).decode()


class _StdoutHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stdout` is at emit time (it may be swapped, e.g. by test capture)."""

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def _add_pid(logger: object, method: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
    """With several worker processes, which one said it matters."""
    event["pid"] = _PID
    return event


_PID = os.getpid()


def configure_logging(level: str = "info") -> None:
    """Route structlog and the stdlib loggers (aiohttp, asyncpg) into one JSON stream."""
    if level not in _LEVELS:
        raise ValueError(f"unknown log level {level!r}")
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_pid,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = _StdoutHandler()
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ],
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    # Access lines for every websocket upgrade and webhook are useful; per-request noise from
    # the client library is not.
    logging.getLogger("aiohttp.client").setLevel(logging.WARNING)
    logging.getLogger("pgserver").setLevel(logging.WARNING)

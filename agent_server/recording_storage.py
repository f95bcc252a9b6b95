"""Which store keeps finished call recordings: the local folder, or the S3 bucket the config names."""

from __future__ import annotations

import functools

from agent_server.config import ConfigError, Settings
from media.config import RecordingsConfig
from media.recording.s3_store import S3Recordings


def bucket_for(settings: Settings) -> S3Recordings | None:
    """The bucket with `[recordings] backend = "s3"`, else None (files stay in `[recordings] dir`).

    One per process and configuration, so every route and job shares its warmed botocore session.

    Raises:
        ConfigError: the S3 backend without a bucket.
    """
    config = settings.recordings
    if config.backend != "s3":
        return None
    if not config.s3_bucket:
        raise ConfigError("recordings.s3_bucket must be set when recordings.backend is s3")
    return _bucket(config)


@functools.cache
def _bucket(config: RecordingsConfig) -> S3Recordings:
    return S3Recordings(config)

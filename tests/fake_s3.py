"""S3 at the wire: moto's server mode on 127.0.0.1, a real HTTP endpoint that speaks the S3 API.

The server runs in a thread of the test process (werkzeug), so the code under test reaches it
through `[recordings] s3_endpoint` exactly as it would reach AWS or MinIO.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from moto.server import ThreadedMotoServer

BUCKET = "recordings-test"
KEY_ID = "test-access-key"
SECRET = "test-secret-key"


@dataclass(frozen=True)
class FakeS3:
    endpoint: str
    bucket: str

    def keys(self) -> list[str]:
        """The bucket's keys, read with boto3 (an independent client)."""
        client = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                              aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
        return [o["Key"] for o in client.list_objects_v2(Bucket=self.bucket).get("Contents", [])]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def fake_s3() -> Iterator[FakeS3]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        fake = FakeS3(f"http://127.0.0.1:{port}", BUCKET)
        boto3.client("s3", endpoint_url=fake.endpoint, region_name="us-east-1", aws_access_key_id=KEY_ID,
                     aws_secret_access_key=SECRET).create_bucket(Bucket=BUCKET)
        yield fake
    finally:
        server.stop()

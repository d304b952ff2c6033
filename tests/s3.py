"""A local S3-compatible server for the blob store's tests: moto's, started in this process (no S3 service
is reachable from these machines). Each use gets a bucket of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture()
def s3_blobs(s3_endpoint: str) -> tuple[str, dict]:
    """``(url, options)`` of an empty bucket on the local server, as ``Workspace(blobs=, blob_options=)`` takes them."""
    import boto3

    options = {"endpoint_url": s3_endpoint, "key": "test", "secret": "test", "client_kwargs": {"region_name": "us-east-1"}}
    bucket = f"blobs-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/sightline", options

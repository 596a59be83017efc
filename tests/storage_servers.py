"""Real S3 and GCS endpoints on loopback for the landing tests: moto's server and a GCS emulator.

Imported by the tests that use them, so the rest of the suite does not pay for starting them.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import pytest

from airflow_webflow_audit.testing.deployment import free_port

AWS_CONN_ID = "aws_moto"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the moto server, reachable as ``s3://aws_moto@<bucket>``."""
    import boto3

    # The aws connection's extra carries the endpoint: ObjectStoragePath ignores storage options.
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": moto_endpoint, "region_name": "us-east-1"},
            }
        ),
    )
    bucket = f"webflow-audit-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture(scope="session")
def gcs_endpoint() -> Iterator[str]:
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # gcsfs reads both when a filesystem is created: talk to the emulator, and skip the gRPC
    # bucket-type probe that stalls for a minute against anything but real GCS.
    os.environ["STORAGE_EMULATOR_HOST"] = endpoint
    os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
    yield endpoint
    server.stop()


@pytest.fixture
def gcs_bucket(gcs_endpoint: str) -> str:
    """A fresh bucket on the emulator, reachable as ``gs://<bucket>`` (no connection: anonymous)."""
    import httpx

    bucket = f"webflow-audit-{uuid.uuid4().hex[:12]}"
    response = httpx.post(f"{gcs_endpoint}/storage/v1/b", params={"project": "test"}, json={"name": bucket})
    response.raise_for_status()
    return bucket

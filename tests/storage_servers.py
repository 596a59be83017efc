"""Real S3 and GCS endpoints on loopback for the landing tests: moto's server and a GCS emulator.

Imported by the tests that use them, so the rest of the suite does not pay for starting them.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import pytest

from airflow_webflow_audit.testing.deployment import free_port
from tests.gcs_retention_proxy import RetentionProxy

AWS_CONN_ID = "aws_moto"


_started: dict[str, Any] = {}


def shared_moto_endpoint() -> str:
    """moto's S3 server on loopback, started on first use and shared by the whole session."""
    if "moto" not in _started:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        _started["moto"] = (server, f"http://{host}:{port}")
    return _started["moto"][1]


def aws_connection(endpoint: str) -> str:
    """An ``aws`` connection (JSON) for moto: the endpoint goes in the extra, as ObjectStoragePath needs."""
    return json.dumps(
        {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        }
    )


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def shared_gcs_endpoint() -> str:
    """A GCS emulator on loopback behind a retention-policy proxy, started on first use, shared by the session.

    Buckets created with a retention policy (:func:`create_gcs_bucket`) refuse deletes and
    replacements as GCS does (see ``tests/gcs_retention_proxy.py``); others behave as the emulator.
    gcsfs reads both variables set here when a filesystem is created: talk to the proxy, and skip the
    gRPC bucket-type probe that stalls for a minute against anything but real GCS.
    """
    if "gcs" not in _started:
        from gcp_storage_emulator.server import create_server

        port = free_port()
        server = create_server("127.0.0.1", port, in_memory=True)
        server.start()
        _started["gcs"] = (server, f"http://127.0.0.1:{port}")
        proxy = RetentionProxy(_started["gcs"][1]).start()
        _started["gcs-proxy"] = (proxy, proxy.url)
        os.environ["STORAGE_EMULATOR_HOST"] = proxy.url
        os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
    return _started["gcs-proxy"][1]


def gcs_retention_proxy() -> RetentionProxy:
    shared_gcs_endpoint()
    return _started["gcs-proxy"][0]


def create_gcs_bucket(endpoint: str, bucket: str, *, retention_seconds: int | None = None) -> None:
    import httpx

    body: dict[str, Any] = {"name": bucket}
    if retention_seconds is not None:
        body["retentionPolicy"] = {"retentionPeriod": str(retention_seconds)}
    response = httpx.post(f"{endpoint}/storage/v1/b", params={"project": "test"}, json=body)
    response.raise_for_status()


def stop_shared_servers() -> None:
    for server, _endpoint in reversed(list(_started.values())):
        server.stop()
    _started.clear()


def pytest_sessionfinish(session: pytest.Session) -> None:
    stop_shared_servers()


@pytest.fixture(scope="session")
def moto_endpoint() -> str:
    return shared_moto_endpoint()


@pytest.fixture
def s3_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the moto server, reachable as ``s3://aws_moto@<bucket>``."""
    # The aws connection's extra carries the endpoint: ObjectStoragePath ignores storage options.
    monkeypatch.setenv(f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}", aws_connection(moto_endpoint))
    bucket = f"webflow-audit-{uuid.uuid4().hex[:12]}"
    client = s3_client(moto_endpoint)
    client.create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture(scope="session")
def gcs_endpoint() -> str:
    return shared_gcs_endpoint()


@pytest.fixture
def gcs_bucket(gcs_endpoint: str) -> str:
    """A fresh bucket on the emulator, reachable as ``gs://<bucket>`` (no connection: anonymous)."""
    bucket = f"webflow-audit-{uuid.uuid4().hex[:12]}"
    create_gcs_bucket(gcs_endpoint, bucket)
    return bucket


@pytest.fixture
def locked_gcs_bucket(gcs_endpoint: str) -> str:
    """A fresh bucket with a one-day retention policy: no object in it can be deleted or replaced."""
    bucket = f"webflow-locked-{uuid.uuid4().hex[:12]}"
    create_gcs_bucket(gcs_endpoint, bucket, retention_seconds=86400)
    return bucket


@pytest.fixture
def locked_s3_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh versioned bucket with S3 Object Lock on, reachable as ``s3://aws_moto@<bucket>``."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}", aws_connection(moto_endpoint))
    bucket = f"webflow-locked-{uuid.uuid4().hex[:12]}"
    s3_client(moto_endpoint).create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    return bucket

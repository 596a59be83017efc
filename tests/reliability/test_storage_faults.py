"""Faults on the storage side: a clear error, nothing at the final keys, and a clean rerun afterwards."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.exceptions import WebflowLandingError
from airflow_webflow_audit.testing.deployment import free_port
from tests.conftest import DAY0
from tests.landing_helpers import make_operator, read_events, read_manifest, run_window, sha256_of, snapshot
from tests.storage_servers import AWS_CONN_ID

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WINDOW = (DAY0, DAY0 + timedelta(days=1))


@pytest.mark.parametrize("store", ["s3", "gcs"])
def test_a_missing_bucket_fails_before_any_request(store, simulator, clock, request):
    sim = simulator()
    if store == "s3":
        request.getfixturevalue("s3_bucket")  # the aws connection to the moto server
        destination = f"s3://{AWS_CONN_ID}@no-such-bucket-for-webflow/audit"
    else:
        request.getfixturevalue("gcs_endpoint")
        destination = "gs://no-such-bucket-for-webflow/audit"
    with pytest.raises(WebflowLandingError, match=r"'no-such-bucket-for-webflow' of destination .* does not exist"):
        run_window(make_operator(clock, destination=destination), *WINDOW)
    assert sim.request_count == 0


def test_no_write_permission_fails_before_any_request(simulator, clock):
    sim = simulator()
    # /sys refuses new folders even to root, which a chmod-ed folder would not.
    with pytest.raises(WebflowLandingError, match="Cannot write to destination file:///sys/webflow-audit"):
        run_window(make_operator(clock, destination="file:///sys/webflow-audit"), *WINDOW)
    assert sim.request_count == 0


@pytest.fixture
def flaky_s3(monkeypatch) -> Iterator[dict]:
    """A moto server of this test's own, which the test can stop and start again on the same port."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    conn_id = "aws_flaky"
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                # Few and quick retries: the test waits for the failure, not for botocore's patience.
                "extra": {
                    "endpoint_url": endpoint,
                    "region_name": "us-east-1",
                    "config_kwargs": {"retries": {"max_attempts": 2}},
                },
            }
        ),
    )
    state = {"server": ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)}
    state["server"].start()
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket="flaky-bucket")

    def stop() -> None:
        state["server"].stop()

    def restart() -> None:
        # moto keeps its buckets in this process, so a new server on the same port sees the same state.
        state["server"] = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        state["server"].start()

    yield {"destination": f"s3://{conn_id}@flaky-bucket/audit", "stop": stop, "restart": restart}
    state["server"].stop()


def test_the_s3_endpoint_going_away_mid_pull_leaves_no_object(simulator, clock, flaky_s3, tmp_path):
    sim = simulator()
    requests = {"n": 0}

    def storage_goes_away(path, params) -> None:
        requests["n"] += 1
        if requests["n"] == 10:  # pages are streaming into the temporary object
            flaky_s3["stop"]()

    sim.on_request = storage_goes_away
    with pytest.raises(WebflowLandingError, match="Nothing changed at the final key"):
        run_window(make_operator(clock, destination=flaky_s3["destination"]), *WINDOW)
    assert requests["n"] > 10

    flaky_s3["restart"]()
    sim.on_request = None
    root = ObjectStoragePath(flaky_s3["destination"])
    assert [key for key in snapshot(root) if not key.rsplit("/", 1)[-1].startswith(".")] == []

    rerun, _ = run_window(make_operator(clock, destination=flaky_s3["destination"]), *WINDOW)
    clean, _ = run_window(make_operator(clock, destination=f"file://{tmp_path}/clean"), *WINDOW)
    assert ObjectStoragePath(rerun["uri"]).read_bytes() == ObjectStoragePath(clean["uri"]).read_bytes()
    assert read_manifest(rerun["manifest_uri"])["object"]["sha256"] == sha256_of(rerun["uri"])


@pytest.mark.parametrize("store", ["local", "s3"])
def test_two_runs_of_one_window_at_once_end_with_one_whole_object(store, simulator, clock, request, tmp_path):
    sim = simulator()
    if store == "s3":
        destination = f"s3://{AWS_CONN_ID}@{request.getfixturevalue('s3_bucket')}/audit"
    else:
        destination = f"file://{tmp_path}/landing"
    results: list[dict] = []
    errors: list[BaseException] = []
    start_together = threading.Barrier(2)

    def land() -> None:
        try:
            operator = make_operator(clock, destination=destination)
            start_together.wait()
            results.append(run_window(operator, *WINDOW)[0])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=land) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(results) == 2
    assert results[0]["uri"] == results[1]["uri"]
    assert read_events(results[0]["uri"]) == sim.events(*WINDOW)
    assert read_manifest(results[0]["manifest_uri"])["object"]["sha256"] == sha256_of(results[0]["uri"])
    assert len(snapshot(ObjectStoragePath(destination))) == 2  # the object and its manifest, no temporaries

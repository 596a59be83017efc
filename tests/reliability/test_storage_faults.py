"""Faults on the storage side: a clear error, nothing at the final keys, and a clean rerun afterwards."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.exceptions import WebflowLandingError
from airflow_webflow_audit.landing import land
from airflow_webflow_audit.landing.layout import MANIFEST_SUFFIX
from airflow_webflow_audit.testing.deployment import free_port
from tests.conftest import DAY0
from tests.landing_helpers import by_time, make_operator, read_manifest, read_window, run_window, sha256_of, snapshot
from tests.storage_servers import AWS_CONN_ID

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WINDOW = (DAY0, DAY0 + timedelta(days=1))
KEY = "workspace=hitchhikers-workspace/dt=2026-10-01/audit_logs_20261001T000000Z_20261002T000000Z.jsonl.gz"


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
        if requests["n"] == 10:  # pages are streaming into the local spool; the upload comes after
            flaky_s3["stop"]()

    sim.on_request = storage_goes_away
    with pytest.raises(WebflowLandingError, match="Nothing was created at the final key"):
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


@pytest.mark.parametrize("late_event", [False, True], ids=["first-part", "second-part"])
@pytest.mark.parametrize("store", ["local", "s3", "gcs"])
def test_two_landings_racing_on_one_part_leave_one_whole_part_and_both_succeed(
    store, late_event, simulator, clock, request, tmp_path, monkeypatch
):
    """Both read the window's parts before either writes, so both build the same part: one creates it, the
    other's create conflicts, and it compares its pull with that part, finds nothing to add, and succeeds."""
    sim = simulator()
    if store == "s3":
        destination = f"s3://{AWS_CONN_ID}@{request.getfixturevalue('s3_bucket')}/audit"
    elif store == "gcs":
        destination = f"gs://{request.getfixturevalue('gcs_bucket')}/audit"
    else:
        destination = f"file://{tmp_path}/landing"
    if late_event:
        run_window(make_operator(clock, destination=destination), *WINDOW)
        sim.insert_event(dict(sim.events(*WINDOW)[0], timestamp="2026-10-01T12:00:00.250Z"))
    both_have_read = threading.Barrier(2, timeout=60)
    real_read = land.read_chain
    reads = []

    def read_then_wait(*args, **kwargs):
        verdict = real_read(*args, **kwargs)
        reads.append(1)
        if len(reads) <= 2:  # the first read of each landing; a retry reads again without waiting
            both_have_read.wait()
        return verdict

    monkeypatch.setattr(land, "read_chain", read_then_wait)
    results: list[dict] = []
    errors: list[BaseException] = []

    def land_window() -> None:
        try:
            results.append(run_window(make_operator(clock, destination=destination), *WINDOW)[0])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=land_window) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(results) == 2
    expected_part = 2 if late_event else 1
    assert [r["part"] for r in results] == [expected_part, expected_part]
    assert min(r["new_records"] for r in results) == 0  # the loser wrote nothing
    assert len(reads) >= 3  # the loser read the chain again after its conflict
    root = ObjectStoragePath(destination)
    # Every manifest describes the object beside it; no temporary, no second copy of the part.
    landed = snapshot(root)
    assert len(landed) == (4 if late_event else 2)
    for key, body in landed.items():
        if key.endswith(MANIFEST_SUFFIX):
            manifest = json.loads(body)
            assert manifest["object"]["sha256"] == hashlib.sha256(landed[key.removesuffix(MANIFEST_SUFFIX)]).hexdigest()
    assert by_time(read_window(f"{destination}/{KEY}")) == by_time(sim.events(*WINDOW))
    # A later run finds the window whole and writes nothing.
    monkeypatch.setattr(land, "read_chain", real_read)
    retry, _ = run_window(make_operator(clock, destination=destination), *WINDOW)
    assert (retry["new_records"], retry["part"]) == (0, expected_part)
    assert snapshot(root) == landed

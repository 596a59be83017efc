"""WebflowAuditLogsOperator landing in S3 (moto server), GCS (emulator) and a local folder, the same way."""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.exceptions import WebflowRetriesExhaustedError
from airflow_webflow_audit.landing.layout import MANIFEST_SUFFIX
from tests.conftest import DAY0, TOKEN
from tests.landing_helpers import make_operator, read_events, read_manifest, run_window, sha256_of, snapshot
from tests.storage_servers import AWS_CONN_ID

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAY1 = DAY0 + timedelta(days=1)
KEY = "workspace=hitchhikers-workspace/dt=2026-10-01/audit_logs_20261001T000000Z_20261002T000000Z.jsonl.gz"


@pytest.fixture(params=["s3", "gcs", "local"])
def destination(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "local":
        return f"file://{tmp_path}/webflow/audit"
    if request.param == "s3":
        return f"s3://{AWS_CONN_ID}@{request.getfixturevalue('s3_bucket')}/webflow/audit"
    return f"gs://{request.getfixturevalue('gcs_bucket')}/webflow/audit"


def test_lands_a_window_with_its_manifest_and_nothing_else(simulator, clock, destination):
    sim = simulator()
    xcom, outlet_events = run_window(make_operator(clock, destination=destination), DAY0, DAY1)

    assert xcom["uri"] == f"{destination}/{KEY}"
    assert xcom["manifest_uri"] == f"{destination}/{KEY}{MANIFEST_SUFFIX}"
    truth = sim.events(DAY0, DAY1)
    assert xcom["records"] == len(truth) > 1000
    assert read_events(xcom["uri"]) == truth
    manifest = read_manifest(xcom["manifest_uri"])
    assert manifest["records"] == len(truth)
    assert manifest["object"]["sha256"] == sha256_of(xcom["uri"])
    landed = snapshot(ObjectStoragePath(destination))
    assert sorted(landed) == [KEY, KEY + MANIFEST_SUFFIX]  # no temporary object left behind
    assert all(TOKEN.encode() not in blob for blob in landed.values())
    (asset,) = list(outlet_events)
    assert "@" not in asset.uri  # the asset names the place, not the connection
    assert asset.uri.endswith("/webflow/audit/workspace=hitchhikers-workspace")


def test_a_rerun_is_byte_identical(simulator, clock, destination):
    simulator()
    operator = make_operator(clock, destination=destination)
    first, _ = run_window(operator, DAY0, DAY1)
    first_bytes = ObjectStoragePath(first["uri"]).read_bytes()
    second, _ = run_window(operator, DAY0, DAY1)
    assert ObjectStoragePath(second["uri"]).read_bytes() == first_bytes
    assert sorted(snapshot(ObjectStoragePath(destination))) == [KEY, KEY + MANIFEST_SUFFIX]


def test_an_outage_mid_pull_leaves_the_previous_landing_untouched(simulator, clock, destination):
    sim = simulator()
    operator = make_operator(clock, destination=destination)
    run_window(operator, DAY0, DAY1)
    before = snapshot(ObjectStoragePath(destination))

    sim.queue_faults(*(["ok"] * 5 + ["500"] * 40))
    with pytest.raises(WebflowRetriesExhaustedError):
        run_window(operator, DAY0, DAY1)
    assert snapshot(ObjectStoragePath(destination)) == before

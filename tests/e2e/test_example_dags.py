"""`airflow dags test` of every example DAG, against the simulator and loopback storage."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.landing import MANIFEST_SUFFIX
from tests.conftest import DAY0, TOKEN
from tests.e2e.conftest import DAGS_FOLDER, run_airflow
from tests.landing_helpers import read_events, read_manifest, snapshot
from tests.storage_servers import AWS_CONN_ID

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LOGICAL_DATE = "2026-10-02T00:00:00+00:00"
DAY = (DAY0, DAY0 + timedelta(days=1))
LAST_HOUR = (DAY0 + timedelta(hours=23), DAY0 + timedelta(days=1))


def object_key(start: datetime, end: datetime) -> str:
    stamp = "%Y%m%dT%H%M%SZ"
    return (
        f"workspace=hitchhikers-workspace/dt={start:%Y-%m-%d}/"
        f"audit_logs_{start.astimezone(timezone.utc):{stamp}}_{end.astimezone(timezone.utc):{stamp}}.jsonl.gz"
    )


def test_every_example_dag_is_covered_here():
    assert sorted(p.stem for p in DAGS_FOLDER.glob("example_webflow_audit_logs_to_*.py")) == [
        "example_webflow_audit_logs_to_gcs",
        "example_webflow_audit_logs_to_local",
        "example_webflow_audit_logs_to_s3",
    ]


@pytest.mark.parametrize(
    ("dag_id", "window"),
    [
        ("example_webflow_audit_logs_to_local", DAY),
        ("example_webflow_audit_logs_to_s3", LAST_HOUR),
        ("example_webflow_audit_logs_to_gcs", DAY),
    ],
)
def test_dags_test_lands_the_last_complete_interval(simulator, airflow_home, tmp_path, request, dag_id, window):
    sim = simulator(days=2)
    if dag_id.endswith("local"):
        destination, variable = f"file://{tmp_path}/landing", "WEBFLOW_AUDIT_LOCAL_DESTINATION"
    elif dag_id.endswith("s3"):
        bucket = request.getfixturevalue("s3_bucket")
        destination, variable = f"s3://{AWS_CONN_ID}@{bucket}/webflow", "WEBFLOW_AUDIT_S3_DESTINATION"
    else:
        bucket = request.getfixturevalue("gcs_bucket")
        destination, variable = f"gs://{bucket}/webflow", "WEBFLOW_AUDIT_GCS_DESTINATION"

    result = run_airflow(airflow_home, "dags", "test", dag_id, LOGICAL_DATE, **{variable: destination})

    key = object_key(*window)
    landed = snapshot(ObjectStoragePath(destination))
    assert sorted(landed) == [key, key + MANIFEST_SUFFIX]
    assert read_events(f"{destination}/{key}") == sim.events(*window)
    manifest = read_manifest(f"{destination}/{key}{MANIFEST_SUFFIX}")
    assert manifest["airflow"]["dag_id"] == dag_id
    assert manifest["airflow"]["task_id"] == "land_audit_logs"
    assert manifest["records"] == len(sim.events(*window)) > 0
    assert TOKEN not in result.stdout + result.stderr
    assert all(TOKEN.encode() not in blob for blob in landed.values())

"""`airflow dags test` of every example DAG, against the simulator and loopback storage."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.api import parse_timestamp
from airflow_webflow_audit.landing.layout import MANIFEST_SUFFIX
from airflow_webflow_audit.testing.simulator import generate_events
from tests.conftest import DAY0, TOKEN
from tests.e2e.conftest import DAGS_FOLDER, run_airflow
from tests.landing_helpers import (
    by_time,
    land_window_events,
    make_operator,
    read_events,
    read_manifest,
    read_window,
    run_window,
    snapshot,
)
from tests.storage_servers import AWS_CONN_ID

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LOGICAL_DATE = "2026-10-02T00:00:00+00:00"
DAY = (DAY0, DAY0 + timedelta(days=1))
LAST_HOUR = (DAY0 + timedelta(hours=23), DAY0 + timedelta(days=1))


def object_key(start: datetime, end: datetime, filter_label: str = "") -> str:
    stamp = "%Y%m%dT%H%M%SZ"
    return (
        f"workspace=hitchhikers-workspace/dt={start:%Y-%m-%d}/"
        f"audit_logs_{start.astimezone(timezone.utc):{stamp}}_{end.astimezone(timezone.utc):{stamp}}"
        f"{filter_label}.jsonl.gz"
    )


def test_every_example_dag_is_covered_here():
    """example_webflow_audit_alerts needs a triggerer, example_webflow_audit_partitioned a scheduler's backfill
    by partition date: both run in test_deployment.py."""
    assert sorted(p.stem for p in DAGS_FOLDER.glob("*.py")) == [
        "example_webflow_audit_access_changes",
        "example_webflow_audit_alerts",
        "example_webflow_audit_findings",
        "example_webflow_audit_logs_to_gcs",
        "example_webflow_audit_logs_to_local",
        "example_webflow_audit_logs_to_s3",
        "example_webflow_audit_ocsf",
        "example_webflow_audit_partitioned",
        "example_webflow_audit_reconcile",
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


ACCESS_TYPES = ("custom_role", "site_membership", "workspace_membership")


def access_change(stamp: str, event_type: str, subtype: str, actor: str, payload: dict) -> dict:
    return {
        "timestamp": stamp,
        "eventType": event_type,
        "eventSubType": subtype,
        "actor": {"id": "a" * 24, "email": actor, "type": "person"},
        "workspace": {"id": "6621ccb459b561c69f29d57c", "slug": "hitchhikers-workspace"},
        "payload": payload,
    }


def test_access_changes_dag_defers_until_changes_arrive_then_lands_and_reports(simulator, airflow_home, tmp_path):
    start, end = DAY0 + timedelta(hours=5), DAY0 + timedelta(hours=6)
    quiet_hour = [
        e
        for e in generate_events(seed=4, start=DAY0, end=DAY0 + timedelta(days=1), events_per_day=2000)
        if not (e["eventType"] in ACCESS_TYPES and start <= parse_timestamp(e["timestamp"]) < end)
    ]
    sim = simulator(quiet_hour)
    changes = [
        access_change(
            "2026-10-01T05:10:00.000Z", "custom_role", "role_updated", "ford@example.com", {"roleName": "Admin"}
        ),
        access_change(
            "2026-10-01T05:20:00.000Z",
            "workspace_membership",
            "user_role_updated",
            "zaphod@example.com",
            {
                "targetUser": {"id": "b" * 24, "email": "arthur@example.com"},
                "roleName": "Admin",
                "previousRoleName": "Reviewer",
            },
        ),
    ]
    requests = {"n": 0}

    def arrive_during_the_deferral(path, params) -> None:
        requests["n"] += 1
        # Requests 1-3: the sensor's one poke (one per type). 4-6: the trigger's first poll. 7: its second.
        if requests["n"] == 7:
            for change in changes:
                sim.insert_event(change)

    sim.on_request = arrive_during_the_deferral
    destination = f"file://{tmp_path}/access"
    result = run_airflow(
        airflow_home,
        "dags",
        "test",
        "example_webflow_audit_access_changes",
        end.isoformat(),
        WEBFLOW_AUDIT_ACCESS_DESTINATION=destination,
        WEBFLOW_ACCESS_POLL_SECONDS="1",
    )
    logs = result.stdout + result.stderr
    assert "found after 2 polls in the triggerer" in logs
    key = object_key(start, end, ".event_types=" + ",".join(ACCESS_TYPES))  # a filtered window has its own key
    assert read_events(f"{destination}/{key}") == sorted(changes, key=lambda e: e["eventType"])
    assert "ford@example.com  custom_role/role_updated  role Admin" in logs
    assert (
        "zaphod@example.com  workspace_membership/user_role_updated  user arthur@example.com role Reviewer -> Admin"
        in logs
    )
    assert TOKEN not in logs


def login(stamp: str, location: str, ip: str) -> dict:
    return {
        "timestamp": stamp,
        "eventType": "user_access",
        "eventSubType": "login",
        "actor": {"id": "c" * 24, "email": "trillian@example.com", "type": "person"},
        "workspace": {"id": "6621ccb459b561c69f29d57c", "slug": "hitchhikers-workspace"},
        "payload": {"method": "sso", "location": location, "ipAddress": ip},
    }


def test_findings_dag_learns_the_landed_windows_and_logs_what_it_found(airflow_home, tmp_path):
    destination = f"file://{tmp_path}/landed"
    root = ObjectStoragePath(destination)
    days = [(DAY0 + timedelta(days=n), DAY0 + timedelta(days=n + 1)) for n in range(2)]
    travel = [
        login("2026-10-02T08:00:00.000Z", "Dublin IE", "34.240.11.7"),
        login("2026-10-02T08:25:00.000Z", "Sydney AU", "13.54.201.9"),
    ]
    for start, end in days:
        events = [e for e in travel if start <= parse_timestamp(e["timestamp"]) < end]
        land_window_events(root, start, end, events)
    result = run_airflow(
        airflow_home,
        "dags",
        "test",
        "example_webflow_audit_findings",
        "2026-10-03T00:00:00+00:00",
        WEBFLOW_AUDIT_LOCAL_DESTINATION=destination,
    )
    logs = result.stdout + result.stderr
    assert "trillian@example.com logged in from Sydney AU 25 min after logging in from Dublin IE" in logs
    baseline = json.loads((root / "workspace=hitchhikers-workspace/_monitoring/baseline.json").read_bytes())
    assert baseline["applied_through"] == days[-1][1].isoformat()
    findings = sorted(key for key in snapshot(root) if key.endswith(".findings.jsonl"))
    assert len(findings) == 2


def test_reconcile_dag_re_lands_the_window_that_gained_a_late_event(simulator, airflow_home, tmp_path, clock):
    sim = simulator(days=4)
    destination = f"file://{tmp_path}/landing"
    days = [(DAY0 + timedelta(days=n), DAY0 + timedelta(days=n + 1)) for n in range(3)]
    for start, end in days:
        run_window(make_operator(clock, destination=destination), start, end)
    late = dict(sim.events(*days[1])[0], timestamp="2026-10-02T23:59:59.900Z")
    sim.insert_event(late)
    result = run_airflow(
        airflow_home,
        "dags",
        "test",
        "example_webflow_audit_reconcile",
        "2026-10-05T00:00:00+00:00",  # data interval [10-04, 10-05): reconciles [10-01 (landing start), 10-04)
        WEBFLOW_AUDIT_LOCAL_DESTINATION=destination,
    )
    logs = result.stdout + result.stderr
    assert "Checked 3 windows with" in logs
    assert "landed 1 again as a new part" in logs
    assert by_time(read_window(f"{destination}/{object_key(*days[1])}")) == by_time(sim.events(*days[1]))
    second = f"{destination}/{object_key(*days[1])}".replace(".jsonl.gz", ".part-0002.jsonl.gz")
    assert read_events(second) == [late]
    manifest = read_manifest(f"{second}{MANIFEST_SUFFIX}")
    assert manifest["part"]["previous"][0]["records"] == len(sim.events(*days[1])) - 1
    assert manifest["airflow"]["dag_id"] == "example_webflow_audit_reconcile"
    assert TOKEN not in logs


def test_ocsf_dag_converts_a_range_given_in_the_run_conf_and_a_rerun_writes_nothing(
    simulator, airflow_home, tmp_path, clock
):
    sim = simulator(days=2)
    landing, lake = f"file://{tmp_path}/landing", f"file://{tmp_path}/lake"
    days = [(DAY0 + timedelta(days=n), DAY0 + timedelta(days=n + 1)) for n in range(2)]
    for start, end in days:
        run_window(make_operator(clock, destination=landing), start, end)
    conf = json.dumps({"start": days[0][0].isoformat(), "end": days[-1][1].isoformat()})
    env = {"WEBFLOW_AUDIT_LOCAL_DESTINATION": landing, "WEBFLOW_AUDIT_LAKE_DESTINATION": lake}
    result = run_airflow(airflow_home, "dags", "test", "example_webflow_audit_ocsf", "--conf", conf, **env)
    logs = result.stdout + result.stderr
    events = len(sim.events(days[0][0], days[-1][1]))
    assert f"Read {events} events from 2 part(s) of 2 window(s); wrote {events} rows in 8 file(s)" in logs
    files = sorted(key for key in snapshot(ObjectStoragePath(lake)) if key.endswith(".parquet"))
    assert len(files) == 4 * 2  # four classes (the default simulator has no unknown type), two days
    partition = "/region=us-east-1/accountId=123456789012/eventDay="
    assert all(key.startswith("ext/webflow-") and partition in key for key in files)

    again = run_airflow(airflow_home, "dags", "test", "example_webflow_audit_ocsf", "--conf", conf, **env)
    assert f"wrote 0 rows in 0 file(s); {events} events were in the lake already" in again.stdout + again.stderr
    assert TOKEN not in logs

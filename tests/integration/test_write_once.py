"""Write-once stores: an S3 bucket with Object Lock (moto), a GCS bucket with a retention policy (the emulator
behind tests/gcs_retention_proxy.py), and a local folder. Landing, an identical rerun and a reconcile after a
late event all succeed; nothing is replaced or deleted; the window's parts hold every event exactly once."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.audit.cli import main as audit_main
from airflow_webflow_audit.exceptions import WebflowArchiveTamperedError, WebflowConfigurationError
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.landing.layout import MANIFEST_SUFFIX
from airflow_webflow_audit.landing.writer import open_part
from airflow_webflow_audit.operators.reconcile import WebflowAuditLogsReconcileOperator
from tests.conftest import DAY0
from tests.landing_helpers import (
    batch_of,
    by_time,
    make_operator,
    read_events,
    read_window,
    run_window,
    snapshot,
)
from tests.storage_servers import AWS_CONN_ID, gcs_retention_proxy, s3_client

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORKSPACE = "hitchhikers-workspace"
WINDOW = (DAY0, DAY0 + timedelta(days=1))
KEY = f"workspace={WORKSPACE}/dt=2026-10-01/audit_logs_20261001T000000Z_20261002T000000Z.jsonl.gz"
LOCK = {"object_lock_mode": "GOVERNANCE", "object_lock_days": 2}


@pytest.fixture(params=["local", "s3-object-lock", "gcs-retention-policy"])
def store(request, tmp_path) -> dict:
    if request.param == "local":
        return {"name": "local", "destination": f"file://{tmp_path}/landing", "lock": {}}
    if request.param == "s3-object-lock":
        bucket = request.getfixturevalue("locked_s3_bucket")
        return {"name": "s3", "bucket": bucket, "destination": f"s3://{AWS_CONN_ID}@{bucket}/audit", "lock": LOCK}
    bucket = request.getfixturevalue("locked_gcs_bucket")
    return {"name": "gcs", "bucket": bucket, "destination": f"gs://{bucket}/audit", "lock": {}}


def reconcile(clock, destination: str, **kwargs) -> dict:
    operator = WebflowAuditLogsReconcileOperator(
        task_id="reconcile",
        workspace=WORKSPACE,
        destination=destination,
        start=WINDOW[0].isoformat(),
        end=WINDOW[1].isoformat(),
        **kwargs,
    )
    operator.hook = WebflowHook(operator.webflow_conn_id, clock=clock)
    return operator.execute({})


def test_land_rerun_and_reconcile_never_replace_or_delete(store, simulator, clock, moto_endpoint, capsys):
    sim = simulator()
    destination = store["destination"]
    first, _ = run_window(make_operator(clock, destination=destination, **store["lock"]), *WINDOW)
    assert (first["part"], first["new_records"]) == (1, len(sim.events(*WINDOW)))
    landed = snapshot(ObjectStoragePath(destination))
    assert sorted(landed) == [KEY, KEY + MANIFEST_SUFFIX]  # no probe, no temporary key

    # The same events again: nothing written, and the log says so.
    again, _ = run_window(make_operator(clock, destination=destination, **store["lock"]), *WINDOW)
    assert (again["new_records"], again["part"], again["records"]) == (0, 1, first["records"])
    assert "already hold every one of the" in capsys.readouterr().out
    assert snapshot(ObjectStoragePath(destination)) == landed

    # A late event: reconcile lands it alone, as part 2, beside an untouched part 1.
    late = dict(sim.events(*WINDOW)[0], timestamp="2026-10-01T09:30:00.125Z")
    sim.insert_event(late)
    result = reconcile(clock, destination, **store["lock"])
    assert [(r["key"], r["part"]) for r in result["relanded"]] == [(KEY, 2)]
    after = snapshot(ObjectStoragePath(destination))
    second = KEY.replace(".jsonl.gz", ".part-0002.jsonl.gz")
    assert sorted(after) == sorted([KEY, KEY + MANIFEST_SUFFIX, second, second + MANIFEST_SUFFIX])
    assert {key: after[key] for key in landed} == landed
    assert read_events(f"{destination}/{second}") == [late]
    assert by_time(read_window(f"{destination}/{KEY}")) == by_time(sim.events(*WINDOW))

    # And once more: nothing new.
    assert reconcile(clock, destination, **store["lock"])["relanded"] == []
    assert snapshot(ObjectStoragePath(destination)) == after
    args = [destination, "--workspace", WORKSPACE, "--start", WINDOW[0].isoformat(), "--end", WINDOW[1].isoformat()]
    assert audit_main([*args, "--recount"]) == 0

    if store["name"] == "s3":
        _assert_every_object_is_one_locked_version(moto_endpoint, store["bucket"], after)
    if store["name"] == "gcs":
        assert [r for r in gcs_retention_proxy().refused if store["bucket"] in r[1]] == []


def _assert_every_object_is_one_locked_version(endpoint: str, bucket: str, landed: dict) -> None:
    client = s3_client(endpoint)
    versions = client.list_object_versions(Bucket=bucket)
    assert versions.get("DeleteMarkers", []) == []
    keys = [version["Key"].removeprefix("audit/") for version in versions["Versions"]]
    assert sorted(keys) == sorted(landed)  # one version each: nothing was overwritten
    now = datetime.now(timezone.utc)
    for key in keys:
        head = client.head_object(Bucket=bucket, Key=f"audit/{key}")
        assert head["ObjectLockMode"] == "GOVERNANCE"
        assert now + timedelta(days=1) < head["ObjectLockRetainUntilDate"] <= now + timedelta(days=2)


def test_the_retention_proxy_refuses_what_gcs_refuses(locked_gcs_bucket):
    """The GCS stand-in must be able to fail the test above: it refuses deletes and replacements."""
    path = ObjectStoragePath(f"gs://{locked_gcs_bucket}/probe.txt")
    path.write_bytes(b"first")
    with pytest.raises(Exception, match=r"retention|Forbidden|403"):
        path.unlink()
    with pytest.raises(Exception, match=r"retention|Forbidden|403"):
        path.write_bytes(b"second")
    (path.parent / "copy.txt").write_bytes(b"x")
    with pytest.raises(Exception, match=r"retention|Forbidden|403"):
        path.fs.copy((path.parent / "copy.txt").path, path.path)
    assert path.read_bytes() == b"first"


def test_object_lock_on_a_bucket_without_it_fails_before_any_request_naming_the_fix(simulator, clock, s3_bucket):
    sim = simulator()
    operator = make_operator(clock, destination=f"s3://{AWS_CONN_ID}@{s3_bucket}/audit", **LOCK)
    with pytest.raises(WebflowConfigurationError, match=r"has no S3 Object Lock.*object-lock-enabled-for-bucket"):
        run_window(operator, *WINDOW)
    assert sim.request_count == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"object_lock_mode": "FOREVER", "object_lock_days": 1}, "object_lock_mode must be one of"),
        ({"object_lock_mode": "COMPLIANCE"}, "object_lock_days is needed"),
        ({"object_lock_mode": "COMPLIANCE", "object_lock_days": 0}, "object_lock_days must be a whole number"),
        ({"object_lock_mode": "GOVERNANCE", "object_lock_days": 1, "destination": "gs://b/p"}, "s3:// destinations"),
    ],
)
def test_bad_object_lock_settings_break_the_dag_at_parse_time(kwargs, message):
    kwargs = {"destination": "s3://aws_default@bucket/prefix", **kwargs}
    with pytest.raises(WebflowConfigurationError, match=message):
        make_operator(**kwargs)
    with pytest.raises(WebflowConfigurationError, match=message):
        WebflowAuditLogsReconcileOperator(task_id="r", workspace=WORKSPACE, **kwargs)


def _orphan_part(destination: str, events: list[dict]) -> ObjectStoragePath:
    """Part 2's data object as a landing that stopped before its manifest leaves it."""
    path = ObjectStoragePath(f"{destination}/{KEY.replace('.jsonl.gz', '.part-0002.jsonl.gz')}")
    with open_part(path, "jsonl.gz") as out:
        out.write(batch_of(events))
        out.finish()  # the object is created; no commit, so no manifest
    return path


def test_a_part_whose_landing_stopped_before_its_manifest_is_adopted(simulator, clock, tmp_path, capsys):
    sim = simulator()
    destination = f"file://{tmp_path}/landing"
    run_window(make_operator(clock, destination=destination), *WINDOW)
    late = dict(sim.events(*WINDOW)[0], timestamp="2026-10-01T09:30:00.125Z")
    sim.insert_event(late)
    orphan = _orphan_part(destination, [late])
    xcom, _ = run_window(make_operator(clock, destination=destination), *WINDOW)
    assert (xcom["part"], xcom["new_records"]) == (2, 0)  # its events were the orphan's: nothing else to add
    manifest = json.loads(ObjectStoragePath(str(orphan) + MANIFEST_SUFFIX).read_bytes())
    assert manifest["part"]["adopted"] is True
    assert manifest["records"] == 1
    assert "its manifest is written now (part 2, adopted)" in capsys.readouterr().out
    args = [destination, "--workspace", WORKSPACE, "--start", WINDOW[0].isoformat(), "--end", WINDOW[1].isoformat()]
    assert audit_main([*args, "--recount"]) == 0


def test_an_object_nobody_landed_is_never_adopted(simulator, clock, tmp_path):
    sim = simulator()
    destination = f"file://{tmp_path}/landing"
    run_window(make_operator(clock, destination=destination), *WINDOW)
    planted = dict(sim.events(*WINDOW)[0], timestamp="2026-10-01T09:30:00.125Z", actor={"id": "x", "type": "person"})
    _orphan_part(destination, [planted])  # an event the API does not serve
    before = snapshot(ObjectStoragePath(destination))
    with pytest.raises(WebflowArchiveTamperedError, match="no landing of this provider wrote it"):
        run_window(make_operator(clock, destination=destination), *WINDOW)
    assert snapshot(ObjectStoragePath(destination)) == before

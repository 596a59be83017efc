"""The provider on each Airflow 3 minor it declares: a fresh virtualenv per version, resolved as of that
Airflow's release, running the matrix DAG through ``airflow dags test`` (see ``tests/version_matrix.py``).

The newest Airflow is the main virtualenv's: the rest of the suite.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.compat import (
    EVENT_TRIGGER_MIN_AIRFLOW,
    PARTITIONS_MIN_AIRFLOW,
    has_partitions,
    has_trigger_state_store,
)
from airflow_webflow_audit.landing.layout import MANIFEST_SUFFIX, window_object_path
from tests.conftest import DAY0, TOKEN
from tests.e2e.conftest import DAGS_FOLDER
from tests.e2e.version_matrix.webflow_version_matrix import SETTLE_SECONDS
from tests.storage_servers import s3_client
from tests.version_matrix import MATRIX, Matrix, VersionRun, run_record

# Waits for the background runs (they run last, see tests/version_matrix.py): past the suite's 300 s.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1500)]

WINDOW = (DAY0, DAY0 + timedelta(days=1))
KEY = "workspace=hitchhikers-workspace/dt=2026-10-01/audit_logs_20261001T000000Z_20261002T000000Z"
MATRIX_TASKS = {
    "land_local",
    "land_s3",
    "land_gcs",
    "land_parquet",
    "land_windows",
    "window_just_ended",
    "land_settle_deferred",
    "sense_deferrable",
    "sense_poke",
    "reconcile",
    "findings",
}


def lines_of(blob: bytes) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(blob).splitlines()]


def without_airflows_own_mask_debug_lines(output: str) -> str:
    """The output without Airflow 3.0's debug lines about its own secret masking.

    On 3.0, ``dags test`` logs at debug level each ``MaskSecret`` request the task SDK sends when a
    task reads a connection, password included (3.1 omits the body). That is Airflow's line, for
    every connection of every provider, and deployments log tasks at INFO; everything else is checked.
    """
    return "\n".join(line for line in output.splitlines() if "msg=MaskSecret(value=" not in line)


def gcs_object(matrix: Matrix, key: str) -> bytes:
    import httpx

    response = httpx.get(
        f"{matrix.gcs_endpoint}/storage/v1/b/{matrix.gcs_bucket}/o/{key.replace('/', '%2F')}", params={"alt": "media"}
    )
    response.raise_for_status()
    return response.content


def finished(matrix: Matrix, label: str) -> VersionRun:
    run = matrix.wait(label)
    record = run_record(run)
    print(f"Airflow {label}: {json.dumps(record['versions'])}")
    print(f"  seconds per step: {record['seconds']}; done {matrix.finished_after[label]:.0f} s after collection")
    failed = run.failed
    if failed is not None:
        pytest.fail(
            f"Airflow {label}: step {failed.name!r} exited {failed.returncode}:\n"
            f"{failed.stdout[-6000:]}\n{failed.stderr[-6000:]}"
        )
    return run


@pytest.mark.parametrize("target", MATRIX, ids=[target.label for target in MATRIX])
def test_every_task_of_the_matrix_dag_succeeds_and_lands_the_simulators_window(version_matrix, target):
    run = finished(version_matrix, target.label)
    versions = run.versions()
    assert versions["apache-airflow"] == target.airflow
    if target.lowest_direct:
        # Every direct requirement at the floor pyproject.toml declares.
        assert (versions["httpx"], versions["orjson"], versions["pendulum"]) == ("0.27.0", "3.10.0", "3.0.0")
        assert versions["apache-airflow-providers-standard"] == "1.0.0"

    assert run.task_states() == dict.fromkeys(MATRIX_TASKS, "success")

    truth = version_matrix.simulator.events(*WINDOW)
    assert len(truth) > 1000
    local = run.workdir / "landing" / f"{KEY}.jsonl.gz"
    assert lines_of(local.read_bytes()) == truth
    manifest = json.loads((run.workdir / "landing" / f"{KEY}.jsonl.gz{MANIFEST_SUFFIX}").read_text())
    assert manifest["records"] == len(truth)
    assert manifest["airflow"]["dag_id"] == "webflow_version_matrix"

    s3 = s3_client(version_matrix.moto_endpoint)
    s3_key = f"{target.label}/{KEY}.jsonl.gz"
    assert lines_of(s3.get_object(Bucket=version_matrix.s3_bucket, Key=s3_key)["Body"].read()) == truth
    assert lines_of(gcs_object(version_matrix, f"{target.label}/{KEY}.jsonl.gz")) == truth

    import pyarrow.parquet as pq

    parquet = run.workdir / "landing-parquet" / f"{KEY}.parquet"
    assert pq.ParquetFile(parquet).metadata.num_rows == len(truth)

    # The window that had just ended was landed after its settle wait in the triggerer.
    settled = list((run.workdir / "landing-settle").rglob(f"*.jsonl.gz{MANIFEST_SUFFIX}"))
    assert len(settled) == 1
    settled_manifest = json.loads(settled[0].read_text())
    end = datetime.fromisoformat(settled_manifest["window"]["end"])
    assert datetime.fromisoformat(settled_manifest["pulled_at"]) >= end + timedelta(seconds=SETTLE_SECONDS)
    assert "s in the triggerer, until" in run.steps["dags test"].stdout + run.steps["dags test"].stderr

    # The deferrable sensor found nothing on its own look, and its trigger found the event added then.
    sensed = run.xcom("sense_deferrable")
    assert sensed["count"] == 1
    assert sensed["by_event_sub_type"] == {"custom_role": {"role_updated": 1}}
    assert "matching events found after" in run.steps["dags test"].stdout + run.steps["dags test"].stderr

    # The findings baseline beside the landing, and nothing of the token anywhere.
    assert (run.workdir / "landing" / "workspace=hitchhikers-workspace" / "_monitoring" / "baseline.json").exists()
    assert TOKEN not in without_airflows_own_mask_debug_lines(run.output())
    assert all(TOKEN.encode() not in path.read_bytes() for path in run.workdir.rglob("landing*/**/*") if path.is_file())


@pytest.mark.parametrize("target", MATRIX, ids=[target.label for target in MATRIX])
def test_the_audit_cli_proves_the_landed_window_complete(version_matrix, target):
    run = finished(version_matrix, target.label)
    report = json.loads(run.steps["audit"].stdout)
    assert report["verdict"] == "complete"
    assert report["recount_requests"] >= 1
    assert [w["records"] for w in report["windows"]] == [len(version_matrix.simulator.events(*WINDOW))]


@pytest.mark.parametrize("target", MATRIX, ids=[target.label for target in MATRIX])
def test_openlineage_names_the_endpoint_and_the_landed_object(version_matrix, target):
    run = finished(version_matrix, target.label)
    events = [json.loads(line) for line in run.lineage_file.read_text().splitlines() if line.strip()]
    complete = [e for e in events if e.get("eventType") == "COMPLETE" and e["job"]["name"].endswith(".land_local")]
    assert len(complete) == 1, [e["job"]["name"] for e in events]
    (output,) = complete[0]["outputs"]
    assert output["namespace"] == "file"
    assert output["name"] == f"{run.workdir}/landing/{KEY}.jsonl.gz"
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == len(version_matrix.simulator.events(*WINDOW))
    (source,) = complete[0]["inputs"]
    assert source["name"] == "/v2/workspaces/hitchhikers-workspace/audit_logs"


@pytest.mark.parametrize("target", MATRIX, ids=[target.label for target in MATRIX])
def test_window_size_lands_each_window_with_its_own_asset_event(version_matrix, target):
    import sqlite3

    run = finished(version_matrix, target.label)
    windows = [(DAY0 + timedelta(hours=h), DAY0 + timedelta(hours=h + 6)) for h in range(0, 24, 6)]
    for start, end in windows:
        path = window_object_path(
            ObjectStoragePath(f"file://{run.workdir}/landing-windows"),
            workspace="hitchhikers-workspace",
            start=start,
            end=end,
            file_format="jsonl.gz",
        )
        assert lines_of(path.read_bytes()) == version_matrix.simulator.events(start, end)
    with sqlite3.connect(run.home / "airflow.db") as db:
        rows = db.execute(
            "select e.extra from asset_event e where e.source_task_id = 'land_windows' order by e.id"
        ).fetchall()
    assert [json.loads(extra)["start"] for (extra,) in rows] == [start.isoformat() for start, _ in windows]


@pytest.mark.parametrize("target", MATRIX, ids=[target.label for target in MATRIX])
def test_every_example_dag_imports_and_the_event_trigger_refuses_old_airflow_by_name(version_matrix, target):
    run = finished(version_matrix, target.label)
    errors = json.loads(run.steps["examples"].stdout.strip().splitlines()[-1])
    assert sorted(errors) == sorted(path.name for path in DAGS_FOLDER.glob("*.py"))
    alerts = errors.pop("example_webflow_audit_alerts.py")
    partitioned = errors.pop("example_webflow_audit_partitioned.py")
    assert errors == dict.fromkeys(errors)  # every other example imports
    if has_partitions(target.airflow):
        assert partitioned is None
    else:
        assert partitioned is not None
        assert f"need Airflow {PARTITIONS_MIN_AIRFLOW} or later (this is Airflow {target.airflow})" in partitioned
    if has_trigger_state_store(target.airflow):
        assert alerts is None
    else:
        assert alerts is not None
        assert f"needs Airflow {EVENT_TRIGGER_MIN_AIRFLOW} or later" in alerts
        assert f"this is Airflow {target.airflow}" in alerts


def test_the_matrix_covers_each_minor_below_the_main_virtualenvs_airflow():
    from airflow import __version__

    minors = {tuple(int(part) for part in target.airflow.split(".")[:2]) for target in MATRIX}
    newest = tuple(int(part) for part in __version__.split(".")[:2])
    assert minors | {newest} == {(3, minor) for minor in range(newest[1] + 1)}
    assert any(target.lowest_direct for target in MATRIX)


def test_window_object_path_is_the_key_the_matrix_checks(tmp_path):
    from airflow.sdk import ObjectStoragePath

    path = window_object_path(
        ObjectStoragePath(f"file://{tmp_path}"),
        workspace="hitchhikers-workspace",
        start=WINDOW[0],
        end=WINDOW[1].astimezone(timezone.utc),
        file_format="jsonl.gz",
    )
    assert str(path).endswith(f"{KEY}.jsonl.gz")

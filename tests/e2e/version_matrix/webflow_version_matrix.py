"""Everything a user runs, in one DAG, for ``airflow dags test`` on each supported Airflow version.

Used by ``tests/e2e/test_airflow_versions.py`` (through ``tests/version_matrix.py``) in a fresh
virtualenv per Airflow version; not an example DAG. The run's window is one simulated day; every
landing task writes it to its own destination, the sensors count it, reconcile and findings read the
local landing back, ``land_settle_deferred`` waits in the triggerer (DateTimeTrigger) for a
window that has just ended, and ``sense_deferrable`` waits there (its own trigger) for an event the
simulator adds to a quiet day once the sensor has looked once.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pendulum
from airflow.sdk import DAG, task

from airflow_webflow_audit.compat import CronDataIntervalTimetable
from airflow_webflow_audit.operators.audit_logs import WebflowAuditLogsOperator
from airflow_webflow_audit.operators.findings import WebflowAuditFindingsOperator
from airflow_webflow_audit.operators.reconcile import WebflowAuditLogsReconcileOperator
from airflow_webflow_audit.sensors.audit_logs import WebflowAuditLogsSensor

WORKSPACE = "hitchhikers-workspace"
LOCAL = os.environ.get("WEBFLOW_MATRIX_LOCAL", "file:///tmp/webflow-matrix/local")
S3 = os.environ.get("WEBFLOW_MATRIX_S3", "s3://aws_moto@webflow-matrix/landing")
GCS = os.environ.get("WEBFLOW_MATRIX_GCS", "gs://webflow-matrix/landing")
#: A day with no events until the simulator adds one while the deferrable sensor waits in the triggerer.
QUIET_DAY = os.environ.get("WEBFLOW_MATRIX_QUIET_DAY", "2026-10-05")
#: Long enough that the settle wait goes to the triggerer (waits under 5 s are slept in place), even on a
#: machine busy enough that the landing starts 10 s or more after the window ended.
SETTLE_SECONDS = 30


with DAG(
    dag_id="webflow_version_matrix",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
):
    land_local = WebflowAuditLogsOperator(task_id="land_local", workspace=WORKSPACE, destination=LOCAL)
    everything_else = [
        land_local,
        WebflowAuditLogsOperator(task_id="land_s3", workspace=WORKSPACE, destination=S3),
        WebflowAuditLogsOperator(task_id="land_gcs", workspace=WORKSPACE, destination=GCS),
        WebflowAuditLogsOperator(
            task_id="land_parquet", workspace=WORKSPACE, destination=f"{LOCAL}-parquet", file_format="parquet"
        ),
        # The day as four 6-hour windows, one asset event each through the operator's alias.
        WebflowAuditLogsOperator(
            task_id="land_windows", workspace=WORKSPACE, destination=f"{LOCAL}-windows", window_size=timedelta(hours=6)
        ),
        WebflowAuditLogsSensor(
            task_id="sense_deferrable",
            workspace=WORKSPACE,
            event_types=["custom_role"],
            start=f"{QUIET_DAY}T00:00:00+00:00",
            end=f"{QUIET_DAY}T23:59:59+00:00",
            deferrable=True,
            poke_interval=1,
            timeout=120,
        ),
        WebflowAuditLogsSensor(
            task_id="sense_poke", workspace=WORKSPACE, event_types=["custom_role"], poke_interval=1, timeout=120
        ),
        land_local
        >> WebflowAuditLogsReconcileOperator(
            task_id="reconcile",
            workspace=WORKSPACE,
            destination=LOCAL,
            start="{{ data_interval_start }}",
            end="{{ data_interval_end }}",
        ),
        land_local
        >> WebflowAuditFindingsOperator(
            task_id="findings", workspace=WORKSPACE, destination=LOCAL, baseline_start="{{ data_interval_start }}"
        ),
    ]

    @task
    def window_just_ended() -> dict[str, str]:
        end = datetime.now(timezone.utc).replace(microsecond=0)
        return {"start": (end - timedelta(minutes=1)).isoformat(), "end": end.isoformat()}

    # Last but one, so the landing right after it starts well within `settle`. An XCom, not a template
    # on the time: a task resumed after deferring renders its templates again.
    just_ended = window_just_ended()
    everything_else >> just_ended
    WebflowAuditLogsOperator(
        task_id="land_settle_deferred",
        workspace=WORKSPACE,
        destination=f"{LOCAL}-settle",
        start=just_ended["start"],
        end=just_ended["end"],
        settle=SETTLE_SECONDS,
        deferrable=True,
    )

"""The DAGs of the production-shaped deployment (``tests/e2e/test_production.py``); not example DAGs.

Every landing goes to the moto S3 bucket the environment names, signed with the KMS key of the
``webflow_audit_signing`` connection, through the ``webflow_api`` pool: the shape a platform team runs.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_webflow_audit.compat import CronDataIntervalTimetable
from airflow_webflow_audit.operators.audit_logs import WebflowAuditLogsOperator
from airflow_webflow_audit.operators.findings import WebflowAuditFindingsOperator
from airflow_webflow_audit.operators.ocsf import WebflowAuditOCSFOperator
from airflow_webflow_audit.sensors.audit_logs import WebflowAuditLogsSensor

WORKSPACE = "hitchhikers-workspace"
BUCKET = os.environ.get("WEBFLOW_PROD_BUCKET", "s3://aws_default@webflow-production")
DAY0 = pendulum.datetime(2026, 10, 1, tz="UTC")
RETRY_DELAY = timedelta(seconds=float(os.environ.get("WEBFLOW_PROD_RETRY_DELAY_SECONDS", "3")))
#: The simulator's recent events, which the sensor waits for (set by the test when it starts the deployment).
SENSOR_START = os.environ.get("WEBFLOW_PROD_SENSOR_START", "2026-12-01T00:00:00+00:00")


def landing_dag(dag_id: str, folder: str, **hook_params: int) -> None:
    """A daily DAG landing each day as 24 hourly windows, as a month's backfill would be run."""
    with DAG(
        dag_id=dag_id,
        schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
        start_date=DAY0,
        catchup=False,
        max_active_runs=4,
        default_args={"retries": 2, "retry_delay": RETRY_DELAY, "pool": "webflow_api"},
    ):
        WebflowAuditLogsOperator(
            task_id="land",
            workspace=WORKSPACE,
            destination=f"{BUCKET}/{folder}",
            window_size=timedelta(hours=1),
            settle=0,
            hook_params=hook_params or None,
        )


landing_dag("webflow_prod_month", "landing")
# One window at a time against slow answers: a task is still landing when its worker is killed.
landing_dag("webflow_prod_lost_worker", "lost-worker", max_concurrency=1)

with DAG(dag_id="webflow_prod_readers", schedule=None, start_date=DAY0, catchup=False):
    # What the workers landed, read back on the workers: findings and OCSF over the run's conf range.
    WebflowAuditFindingsOperator(
        task_id="findings",
        workspace=WORKSPACE,
        destination=f"{BUCKET}/landing",
        notifiers=[],
        baseline_start="{{ dag_run.conf['start'] }}",
        through="{{ dag_run.conf['end'] }}",
    )
    WebflowAuditOCSFOperator(
        task_id="ocsf",
        workspace=WORKSPACE,
        source=f"{BUCKET}/landing",
        destination=f"{BUCKET}/lake",
        region="us-east-1",
        account_id="123456789012",
        start="{{ dag_run.conf['start'] }}",
        end="{{ dag_run.conf['end'] }}",
    )

with DAG(dag_id="webflow_prod_sensor", schedule=None, start_date=DAY0, catchup=False):
    # Deferred on the triggerer until a role change reaches the log, then done on a worker.
    WebflowAuditLogsSensor(
        task_id="wait_for_role_change",
        workspace=WORKSPACE,
        event_types=["custom_role"],
        start=SENSOR_START,
        end="{{ dag_run.conf['end'] }}",
        deferrable=True,
        poke_interval=2,
        timeout=300,
    )

"""Land Webflow audit logs by daily partition, each day as 24 hourly windows (Airflow 3.2+).

What it needs: the same as ``example_webflow_audit_logs_to_local`` (a ``webflow_default``
connection, ``WEBFLOW_WORKSPACE``, the ``webflow_api`` pool), and
``WEBFLOW_AUDIT_PARTITIONED_DESTINATION``: a ``file:///absolute/path`` (default
``file:///tmp/webflow-audit-logs-hourly``). Hourly windows go to their own destination: a folder
holds one window size, or the audit reports the overlap.

Each run is a partition: its key (``2026-10-01``) names the day, and the task lands the day as 24
hourly windows, at the keys an hourly DAG would land them, several at once on the token's budget
and with one look at the retention horizon. The landing asset gets one event per window, each
carrying the run's partition key, so a partitioned downstream DAG runs per day.

On Airflow 3.3, backfill by partition date (both ends included):

    airflow backfill create --dag-id example_webflow_audit_partitioned \\
        --from-date 2026-10-01 --to-date 2026-10-03

and clear a partition to land it again (a rerun writes only events its windows lack):

    airflow dags clear example_webflow_audit_partitioned \\
        --partition-date-start 2026-10-02 --partition-date-end 2026-10-02 --yes
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_webflow_audit.compat import cron_partition_timetable
from airflow_webflow_audit.operators.audit_logs import WebflowAuditLogsOperator

WORKSPACE = os.environ.get("WEBFLOW_WORKSPACE", "hitchhikers-workspace")
DESTINATION = os.environ.get("WEBFLOW_AUDIT_PARTITIONED_DESTINATION", "file:///tmp/webflow-audit-logs-hourly")

with DAG(
    dag_id="example_webflow_audit_partitioned",
    description="Webflow audit logs -> local folder, a daily partition as 24 hourly windows",
    # Refuses by name on Airflow 3.0 and 3.1, which have no partitions. run_offset=-1: the run at
    # midnight lands the day that just ended (with 0, it would wait a day for its own to end).
    schedule=cron_partition_timetable("0 0 * * *", timezone="UTC", key_format="%Y-%m-%d", run_offset=-1),
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "pool": "webflow_api",
    },
    tags=["webflow", "audit", "example"],
) as dag:
    WebflowAuditLogsOperator(
        task_id="land_audit_logs",
        workspace=WORKSPACE,
        destination=DESTINATION,
        window_size=timedelta(hours=1),
    )

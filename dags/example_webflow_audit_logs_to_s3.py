"""Land Webflow workspace audit logs in S3, one hourly window per run.

What it needs:
  * a Webflow connection ``webflow_default``: the workspace API token (scope
    ``workspace_activity:read``) as its password, e.g.
    ``AIRFLOW_CONN_WEBFLOW_DEFAULT='{"conn_type": "webflow", "password": "<token>"}'``
    (``make demo`` starts the bundled simulator and sets this for you);
  * ``WEBFLOW_WORKSPACE``: the workspace id or slug (read when the DAG is parsed);
  * ``WEBFLOW_AUDIT_S3_DESTINATION``: ``s3://<aws_conn_id>@<bucket>/<prefix>`` (default
    ``s3://aws_default@webflow-audit-logs/webflow``), and that aws
    connection (``aws_default``: keys, a role, or the instance profile) with s3:PutObject,
    s3:GetObject and s3:ListBucket on the prefix (never a delete: landed objects are created once);
  * a pool that caps concurrent calls on the token: ``airflow pools set webflow_api 2 "Webflow API"``.

Each run lands ``[data_interval_start, data_interval_end)`` (a UTC hour) at
``<destination>/workspace=<ws>/dt=<day>/audit_logs_<start>_<end>.jsonl.gz`` with a manifest.
A rerun writes nothing new unless the API has events the window's parts lack (then only those,
as the next part), so backfills are safe to repeat:

    airflow backfill create --dag-id example_webflow_audit_logs_to_s3 \\
        --from-date 2026-10-01T00:00:00+00:00 --to-date 2026-10-02T00:00:00+00:00
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG

# airflow.sdk has it from Airflow 3.2; the compat module gives the right one on 3.0 and 3.1 too.
from airflow_webflow_audit.compat import CronDataIntervalTimetable
from airflow_webflow_audit.operators.audit_logs import WebflowAuditLogsOperator

WORKSPACE = os.environ.get("WEBFLOW_WORKSPACE", "hitchhikers-workspace")
DESTINATION = os.environ.get("WEBFLOW_AUDIT_S3_DESTINATION", "s3://aws_default@webflow-audit-logs/webflow")

with DAG(
    dag_id="example_webflow_audit_logs_to_s3",
    description="Webflow audit logs -> S3, one object per UTC hour",
    # A data-interval timetable: "@daily" would give zero-width windows in Airflow 3.
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,  # history is loaded with `airflow backfill create`, at a pace the pool sets
    max_active_runs=4,
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
    )

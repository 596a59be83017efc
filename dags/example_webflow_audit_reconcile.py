"""Once a day, re-land the local example's windows of the last 7 days that gained events after landing.

An event that reaches Webflow's log after its window was landed (even past the landing operator's
``settle``) is picked up here: the task recounts every landed window of
``[data_interval_start - 7 days, data_interval_start)`` (never before the landing DAG's first
window, ``WEBFLOW_AUDIT_BASELINE_START``) against the API (one request per window when
nothing changed), re-lands the windows that changed, and fails if any window of the range is missing
or corrupt, so a gap is never green. Its XCom lists what it re-landed.

What it needs: the same ``WEBFLOW_WORKSPACE`` and ``WEBFLOW_AUDIT_LOCAL_DESTINATION`` as
``example_webflow_audit_logs_to_local``, the ``webflow_default`` connection, and the ``webflow_api``
pool shared with the landing DAG (the recount spends the same token's budget).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG

# airflow.sdk has it from Airflow 3.2; the compat module gives the right one on 3.0 and 3.1 too.
from airflow_webflow_audit.compat import CronDataIntervalTimetable
from airflow_webflow_audit.operators.reconcile import WebflowAuditLogsReconcileOperator

WORKSPACE = os.environ.get("WEBFLOW_WORKSPACE", "hitchhikers-workspace")
DESTINATION = os.environ.get("WEBFLOW_AUDIT_LOCAL_DESTINATION", "file:///tmp/webflow-audit-logs")
LANDING_START = os.environ.get("WEBFLOW_AUDIT_BASELINE_START", "2026-10-01T00:00:00Z")

with DAG(
    dag_id="example_webflow_audit_reconcile",
    description="Re-land Webflow audit-log windows of the last 7 days that gained late events",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10), "pool": "webflow_api"},
    tags=["webflow", "audit", "example"],
) as dag:
    WebflowAuditLogsReconcileOperator(
        task_id="reconcile",
        workspace=WORKSPACE,
        destination=DESTINATION,
        lookback=timedelta(days=7),
        landing_start=LANDING_START,  # no gaps reported before the landing DAG's first window
    )

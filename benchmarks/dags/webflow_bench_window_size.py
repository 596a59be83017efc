"""The window-size benchmark's two DAGs (``make bench`` starts them; not example DAGs).

Both land the same hourly windows into ``WEBFLOW_BENCH_DESTINATION``: one run per window, or a daily
run with ``window_size=timedelta(hours=1)``. The shape of the example DAGs: a 2-slot pool, at most
4 active runs, retries on.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_webflow_audit.compat import CronDataIntervalTimetable
from airflow_webflow_audit.operators.audit_logs import WebflowAuditLogsOperator

DESTINATION = os.environ.get("WEBFLOW_BENCH_DESTINATION", "file:///tmp/webflow-bench")
DEFAULTS = {"retries": 3, "retry_delay": timedelta(seconds=10), "pool": "webflow_api"}

for dag_id, cron, window_size in (
    ("webflow_bench_hourly", "0 * * * *", None),
    ("webflow_bench_daily_hourly_windows", "0 0 * * *", timedelta(hours=1)),
):
    with DAG(
        dag_id=dag_id,
        schedule=CronDataIntervalTimetable(cron, timezone="UTC"),
        start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
        # Ended: unpausing starts no scheduled run beside the backfill (its requests would count).
        end_date=pendulum.datetime(2026, 10, 31, tz="UTC"),
        catchup=False,
        max_active_runs=4,
        default_args=DEFAULTS,
    ) as dag:
        WebflowAuditLogsOperator(
            task_id="land_audit_logs",
            workspace="hitchhikers-workspace",
            destination=DESTINATION,
            window_size=window_size,
        )
    globals()[dag_id] = dag

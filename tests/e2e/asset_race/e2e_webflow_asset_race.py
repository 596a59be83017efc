"""Tasks of one DAG landing through the window alias into a destination nothing has landed in yet, all
finishing at the same moment: the first asset events of a brand-new landing asset arrive at once.

Used by ``tests/e2e/test_asset_race.py``; not an example DAG. Each round is its own DAG with its own
destination, so each round's landing asset is new to the metadata database.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG

from airflow_webflow_audit.operators.audit_logs import WebflowAuditLogsOperator

DESTINATION = os.environ.get("WEBFLOW_E2E_RACE_DESTINATION", "file:///tmp/webflow-e2e-race")
BARRIER = Path(os.environ.get("WEBFLOW_E2E_RACE_BARRIER", "/tmp/webflow-e2e-race-barrier"))
ROUNDS = int(os.environ.get("WEBFLOW_E2E_RACE_ROUNDS", "3"))
TASKS = int(os.environ.get("WEBFLOW_E2E_RACE_TASKS", "4"))
DAY0 = pendulum.datetime(2026, 10, 1, tz="UTC")
BARRIER_TIMEOUT = 120.0


def finish_together(context: Any, result: Any) -> None:
    """Wait (after the windows landed, before the task reports success) until every task of the run is
    here too, so their success reports, which carry the asset events, reach Airflow at once."""
    folder = BARRIER / context["run_id"].replace(":", "_").replace("+", "_")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / context["ti"].task_id).touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT
    while sum(1 for _ in folder.iterdir()) < TASKS and time.monotonic() < deadline:
        time.sleep(0.005)


for number in range(ROUNDS):
    with DAG(
        dag_id=f"e2e_webflow_asset_race_{number}",
        schedule=None,
        start_date=DAY0,
        catchup=False,
        max_active_tasks=TASKS,
    ):
        for task in range(TASKS):
            WebflowAuditLogsOperator(
                task_id=f"land_{task}",
                workspace="hitchhikers-workspace",
                destination=f"{DESTINATION}/round-{number}",
                start=DAY0 + timedelta(hours=2 * task),
                end=DAY0 + timedelta(hours=2 * task + 2),
                window_size=timedelta(hours=1),
                settle=0,
                post_execute=finish_together,
            )

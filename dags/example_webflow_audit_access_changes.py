"""React to access changes in a Webflow workspace: wait for them, land them, say who changed what.

Every hour, a deferrable ``WebflowAuditLogsSensor`` waits (in the triggerer, holding no worker slot)
for ``custom_role``, ``workspace_membership`` or ``site_membership`` events in the hour's window.
When there are some, ``WebflowAuditLogsOperator`` lands exactly those event types for the window,
and a last task logs one line per change. An hour without access changes ends as *skipped* after
the sensor's timeout (``skip_on_timeout``), while a refused token or a missing workspace still fails
the run (``soft_fail`` would skip those too, and hide a broken monitor).

What it needs:
  * a Webflow connection ``webflow_default`` (token with ``workspace_activity:read``);
  * a triggerer running (``airflow triggerer``), since the sensor defers;
  * ``WEBFLOW_WORKSPACE`` and ``WEBFLOW_AUDIT_ACCESS_DESTINATION`` (default
    ``file:///tmp/webflow-access-changes``; any destination the operator takes);
  * optionally ``WEBFLOW_ACCESS_POLL_SECONDS`` (default 300): how often the trigger asks again;
  * the pool ``webflow_api`` (``airflow pools set webflow_api 2 "Webflow API"``).

Backfill (each hour is checked once; quiet hours are skipped):

    airflow backfill create --dag-id example_webflow_audit_access_changes \\
        --from-date 2026-10-01T00:00:00+00:00 --to-date 2026-10-01T23:00:00+00:00
"""

from __future__ import annotations

import gzip
import json
import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, ObjectStoragePath, task

# airflow.sdk has it from Airflow 3.2; the compat module gives the right one on 3.0 and 3.1 too.
from airflow_webflow_audit.compat import CronDataIntervalTimetable
from airflow_webflow_audit.operators.audit_logs import WebflowAuditLogsOperator
from airflow_webflow_audit.sensors.audit_logs import WebflowAuditLogsSensor

WORKSPACE = os.environ.get("WEBFLOW_WORKSPACE", "hitchhikers-workspace")
DESTINATION = os.environ.get("WEBFLOW_AUDIT_ACCESS_DESTINATION", "file:///tmp/webflow-access-changes")
POLL_SECONDS = float(os.environ.get("WEBFLOW_ACCESS_POLL_SECONDS", "300"))
ACCESS_EVENT_TYPES = ["custom_role", "site_membership", "workspace_membership"]


def describe_change(event: dict[str, Any]) -> str:
    """One line: when, who, what, to whom."""
    actor = event.get("actor") or {}
    who = actor.get("email") or f"{actor.get('type', 'actor')} {actor.get('id', '?')}"
    payload = event.get("payload") or {}
    target = (payload.get("targetUser") or {}).get("email")
    site = (payload.get("site") or {}).get("slug")
    role = payload.get("roleName")
    previous = payload.get("previousRoleName")
    details = [
        f"user {target}" if target else "",
        f"on site {site}" if site else "",
        f"role {previous} -> {role}" if previous else (f"role {role}" if role else ""),
    ]
    what = f"{event.get('eventType')}/{event.get('eventSubType')}"
    return f"{event.get('timestamp')}  {who}  {what}  {' '.join(d for d in details if d)}".rstrip()


with DAG(
    dag_id="example_webflow_audit_access_changes",
    description="Wait for Webflow access changes each hour, land them, log who changed what",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
    max_active_runs=4,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2), "pool": "webflow_api"},
    tags=["webflow", "audit", "security", "example"],
) as dag:
    wait_for_access_changes = WebflowAuditLogsSensor(
        task_id="wait_for_access_changes",
        workspace=WORKSPACE,
        event_types=ACCESS_EVENT_TYPES,
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=timedelta(hours=2).total_seconds(),  # late-arriving events get two hours to show up
        skip_on_timeout=True,
    )

    land_access_changes = WebflowAuditLogsOperator(
        task_id="land_access_changes",
        workspace=WORKSPACE,
        destination=DESTINATION,
        event_types=ACCESS_EVENT_TYPES,
    )

    @task
    def report_who_changed_what(landed: dict[str, Any], found: dict[str, Any]) -> int:
        """Log one line per access change in the landed window; returns how many."""
        data = gzip.decompress(ObjectStoragePath(landed["uri"]).read_bytes())
        events = [json.loads(line) for line in data.splitlines()]
        window = f"[{landed['start']}, {landed['end']})"
        print(f"{len(events)} access changes in {window}; the sensor first saw {found['by_event_type']}:")
        for event in events:
            print("  " + describe_change(event))
        return len(events)

    report_who_changed_what(land_access_changes.output, wait_for_access_changes.output)
    wait_for_access_changes >> land_access_changes

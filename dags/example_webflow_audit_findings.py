"""Watch the landed audit logs for suspicious logins and privilege changes, after every landing.

Scheduled on the asset that ``example_webflow_audit_logs_to_local`` updates each time it lands a
window, so it runs right after each landing -- also during a backfill, whatever order the windows
land in. Each run learns every landed window after the baseline's point, in order, writes
``….findings.jsonl`` beside each window and the baseline to
``<destination>/workspace=<ws>/_monitoring/baseline.json``, and sends the findings to its notifiers.

What it needs:
  * ``WEBFLOW_WORKSPACE`` and ``WEBFLOW_AUDIT_LOCAL_DESTINATION``: the same values as the landing DAG;
  * ``WEBFLOW_AUDIT_BASELINE_START``: where the baseline starts, the landing DAG's first window
    (default ``2026-10-01T00:00:00Z``, its start_date). Without it, a backfill that happens to land a
    later window first would start the baseline there.

Notifications: the log notifier is the default; swap in any Airflow notifier, e.g. from the Slack
provider::

    SlackNotifier(slack_conn_id="slack", channel="#security",
                  text="{{ webflow_findings_summary.findings }} Webflow audit findings: "
                       "{{ webflow_findings_summary.by_rule }}")

To rebuild the baseline from scratch (after changing rule settings), delete ``_monitoring/`` and the
``*.findings.jsonl`` files, then trigger this DAG once.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG

from airflow_webflow_audit.landing.layout import landing_asset
from airflow_webflow_audit.notifications.findings import WebflowFindingsLogNotifier
from airflow_webflow_audit.operators.findings import WebflowAuditFindingsOperator

WORKSPACE = os.environ.get("WEBFLOW_WORKSPACE", "hitchhikers-workspace")
DESTINATION = os.environ.get("WEBFLOW_AUDIT_LOCAL_DESTINATION", "file:///tmp/webflow-audit-logs")
BASELINE_START = os.environ.get("WEBFLOW_AUDIT_BASELINE_START", "2026-10-01T00:00:00Z")

with DAG(
    dag_id="example_webflow_audit_findings",
    description="Suspicious logins and privilege changes in the landed Webflow audit logs",
    schedule=[landing_asset(DESTINATION, WORKSPACE)],
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one writer of the baseline at a time
    tags=["webflow", "audit", "security", "example"],
) as dag:
    WebflowAuditFindingsOperator(
        task_id="findings",
        workspace=WORKSPACE,
        destination=DESTINATION,
        baseline_start=BASELINE_START,
        rule_settings={"travel_time": 2 * 3600, "burst_logins": 20, "elevated_roles": ["Admin"]},
        notifiers=[WebflowFindingsLogNotifier(min_severity="medium")],
        retries=2,
    )

"""Alert on privilege changes within a minute: event-driven runs on new audit events (Airflow 3.3.2+).

An ``AssetWatcher`` runs ``WebflowAuditEventTrigger`` on the triggerer: every
``WEBFLOW_AUDIT_ALERTS_POLL_SECONDS`` (default 60) it asks the workspace's audit log for custom-role,
workspace-membership and site-membership events after its cursor, and turns each poll that found
some into an asset event of ``webflow_audit_privilege_changes``. Each asset event starts this DAG;
its task runs the findings DAG's monitoring rules on the delivered events and sends the findings
to the notifiers (the log notifier here; any Airflow notifier works, see
``example_webflow_audit_findings``).

What it needs:
  * a triggerer running (``airflow triggerer``), and the DAG unpaused: Airflow starts a watcher
    only for assets that an unpaused DAG is scheduled on;
  * a Webflow connection ``webflow_default`` (token with ``workspace_activity:read``);
  * ``WEBFLOW_WORKSPACE``;
  * optionally ``WEBFLOW_AUDIT_ALERTS_START_FROM`` (ISO 8601): where a first start begins watching.
    Without it, the first poll's moment: events between unpausing and that poll are not covered;
  * optionally ``WEBFLOW_AUDIT_LOCAL_DESTINATION``: where the findings DAG keeps its baseline, which
    the login rules need (read here, never written). Privilege changes need no baseline.

Delivery: each matching event once; a triggerer stopped within 10 s of an asset event may deliver
that batch again (at least once). One run can consume several asset events: the task reads all.

Cost: one request per poll (60 an hour at the default), plus a page per 100 events of any type in
the poll's 5-minute lookback, on the same token's budget as landing and backfills.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, get_current_context, task

from airflow_webflow_audit.monitoring.alerts import (
    delivered_events,
    judge_delivered,
    load_baseline_if_any,
    summarize_delivered,
)
from airflow_webflow_audit.monitoring.rules import RuleSettings
from airflow_webflow_audit.notifications.findings import WebflowFindingsLogNotifier, send_findings
from airflow_webflow_audit.triggers.audit_events import WebflowAuditEventTrigger

WORKSPACE = os.environ.get("WEBFLOW_WORKSPACE", "hitchhikers-workspace")
POLL_SECONDS = float(os.environ.get("WEBFLOW_AUDIT_ALERTS_POLL_SECONDS", "60"))
START_FROM = os.environ.get("WEBFLOW_AUDIT_ALERTS_START_FROM") or None
BASELINE_DESTINATION = os.environ.get("WEBFLOW_AUDIT_LOCAL_DESTINATION")
SETTINGS = RuleSettings(elevated_roles=("Admin",))
NOTIFIERS = [WebflowFindingsLogNotifier(min_severity="low")]

privilege_changes = Asset(
    "webflow_audit_privilege_changes",
    watchers=[
        AssetWatcher(
            name="webflow_audit_privilege_changes",
            trigger=WebflowAuditEventTrigger(
                workspace=WORKSPACE,
                event_types=["custom_role", "workspace_membership", "site_membership"],
                poll_interval=POLL_SECONDS,
                max_events=500,
                start_from=START_FROM,
            ),
        )
    ],
)

# Logins too, for the login rules (new origin, impossible travel, API login by a person). Logins are
# most of a workspace's traffic, so this watcher fires on nearly every poll: about one DAG run a
# minute at poll_interval=60, and another 60+ requests an hour on the token. Add it to ``schedule``
# below (``schedule=(privilege_changes | logins)``) and read both in the task.
#
# logins = Asset(
#     "webflow_audit_logins",
#     watchers=[
#         AssetWatcher(
#             name="webflow_audit_logins",
#             trigger=WebflowAuditEventTrigger(
#                 workspace=WORKSPACE, event_types=["user_access"], event_subtypes=["login"], poll_interval=60
#             ),
#         )
#     ],
# )

with DAG(
    dag_id="example_webflow_audit_alerts",
    description="Findings on Webflow privilege changes within a poll of them",
    schedule=[privilege_changes],
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
    tags=["webflow", "audit", "security", "example"],
) as dag:

    @task(multiple_outputs=False)  # one XCom: the summary
    def alert() -> dict[str, Any]:
        context = get_current_context()
        events = delivered_events(context["triggering_asset_events"][privilege_changes])
        baseline = load_baseline_if_any(BASELINE_DESTINATION, WORKSPACE)
        findings = judge_delivered(events, SETTINGS, baseline)
        summary = summarize_delivered(findings, workspace=WORKSPACE, events=len(events))
        print(f"{len(events)} delivered events, {len(findings)} findings: {summary['by_rule']}")
        if findings:
            send_findings(NOTIFIERS, context, findings, summary)
        return summary

    alert()

"""Asset events of :class:`~airflow_webflow_audit.triggers.audit_events.WebflowAuditEventTrigger` -> findings.

The same rules as the findings operator (:mod:`.rules`), run on the events a watcher delivered
instead of on landed windows, so a deleted custom role is reported within a poll of it. The
baseline (per-actor history, which the login rules need) is read, never written: the findings DAG
keeps it from the landed windows, so it knows events up to the last window it learned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from airflow_webflow_audit.api import parse_timestamp
from airflow_webflow_audit.landing.layout import resolve_destination
from airflow_webflow_audit.monitoring.findings import baseline_path, count_by, load_baseline
from airflow_webflow_audit.monitoring.rules import Baseline, Finding, RuleSettings, WindowScan

log = logging.getLogger(__name__)


def delivered_events(asset_events: Iterable[Any]) -> list[dict[str, Any]]:
    """Every audit event in a run's triggering asset events, oldest first.

    One run can consume several asset events (polls that came while it was queued); asset events
    that did not come from the trigger (no ``payload.events`` in their extra) are skipped, loudly.
    """
    events: list[dict[str, Any]] = []
    for asset_event in asset_events:
        extra = getattr(asset_event, "extra", None) or {}
        payload = extra.get("payload") if isinstance(extra, dict) else None
        batch = payload.get("events") if isinstance(payload, dict) else None
        if not isinstance(batch, list):
            log.warning("Skipping an asset event without a Webflow audit payload (extra keys: %s).", sorted(extra))
            continue
        events.extend(item for item in batch if isinstance(item, dict) and isinstance(item.get("timestamp"), str))
    return sorted(events, key=lambda item: parse_timestamp(item["timestamp"]))


def load_baseline_if_any(destination: Any, workspace: str) -> Baseline:
    """The findings DAG's baseline under ``destination`` (read only), or an empty one without it."""
    if destination is None:
        return Baseline(workspace=workspace)
    return load_baseline(baseline_path(resolve_destination(destination), workspace), workspace)


def judge_delivered(events: list[dict[str, Any]], settings: RuleSettings, baseline: Baseline) -> list[Finding]:
    """The rules' findings on ``events``, each judged against the baseline and the events before it."""
    scan = WindowScan(baseline, settings)
    for item in events:
        scan.add(item)
    return scan.finish()


def summarize_delivered(
    findings: list[Finding], *, workspace: str, events: int, max_listed: int = 20
) -> dict[str, Any]:
    """What notifiers get as ``webflow_findings_summary``: the findings operator's keys that apply."""
    return {
        "workspace": workspace,
        "events": events,
        "findings": len(findings),
        "by_rule": count_by(findings, "rule"),
        "by_severity": count_by(findings, "severity"),
        "first_findings": [
            {"rule": f.rule, "severity": f.severity, "timestamp": f.timestamp, "summary": f.summary}
            for f in findings[:max_listed]
        ],
    }

"""The alert DAG's helpers: a run's asset events -> the events in order -> the rules' findings."""

from __future__ import annotations

import json
from types import SimpleNamespace

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.monitoring.alerts import (
    delivered_events,
    judge_delivered,
    load_baseline_if_any,
    summarize_delivered,
)
from airflow_webflow_audit.monitoring.findings import baseline_path
from airflow_webflow_audit.monitoring.rules import Baseline, RuleSettings
from tests.unit.test_monitoring_rules import ALICE, SYDNEY, event, history, login


def asset_event(*events: dict) -> SimpleNamespace:
    """What ``triggering_asset_events[asset]`` holds: objects with the trigger's payload in ``extra``."""
    return SimpleNamespace(extra={"from_trigger": True, "payload": {"count": len(events), "events": list(events)}})


def test_every_asset_event_of_a_run_is_read_and_the_events_come_oldest_first(caplog, capsys):
    later, earlier = event(5, "custom_role", "role_deleted", roleName="R"), event(1, "custom_role", "role_created")
    manual = SimpleNamespace(extra={"note": "made by hand"})
    assert delivered_events([asset_event(later), manual, asset_event(earlier)]) == [earlier, later]
    assert "without a Webflow audit payload (extra keys: ['note'])" in caplog.text + capsys.readouterr().out


def test_privilege_changes_are_judged_without_a_baseline():
    events = [event(1, "custom_role", "role_deleted", roleName="Auditor"), event(2, "site_membership", "user_added")]
    findings = judge_delivered(events, RuleSettings(), Baseline(workspace="ws"))
    assert [(f.rule, f.severity) for f in findings] == [("privilege_change", "high")]
    summary = summarize_delivered(findings, workspace="ws", events=len(events))
    assert summary["events"] == 2
    assert summary["by_rule"] == {"privilege_change": 1}
    assert summary["by_severity"] == {"high": 1}
    assert summary["first_findings"][0]["summary"] == "bob@example.com deleted custom role 'Auditor'"


def test_the_login_rules_use_the_findings_dags_baseline_read_only(tmp_path):
    destination = ObjectStoragePath(f"file://{tmp_path}")
    path = baseline_path(destination, "ws")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(history().to_json()))
    before = path.read_text()

    baseline = load_baseline_if_any(str(destination), "ws")
    findings = judge_delivered([login(10, ALICE, SYDNEY)], RuleSettings(), baseline)
    assert [(f.rule, f.severity) for f in findings] == [("new_login_origin", "medium")]
    assert path.read_text() == before  # the findings DAG owns it

    empty = load_baseline_if_any(None, "ws")
    assert judge_delivered([login(10, ALICE, SYDNEY)], RuleSettings(), empty) == []  # no history: quiet
    assert load_baseline_if_any(f"file://{tmp_path}/elsewhere", "ws").actors == {}

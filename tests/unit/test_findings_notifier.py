"""The default findings notifier: every finding at or above its severity floor, one log line each."""

from __future__ import annotations

import logging

import pytest

from airflow_webflow_audit.notifications.findings import WebflowFindingsLogNotifier


def finding(severity: str, summary: str) -> dict:
    return {"rule": "r", "severity": severity, "timestamp": "2026-10-01T00:00:00.000Z", "summary": summary}


def test_logs_findings_at_or_above_the_floor(caplog, capsys):
    findings = [finding("low", "a new IP"), finding("high", "impossible travel"), finding("medium", "api login")]
    with caplog.at_level(logging.WARNING):
        WebflowFindingsLogNotifier(min_severity="medium")({"webflow_findings": findings})
    logged = caplog.text + capsys.readouterr().out
    assert "3 Webflow audit findings (2 at medium or above)" in logged
    assert "[high] 2026-10-01T00:00:00.000Z r: impossible travel" in logged
    assert "api login" in logged
    assert "a new IP" not in logged


def test_an_unknown_floor_is_refused():
    with pytest.raises(ValueError, match="min_severity must be one of low, medium, high"):
        WebflowFindingsLogNotifier(min_severity="urgent")({"webflow_findings": [finding("low", "x")]})

"""`python -m airflow_webflow_audit.testing.simulator` serves what it prints, and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta

import httpx
import pytest

from airflow_webflow_audit.hooks.webflow import WebflowHook
from tests.conftest import DAY0, FakeClock

pytestmark = pytest.mark.integration


def test_the_command_line_simulator_serves_a_pull(monkeypatch):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_webflow_audit.testing.simulator",
            "--port",
            "0",
            "--days",
            "2",
            "--events-per-day",
            "800",
            "--rate-limit",
            "500",
            "--error-rate",
            "0.1",
            "--unknown-types",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())
        export_line = process.stdout.readline()
        assert export_line.startswith("export AIRFLOW_CONN_WEBFLOW_DEFAULT=")
        monkeypatch.setenv("AIRFLOW_CONN_WEBFLOW_DEFAULT", export_line.split("=", 1)[1].strip().strip("'"))
        hook = WebflowHook(clock=FakeClock())
        events = list(hook.iter_audit_logs(None, DAY0, DAY0 + timedelta(days=1)))
        truth = httpx.get(
            f"{started['url']}/_simulator/events", params={"from": "2026-10-01T00:00:00Z", "to": "2026-10-02T00:00:00Z"}
        ).json()
        assert events == truth
        everything = httpx.get(f"{started['url']}/_simulator/events").json()
        assert started["events"] == len(everything) >= 1600  # 800 a day, plus events on every hour edge
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0

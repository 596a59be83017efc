"""What a landing and a refused landing send to Airflow's Stats, against the simulator."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest

from airflow_webflow_audit import metrics
from airflow_webflow_audit.exceptions import WebflowArchiveTamperedError
from tests.conftest import DAY0
from tests.landing_helpers import make_operator, run_window

pytestmark = pytest.mark.integration


def test_a_landing_counts_its_window_events_bytes_and_times(simulator, clock, tmp_path, sent):
    sim = simulator(days=1, events_per_day=480)
    destination = f"file://{tmp_path}/landing"
    xcom, _ = run_window(
        make_operator(clock, destination=destination, window_size="PT1H"), DAY0, DAY0 + timedelta(hours=3)
    )
    assert sent.counted(metrics.WINDOWS_LANDED) == 3
    assert sent.tags(metrics.WINDOWS_LANDED, "outcome") == Counter({"written": 3})
    assert sent.counted(metrics.EVENTS_LANDED) == xcom["records"] == len(sim.events(DAY0, DAY0 + timedelta(hours=3)))
    assert sent.counted(metrics.BYTES_WRITTEN) == sum(
        (tmp_path / window["uri"].removeprefix(f"file://{tmp_path}/")).stat().st_size for window in xcom["windows"]
    )
    timers = Counter(name for kind, name, _, _ in sent.sent if kind == "timing")
    assert timers == {metrics.WINDOW_PULL.full_name: 3, metrics.LANDING_LAG.full_name: 3}
    lags = [dt for kind, name, dt, _ in sent.sent if name == metrics.LANDING_LAG.full_name]
    assert all(lag > timedelta(days=30) for lag in lags)  # October's windows, landed in December or later
    # A rerun lands the same windows unchanged: no events, no bytes.
    run_window(make_operator(clock, destination=destination, window_size="PT1H"), DAY0, DAY0 + timedelta(hours=3))
    assert sent.tags(metrics.WINDOWS_LANDED, "outcome") == Counter({"written": 3, "unchanged": 3})
    assert sent.counted(metrics.EVENTS_LANDED) == xcom["records"]


def test_a_refused_landing_counts_the_flaw_kind(simulator, clock, tmp_path, sent):
    simulator(days=1, events_per_day=240)
    destination = f"file://{tmp_path}/landing"
    xcom, _ = run_window(make_operator(clock, destination=destination), DAY0, DAY0 + timedelta(hours=1))
    manifest = tmp_path / xcom["manifest_uri"].removeprefix(f"file://{tmp_path}/")
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "records": 1}))
    with pytest.raises(WebflowArchiveTamperedError):
        run_window(make_operator(clock, destination=destination), DAY0, DAY0 + timedelta(hours=1))
    assert sent.tags(metrics.EVIDENCE_REFUSED, "kind") == Counter({"corrupt": 1})

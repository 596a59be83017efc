"""WebflowAuditFindingsOperator on real landed windows in a local folder: order, gaps, integrity, notify."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from airflow.sdk import BaseNotifier, ObjectStoragePath

from airflow_webflow_audit.exceptions import (
    WebflowBaselineBehindError,
    WebflowConfigurationError,
    WebflowRangeIncompleteError,
)
from airflow_webflow_audit.landing.layout import window_object_path
from airflow_webflow_audit.monitoring.findings import baseline_path, findings_path_for
from airflow_webflow_audit.operators.findings import WebflowAuditFindingsOperator
from airflow_webflow_audit.testing.simulator import generate_events
from tests.conftest import DAY0
from tests.landing_helpers import land_window_events, snapshot
from tests.storage_servers import AWS_CONN_ID

pytestmark = pytest.mark.integration

WORKSPACE = "hitchhikers-workspace"
WINDOWS = [(DAY0 + timedelta(days=n), DAY0 + timedelta(days=n + 1)) for n in range(4)]
EVENTS = generate_events(seed=7, start=WINDOWS[0][0], end=WINDOWS[-1][1], events_per_day=400)


def land(root: ObjectStoragePath, window: tuple) -> ObjectStoragePath:
    start, end = window
    events = [e for e in EVENTS if start.strftime("%Y-%m-%d") == e["timestamp"][:10]]
    return land_window_events(root, start, end, events, workspace=WORKSPACE)


def findings_operator(root: ObjectStoragePath, **kwargs) -> WebflowAuditFindingsOperator:
    kwargs.setdefault("baseline_start", WINDOWS[0][0].isoformat())
    kwargs.setdefault("notifiers", [])
    return WebflowAuditFindingsOperator(task_id="findings", workspace=WORKSPACE, destination=root, **kwargs)


def monitoring_files(root: ObjectStoragePath) -> dict[str, bytes]:
    return {key: body for key, body in snapshot(root).items() if "findings" in key or "_monitoring" in key}


@pytest.fixture
def root(tmp_path) -> ObjectStoragePath:
    return ObjectStoragePath(f"file://{tmp_path}/landed")


@pytest.fixture(params=["local", "s3"])
def any_root(request, tmp_path) -> ObjectStoragePath:
    if request.param == "local":
        return ObjectStoragePath(f"file://{tmp_path}/landed")
    return ObjectStoragePath(f"s3://{AWS_CONN_ID}@{request.getfixturevalue('s3_bucket')}/webflow")


def test_in_order_every_window_gets_findings_and_the_baseline_reaches_the_end(any_root):
    root = any_root
    for window in WINDOWS:
        land(root, window)
    summary = findings_operator(root).execute({})
    assert [w["start"] for w in summary["windows"]] == [start.isoformat() for start, _ in WINDOWS]
    assert sum(w["records"] for w in summary["windows"]) == len(EVENTS)
    assert summary["applied_through"] == WINDOWS[-1][1].isoformat()
    assert summary["waiting_for"] is None
    assert summary["findings"] == sum(summary["by_rule"].values()) > 0  # generated logs hold privilege changes
    for window in WINDOWS:
        path = window_object_path(root, workspace=WORKSPACE, start=window[0], end=window[1], file_format="jsonl.gz")
        assert findings_path_for(path).exists()
    # A rerun learns nothing twice and changes nothing.
    before = monitoring_files(root)
    again = findings_operator(root).execute({})
    assert again["windows"] == []
    assert again["findings"] == 0
    assert monitoring_files(root) == before


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_windows_landed_out_of_order_build_the_same_baseline_and_findings(tmp_path, seed):
    in_order = ObjectStoragePath(f"file://{tmp_path}/in-order")
    for window in WINDOWS:
        land(in_order, window)
        findings_operator(in_order).execute({})
    shuffled_root = ObjectStoragePath(f"file://{tmp_path}/shuffled")
    order = WINDOWS[:]
    random.Random(seed).shuffle(order)
    for window in order:  # a backfill: each landing triggers a findings run, in whatever order they finish
        land(shuffled_root, window)
        summary = findings_operator(shuffled_root).execute({})
        learned = [w["end"] for w in summary["windows"]]
        assert learned == sorted(learned)
    assert monitoring_files(shuffled_root) == monitoring_files(in_order)


def test_a_gap_stops_the_baseline_until_the_missing_window_lands(root):
    land(root, WINDOWS[0])
    land(root, WINDOWS[2])
    summary = findings_operator(root).execute({})
    assert summary["applied_through"] == WINDOWS[0][1].isoformat()
    assert summary["waiting_for"] == [WINDOWS[1][0].isoformat(), WINDOWS[2][0].isoformat()]
    with pytest.raises(WebflowBaselineBehindError, match=r"no window is landed for \[2026-10-02"):
        findings_operator(root, through=WINDOWS[2][1].isoformat()).execute({})
    land(root, WINDOWS[1])
    summary = findings_operator(root, through=WINDOWS[2][1].isoformat()).execute({})
    assert summary["applied_through"] == WINDOWS[2][1].isoformat()


def test_without_a_baseline_start_a_later_window_landed_first_would_start_it(root):
    land(root, WINDOWS[1])
    summary = findings_operator(root, baseline_start=WINDOWS[0][0].isoformat()).execute({})
    assert summary["windows"] == []  # waits for the first window instead of starting without it
    assert summary["waiting_for"] == [WINDOWS[0][0].isoformat(), WINDOWS[1][0].isoformat()]


def test_a_window_changed_after_landing_is_refused_and_learns_nothing(root):
    land(root, WINDOWS[0])
    tampered = land(root, WINDOWS[1])
    findings_operator(root, through=WINDOWS[0][1].isoformat()).execute({})
    baseline_before = baseline_path(root, WORKSPACE).read_bytes()
    data = bytearray(tampered.read_bytes())
    data[-9] ^= 0xFF  # the gzip trailer: the object no longer matches its manifest
    tampered.write_bytes(bytes(data))
    with pytest.raises(WebflowRangeIncompleteError, match=r"the landed evidence is wrong \(corrupt \[2026-10-02"):
        findings_operator(root).execute({})
    assert baseline_path(root, WORKSPACE).read_bytes() == baseline_before
    assert not findings_path_for(tampered).exists()


class RecordingNotifier(BaseNotifier):
    template_fields = ("title",)

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title = title
        self.calls: list[dict] = []

    def notify(self, context) -> None:
        self.calls.append({"title": self.title, "findings": context["webflow_findings"]})


def test_notifiers_get_the_findings_and_can_template_the_summary(root):
    land(root, WINDOWS[0])
    notifier = RecordingNotifier("{{ webflow_findings_summary.findings }} findings in {{ params.where }}")
    summary = findings_operator(root, notifiers=[notifier]).execute({"params": {"where": "prod"}})
    assert summary["findings"] > 0
    assert notifier.calls == [
        {"title": f"{summary['findings']} findings in prod", "findings": notifier.calls[0]["findings"]}
    ]
    assert len(notifier.calls[0]["findings"]) == summary["findings"]
    assert {"rule", "severity", "timestamp", "actor", "summary", "details", "event"} <= set(
        notifier.calls[0]["findings"][0]
    )


def land_filtered(root: ObjectStoragePath, window: tuple, event_type: str) -> ObjectStoragePath:
    start, end = window
    events = [e for e in EVENTS if start.strftime("%Y-%m-%d") == e["timestamp"][:10] and e["eventType"] == event_type]
    return land_window_events(root, start, end, events, workspace=WORKSPACE, event_types=[event_type])


def test_a_destination_with_only_filtered_windows_is_refused_with_the_fix(root):
    for window in WINDOWS[:2]:
        land_filtered(root, window, "custom_role")
    with pytest.raises(WebflowConfigurationError) as info:
        findings_operator(root).execute({})
    text = str(info.value)
    assert "Only windows filtered by event type (custom_role)" in text
    assert "without event_types" in text
    assert monitoring_files(root) == {}


def test_filtered_windows_beside_whole_ones_are_not_read(root, tmp_path):
    whole_only = ObjectStoragePath(f"file://{tmp_path}/whole-only")
    for window in WINDOWS[:2]:
        land(root, window)
        land(whole_only, window)
        land_filtered(root, window, "user_access")
    mixed = findings_operator(root).execute({})
    alone = findings_operator(whole_only).execute({})
    assert [w["records"] for w in mixed["windows"]] == [w["records"] for w in alone["windows"]]
    assert mixed["by_rule"] == alone["by_rule"]
    assert mixed["applied_through"] == WINDOWS[1][1].isoformat()

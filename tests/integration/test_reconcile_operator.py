"""WebflowAuditLogsReconcileOperator on the simulator: late events found and re-landed, gaps never green."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.audit.bucket import audit_bucket
from airflow_webflow_audit.audit.cli import main
from airflow_webflow_audit.audit.recount import recount
from airflow_webflow_audit.exceptions import WebflowConfigurationError, WebflowRangeIncompleteError
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.operators.findings import WebflowAuditFindingsOperator
from airflow_webflow_audit.operators.reconcile import WebflowAuditLogsReconcileOperator
from tests.conftest import DAY0
from tests.landing_helpers import by_time, make_operator, read_events, read_manifest, read_window, run_window

pytestmark = pytest.mark.integration

WORKSPACE = "hitchhikers-workspace"
DAYS = [(DAY0 + timedelta(days=n), DAY0 + timedelta(days=n + 1)) for n in range(3)]


def reconciler(clock, destination: str, **kwargs) -> WebflowAuditLogsReconcileOperator:
    operator = WebflowAuditLogsReconcileOperator(
        task_id="reconcile", workspace=WORKSPACE, destination=destination, **kwargs
    )
    operator.hook = WebflowHook(operator.webflow_conn_id, clock=clock)
    return operator


@pytest.fixture
def landed(simulator, clock, tmp_path):
    sim = simulator()
    destination = f"file://{tmp_path}/landing"
    xcoms = [run_window(make_operator(clock, destination=destination), *day)[0] for day in DAYS]
    return sim, destination, xcoms


def test_a_late_event_lands_as_a_second_part_naming_the_first(landed, clock, capsys):
    sim, destination, xcoms = landed
    first_bytes = ObjectStoragePath(xcoms[1]["uri"]).read_bytes()
    old_manifest = read_manifest(xcoms[1]["manifest_uri"])
    late = dict(sim.events(*DAYS[1])[0], timestamp="2026-10-02T23:59:59.500Z", eventType="custom_role")
    sim.insert_event(late)
    result = reconciler(clock, destination, start=DAYS[0][0].isoformat(), end=DAYS[-1][1].isoformat()).execute({})
    (relanded,) = result["relanded"]
    assert (relanded["start"], relanded["records_before"]) == (DAYS[1][0].isoformat(), old_manifest["records"])
    assert (relanded["records_after"], relanded["part"]) == (old_manifest["records"] + 1, 2)
    # The first part is as it was; the second holds the late event alone and names the first.
    assert ObjectStoragePath(xcoms[1]["uri"]).read_bytes() == first_bytes
    second = xcoms[1]["uri"].replace(".jsonl.gz", ".part-0002.jsonl.gz")
    assert read_events(second) == [late]
    manifest = read_manifest(second + ".manifest.json")
    (previous,) = manifest["part"]["previous"]
    assert previous["sha256"] == old_manifest["object"]["sha256"]
    assert previous["key"] == xcoms[1]["uri"].rsplit("/", 1)[1]
    assert (manifest["part"]["number"], manifest["records"], manifest["window_records"]) == (
        2,
        1,
        old_manifest["records"] + 1,
    )
    assert by_time(read_window(xcoms[1]["uri"])) == by_time(sim.events(*DAYS[1]))
    assert result["checked"] == 3
    assert result["problems"] == result["missing"] == []
    # The range now proves complete, recounted against the API.
    capsys.readouterr()
    args = [destination, "--workspace", WORKSPACE, "--start", DAYS[0][0].isoformat(), "--end", DAYS[-1][1].isoformat()]
    assert main([*args, "--recount", "--json"]) == 0


def test_nothing_changed_costs_one_request_per_window_and_relands_nothing(landed, clock):
    sim, destination, _ = landed
    before = sim.request_count
    # Default range: the lookback before the data interval's start (right after the last window).
    context = {"data_interval_start": DAYS[-1][1], "data_interval_end": DAYS[-1][1] + timedelta(days=1)}
    result = reconciler(clock, destination, lookback=timedelta(days=3)).execute(context)
    assert result["relanded"] == []
    assert result["range"] == {"start": DAYS[0][0].isoformat(), "end": DAYS[-1][1].isoformat()}
    assert sim.request_count - before == result["requests"] == 3


def test_a_missing_window_fails_the_task_after_re_landing_what_it_can(landed, clock):
    sim, destination, xcoms = landed
    ObjectStoragePath(xcoms[0]["uri"]).unlink()
    ObjectStoragePath(xcoms[0]["manifest_uri"]).unlink()
    sim.insert_event(dict(sim.events(*DAYS[2])[0], timestamp="2026-10-03T12:00:00.000Z"))
    operator = reconciler(clock, destination, start=DAYS[0][0].isoformat(), end=DAYS[-1][1].isoformat())
    with pytest.raises(WebflowRangeIncompleteError, match=r"gap \[2026-10-01T00:00:00\+00:00, 2026-10-02"):
        operator.execute({})
    assert by_time(read_window(xcoms[2]["uri"])) == by_time(sim.events(*DAYS[2]))  # landed again before failing


def test_retention_is_a_warning_and_never_a_re_landing(landed, clock):
    sim, destination, xcoms = landed
    before = json.dumps(read_manifest(xcoms[0]["manifest_uri"]))
    sim.configure(retention_start="2026-10-01T12:00:00Z")
    result = reconciler(clock, destination, start=DAYS[0][0].isoformat(), end=DAYS[-1][1].isoformat()).execute({})
    assert result["relanded"] == []
    assert any("(retention)" in warning for warning in result["warnings"])
    assert json.dumps(read_manifest(xcoms[0]["manifest_uri"])) == before


def test_no_data_interval_and_no_range_is_refused_naming_the_fix(clock, tmp_path):
    with pytest.raises(WebflowConfigurationError, match="data interval"):
        reconciler(clock, f"file://{tmp_path}/x").execute({})


@pytest.mark.parametrize("lookback", [-1, "a week", timedelta(days=400)])
def test_a_bad_lookback_is_refused_when_the_dag_is_parsed(lookback):
    with pytest.raises(WebflowConfigurationError, match="lookback must be"):
        WebflowAuditLogsReconcileOperator(task_id="r", workspace=WORKSPACE, destination="file:///x", lookback=lookback)


def test_the_default_range_never_starts_before_the_landing_start(landed, clock):
    _, destination, _ = landed
    context = {"data_interval_start": DAYS[-1][1], "data_interval_end": DAYS[-1][1] + timedelta(days=1)}
    operator = reconciler(clock, destination, landing_start=DAYS[0][0].isoformat())  # lookback: 7 days
    result = operator.execute(context)
    assert result["range"] == {"start": DAYS[0][0].isoformat(), "end": DAYS[-1][1].isoformat()}
    assert result["missing"] == []


def test_findings_judge_a_re_landed_windows_late_event_exactly_once(landed, clock):
    sim, destination, xcoms = landed
    root = ObjectStoragePath(destination)

    def findings():
        operator = WebflowAuditFindingsOperator(
            task_id="findings",
            workspace=WORKSPACE,
            destination=destination,
            baseline_start=DAYS[0][0].isoformat(),
            notifiers=[],
        )
        return operator.execute({})

    first = findings()
    assert first["applied_through"] == DAYS[-1][1].isoformat()
    late = {
        "timestamp": "2026-10-02T10:00:00.500Z",
        "eventType": "custom_role",
        "eventSubType": "role_deleted",
        "actor": {"id": "f" * 24, "email": "late@example.com", "type": "person"},
        "workspace": {"id": "6621ccb459b561c69f29d57c", "slug": WORKSPACE},
        "payload": {"roleName": "Auditors"},
    }
    sim.insert_event(late)
    reconciler(clock, destination, start=DAYS[0][0].isoformat(), end=DAYS[-1][1].isoformat()).execute({})

    second = findings()
    (relearned,) = second["windows"]
    assert (relearned["start"], relearned["records"], relearned["relearned"]) == (DAYS[1][0].isoformat(), 1, True)
    late_findings = [f for f in second["first_findings"] if f["timestamp"] == late["timestamp"]]
    assert [(f["rule"], f["severity"]) for f in late_findings] == [("privilege_change", "high")]
    assert second["findings"] == 1
    findings_file = root / xcoms[1]["uri"].removeprefix(destination + "/").replace(".jsonl.gz", ".findings.jsonl")
    lines = [json.loads(line) for line in findings_file.read_bytes().splitlines()]
    assert sum(1 for line in lines if line["timestamp"] == late["timestamp"]) == 1

    third = findings()  # nothing new: nothing judged twice
    assert third["windows"] == []
    assert third["findings"] == 0


def test_windows_still_settling_are_not_recounted(landed):
    sim, destination, _ = landed
    report = audit_bucket(ObjectStoragePath(destination), WORKSPACE, DAYS[0][0], DAYS[-1][1])
    before = sim.request_count
    recount(report, WebflowHook(), settled_before=DAYS[1][1])
    assert sim.request_count - before == 2  # the last day ends after settled_before
    assert [w for w in report.warnings if "still settling" in w] == [
        f"{report.windows[2].key}: ends after {DAYS[1][1].isoformat()}, still settling; not recounted."
    ]

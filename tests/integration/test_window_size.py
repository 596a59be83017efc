"""window_size: one task lands its interval as consecutive windows, exactly as a run per window would."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import pendulum
import pytest
from airflow.sdk import DAG, AssetAlias, ObjectStoragePath
from airflow.sdk.definitions.timetables.trigger import CronPartitionTimetable

from airflow_webflow_audit.audit.bucket import audit_bucket
from airflow_webflow_audit.exceptions import (
    WebflowConfigurationError,
    WebflowRangeIncompleteError,
    WebflowWindowsNotLandedError,
    WebflowWindowsRefusedError,
)
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.landing.layout import MANIFEST_SUFFIX, landing_asset
from airflow_webflow_audit.operators.reconcile import WebflowAuditLogsReconcileOperator
from airflow_webflow_audit.testing.simulator import SimulatorConfig
from tests.conftest import DAY0
from tests.landing_helpers import all_keys, make_operator, read_events, run_window, snapshot

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)
DAY1 = DAY0 + timedelta(days=1)
WORKSPACE = "hitchhikers-workspace"


def data_keys(root: str) -> list[str]:
    return [key for key in all_keys(ObjectStoragePath(root)) if not key.endswith(MANIFEST_SUFFIX)]


def test_a_daily_run_with_hourly_windows_lands_what_24_hourly_runs_land(simulator, clock, tmp_path: Path):
    sim = simulator(days=2, events_per_day=2400)
    hourly, daily = f"file://{tmp_path}/hourly", f"file://{tmp_path}/daily"
    hourly_xcoms, hourly_extras = [], []
    sim.reset_stats()
    for hour in range(24):
        xcom, events = run_window(
            make_operator(clock, destination=hourly), DAY0 + hour * HOUR, DAY0 + (hour + 1) * HOUR
        )
        hourly_xcoms.append(xcom)
        hourly_extras.append(events[landing_asset(hourly, WORKSPACE)].extra)
    hourly_requests = sim.stats()["requests"]

    sim.reset_stats()
    operator = make_operator(clock, destination=daily, window_size=HOUR)
    xcom, outlet_events = run_window(operator, DAY0, DAY1)
    daily_requests = sim.stats()["requests"]

    # The same keys, and objects byte for byte; manifests differ only in when and by whom.
    hourly_keys, daily_keys = all_keys(ObjectStoragePath(hourly)), all_keys(ObjectStoragePath(daily))
    assert hourly_keys == daily_keys
    assert len(daily_keys) == 48
    for key in data_keys(daily):
        assert (ObjectStoragePath(daily) / key).read_bytes() == (ObjectStoragePath(hourly) / key).read_bytes(), key
    assert sum(len(read_events(window["uri"])) for window in xcom["windows"]) == len(sim.events(DAY0, DAY1))
    # The XCom lists each window, never the events.
    assert [window["start"] for window in xcom["windows"]] == [x["start"] for x in hourly_xcoms]
    assert [
        {**window, "uri": window["uri"].replace(daily, hourly), "manifest_uri": ""} for window in xcom["windows"]
    ] == [{**x, "manifest_uri": ""} for x in hourly_xcoms]
    assert (xcom["start"], xcom["end"], xcom["records"]) == (DAY0.isoformat(), DAY1.isoformat(), xcom["new_records"])
    # One event per window, in order, onto the landing asset, through the alias.
    (alias,) = operator.outlets
    assert isinstance(alias, AssetAlias)
    added = outlet_events[alias].asset_alias_events
    assert [event.dest_asset_key.uri for event in added] == [landing_asset(daily, WORKSPACE).uri] * 24
    assert [event.extra for event in added] == [
        {**extra, **window, "destination": daily} for extra, window in zip(hourly_extras, xcom["windows"], strict=True)
    ]
    # One look at the retention horizon for the task, not one per window (the hourly runs took 24): two
    # when a later window's look came first, since the first window starts at the horizon itself.
    pages = hourly_requests - 24
    assert daily_requests - pages in (1, 2)
    # The audit sees the same complete day in both.
    reports = [audit_bucket(ObjectStoragePath(root), WORKSPACE, DAY0, DAY1) for root in (hourly, daily)]
    assert [report.complete for report in reports] == [True, True]
    assert [len(report.windows) for report in reports] == [24, 24]


def test_runs_of_either_shape_take_turns_on_one_archive(simulator, clock, tmp_path: Path):
    sim = simulator(days=2, events_per_day=1200)
    root = f"file://{tmp_path}/landing"
    run_window(make_operator(clock, destination=root), DAY0 + 5 * HOUR, DAY0 + 6 * HOUR)
    before = snapshot(ObjectStoragePath(root))
    daily = make_operator(clock, destination=root, window_size="PT1H")
    xcom, _ = run_window(daily, DAY0, DAY1)
    assert [w["new_records"] == 0 for w in xcom["windows"]] == [hour == 5 for hour in range(24)]
    # OpenLineage names each object the task wrote: 23 windows, not the one it found landed.
    outputs = daily.get_openlineage_facets_on_complete(None).outputs
    assert [output.name.rsplit("/", 1)[1] for output in outputs] == [
        w["uri"].rsplit("/", 1)[1] for w in xcom["windows"] if w["new_records"]
    ]
    assert len(outputs) == 23
    after = snapshot(ObjectStoragePath(root))
    assert {key: after[key] for key in before} == before  # the hourly run's window untouched
    # A second daily run finds every event landed and writes nothing.
    again, _ = run_window(make_operator(clock, destination=root, window_size=3600), DAY0, DAY1)
    assert again["new_records"] == 0
    assert again["records"] == len(sim.events(DAY0, DAY1))
    assert snapshot(ObjectStoragePath(root)) == after


@pytest.mark.parametrize(
    ("window_size", "interval"),
    [(timedelta(hours=5), (DAY0, DAY1)), (timedelta(days=2), (DAY0, DAY1)), ("1:00:00", (DAY0, DAY0 + HOUR / 2))],
)
def test_an_interval_that_is_not_whole_windows_is_refused_before_any_request(
    simulator, clock, tmp_path, window_size, interval
):
    sim = simulator()
    operator = make_operator(clock, destination=f"file://{tmp_path}/landing", window_size=window_size)
    with pytest.raises(WebflowConfigurationError, match="not a whole number of windows"):
        run_window(operator, *interval)
    assert sim.stats()["requests"] == 0
    assert not (tmp_path / "landing").exists() or data_keys(f"file://{tmp_path}/landing") == []


@pytest.mark.parametrize("window_size", [timedelta(0), timedelta(seconds=1.5), "P1M", "soon", -60])
def test_a_bad_window_size_breaks_the_dag_not_the_run(tmp_path, window_size):
    with pytest.raises(WebflowConfigurationError, match="window_size"):
        make_operator(destination=f"file://{tmp_path}", window_size=window_size)


def test_the_windows_share_the_connections_concurrency_cap(simulator, clock, tmp_path):
    sim = simulator(config=SimulatorConfig(latency=0.02), conn_extra={"max_concurrency": 3})
    xcom, _ = run_window(
        make_operator(clock, destination=f"file://{tmp_path}/landing", window_size=HOUR), DAY0, DAY0 + 12 * HOUR
    )
    assert len(xcom["windows"]) == 12
    assert sim.stats()["max_in_flight"] == 3


def test_a_failed_window_does_not_lose_the_others_and_the_retry_lands_only_it(simulator, clock, tmp_path):
    # One request at a time, so the fault queued for the 4th window's request is that request's.
    sim = simulator(days=1, events_per_day=240, conn_extra={"max_concurrency": 1})
    root = f"file://{tmp_path}/landing"
    failing = threading.Event()
    failing.set()

    def fail_the_fourth_window(path: str, params: dict[str, str]) -> None:
        # The request's from= is the window's start less 1 s of padding.
        if failing.is_set() and params.get("from", "").startswith("2026-10-01T02:59:59"):
            sim.queue_faults("500")

    sim.on_request = fail_the_fourth_window
    operator = make_operator(clock, destination=root, window_size=HOUR, hook_params={"max_retries": 1})
    with pytest.raises(WebflowWindowsNotLandedError) as failed:
        run_window(operator, DAY0, DAY0 + 6 * HOUR)
    assert not isinstance(failed.value, WebflowWindowsRefusedError)  # retryable
    assert "1 of 6 windows did not land (5 did" in str(failed.value)
    assert "[2026-10-01T03:00:00+00:00, 2026-10-01T04:00:00+00:00): WebflowRetriesExhaustedError" in str(failed.value)
    assert len(data_keys(root)) == 5
    landed = snapshot(ObjectStoragePath(root))

    failing.clear()
    xcom, _ = run_window(make_operator(clock, destination=root, window_size=HOUR), DAY0, DAY0 + 6 * HOUR)
    assert [window["new_records"] > 0 for window in xcom["windows"]] == [False, False, False, True, False, False]
    after = snapshot(ObjectStoragePath(root))
    assert {key: after[key] for key in landed} == landed
    assert len(data_keys(root)) == 6


def test_a_window_that_cannot_be_built_on_fails_the_task_for_good(simulator, clock, tmp_path):
    simulator(days=1, events_per_day=240)
    root = f"file://{tmp_path}/landing"
    run_window(make_operator(clock, destination=root), DAY0 + HOUR, DAY0 + 2 * HOUR)
    (key,) = data_keys(root)
    (ObjectStoragePath(root) / key).unlink()
    (ObjectStoragePath(root) / key).write_bytes(b"not what the manifest says")
    with pytest.raises(WebflowWindowsRefusedError, match=r"1 of 3 windows did not land \(2 did"):
        run_window(make_operator(clock, destination=root, window_size=HOUR), DAY0, DAY0 + 3 * HOUR)
    assert len(data_keys(root)) == 3


def partition_dag(key_format: str = "%Y-%m-%d") -> DAG:
    return DAG(
        "partitioned",
        schedule=CronPartitionTimetable("0 0 * * *", timezone="UTC", key_format=key_format),
        start_date=pendulum.datetime(2026, 9, 1, tz="UTC"),
    )


def test_a_partitioned_run_lands_the_window_its_key_names(simulator, clock, tmp_path):
    sim = simulator(days=2)
    root = f"file://{tmp_path}/landing"
    context = {"partition_key": "2026-10-01", "dag": partition_dag()}
    xcom, _ = run_window(make_operator(clock, destination=root), None, None, **context)
    assert (xcom["start"], xcom["end"]) == (DAY0.isoformat(), DAY1.isoformat())
    assert read_events(xcom["uri"]) == sim.events(DAY0, DAY1)
    split, _ = run_window(make_operator(clock, destination=f"{root}-hourly", window_size=HOUR), None, None, **context)
    assert [window["start"] for window in split["windows"]] == [(DAY0 + h * HOUR).isoformat() for h in range(24)]


def test_a_partition_key_the_timetable_cannot_read_is_refused_before_any_request(simulator, clock, tmp_path):
    sim = simulator()
    context = {"partition_key": "October 1st", "dag": partition_dag()}
    with pytest.raises(WebflowConfigurationError, match="does not match its timetable's key_format"):
        run_window(make_operator(clock, destination=f"file://{tmp_path}/landing"), None, None, **context)
    # A key that names only part of the tick (a day, for an hourly cron) names no window.
    hourly = DAG(
        "hourly_partitions",
        schedule=CronPartitionTimetable("30 * * * *", timezone="UTC", key_format="%Y-%m-%d"),
        start_date=pendulum.datetime(2026, 9, 1, tz="UTC"),
    )
    with pytest.raises(WebflowConfigurationError, match="not a tick"):
        run_window(
            make_operator(clock, destination=f"file://{tmp_path}/landing"),
            None,
            None,
            partition_key="2026-10-01",
            dag=hourly,
        )
    assert sim.stats()["requests"] == 0


def test_reconcile_with_a_window_size_lands_the_windows_missing_from_the_range(simulator, clock, tmp_path):
    sim = simulator(days=1, events_per_day=480)
    root = f"file://{tmp_path}/landing"
    for hour in (0, 1, 2, 5):
        run_window(make_operator(clock, destination=root), DAY0 + hour * HOUR, DAY0 + (hour + 1) * HOUR)
    before = snapshot(ObjectStoragePath(root))
    result = reconciler(clock, root, start=DAY0.isoformat(), end=(DAY0 + 6 * HOUR).isoformat(), window_size=HOUR)
    summary = result.execute({})
    assert [(w["start"], w["records"]) for w in summary["landed"]] == [
        ((DAY0 + h * HOUR).isoformat(), len(sim.events(DAY0 + h * HOUR, DAY0 + (h + 1) * HOUR))) for h in (3, 4)
    ]
    assert summary["missing"] == []
    assert summary["problems"] == []
    after = snapshot(ObjectStoragePath(root))
    assert {key: after[key] for key in before} == before
    assert audit_bucket(ObjectStoragePath(root), WORKSPACE, DAY0, DAY0 + 6 * HOUR).complete


def test_reconcile_refuses_a_range_that_is_not_whole_windows_before_any_request(simulator, clock, tmp_path):
    sim = simulator()
    operator = reconciler(
        clock,
        f"file://{tmp_path}/landing",
        start=DAY0.isoformat(),
        end=(DAY0 + 90 * timedelta(minutes=1)).isoformat(),
        window_size=HOUR,
    )
    with pytest.raises(WebflowConfigurationError, match="not a whole number of windows"):
        operator.execute({})
    assert sim.stats()["requests"] == 0


def test_without_a_window_size_reconcile_reports_gaps_and_lands_nothing_there(simulator, clock, tmp_path):
    simulator(days=1, events_per_day=480)
    root = f"file://{tmp_path}/landing"
    run_window(make_operator(clock, destination=root), DAY0, DAY0 + HOUR)
    operator = reconciler(clock, root, start=DAY0.isoformat(), end=(DAY0 + 2 * HOUR).isoformat())
    with pytest.raises(WebflowRangeIncompleteError, match="gap"):
        operator.execute({})
    assert len(data_keys(root)) == 1


def reconciler(clock, destination: str, **kwargs) -> WebflowAuditLogsReconcileOperator:
    operator = WebflowAuditLogsReconcileOperator(
        task_id="reconcile", workspace=WORKSPACE, destination=destination, **kwargs
    )
    operator.hook = WebflowHook(operator.webflow_conn_id, clock=clock)
    return operator


def test_after_the_api_rejects_the_token_no_further_window_is_started(simulator, clock, tmp_path, monkeypatch):
    sim = simulator(conn_extra={"max_concurrency": 1})
    connection = json.loads(sim.connection_json(max_concurrency=1))
    monkeypatch.setenv("AIRFLOW_CONN_WEBFLOW_DEFAULT", json.dumps({**connection, "password": "sim-token-revoked"}))
    operator = make_operator(clock, destination=f"file://{tmp_path}/landing", window_size=HOUR)
    with pytest.raises(WebflowWindowsRefusedError) as refused:
        run_window(operator, DAY0, DAY0 + 6 * HOUR)
    message = str(refused.value)
    assert "6 of 6 windows did not land (0 did" in message
    assert message.count("not started, after the API rejected a request") == 5
    assert "sim-token-revoked" not in message
    assert sim.stats()["requests"] == 1  # one 401; no window after it asked again

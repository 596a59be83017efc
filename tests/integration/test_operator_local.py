"""WebflowAuditLogsOperator against the simulator over HTTP, landing in a local folder."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path

import pendulum
import pytest
from airflow.sdk import Asset, ObjectStoragePath

from airflow_webflow_audit import __version__
from airflow_webflow_audit.api import parse_timestamp
from airflow_webflow_audit.exceptions import (
    WebflowAuthError,
    WebflowConfigurationError,
    WebflowFormatError,
    WebflowPagingError,
    WebflowRetriesExhaustedError,
)
from airflow_webflow_audit.landing.layout import MANIFEST_SUFFIX
from airflow_webflow_audit.testing.simulator import SimulatorConfig
from tests.conftest import DAY0, TOKEN, insert_on_request
from tests.landing_helpers import all_keys, make_operator, read_events, read_manifest, run_window, sha256_of, snapshot

pytestmark = pytest.mark.integration

DAY1 = DAY0 + timedelta(days=1)
KEY = "workspace=hitchhikers-workspace/dt=2026-10-01/audit_logs_20261001T000000Z_20261002T000000Z.jsonl.gz"


@pytest.fixture
def destination(tmp_path: Path) -> str:
    return f"file://{tmp_path}/landing"


def test_lands_the_window_as_the_api_sent_it_with_a_manifest(simulator, clock, destination, tmp_path):
    sim = simulator()
    xcom, outlet_events = run_window(make_operator(clock, destination=destination), DAY0, DAY1)

    truth = sim.events(DAY0, DAY1)
    assert len(truth) > 1000
    assert xcom == {
        "uri": f"{destination}/{KEY}",
        "manifest_uri": f"{destination}/{KEY}{MANIFEST_SUFFIX}",
        "records": len(truth),
        "new_records": len(truth),
        "part": 1,
        "start": "2026-10-01T00:00:00+00:00",
        "end": "2026-10-02T00:00:00+00:00",
    }
    assert read_events(xcom["uri"]) == truth
    manifest = read_manifest(xcom["manifest_uri"])
    assert manifest["records"] == len(truth)
    assert manifest["object"]["sha256"] == sha256_of(xcom["uri"])
    assert manifest["object"]["size_bytes"] == len(ObjectStoragePath(xcom["uri"]).read_bytes())
    assert manifest["window"] == {"start": xcom["start"], "end": xcom["end"], "end_exclusive": True}
    assert manifest["workspace"] == "hitchhikers-workspace"
    assert manifest["filters"] == {"event_types": None}
    assert manifest["part"] == {"number": 1, "previous": [], "adopted": False}
    assert manifest["window_records"] == len(truth)
    assert "signature" not in manifest  # no signing connection here
    assert manifest["provider"]["version"] == __version__
    # The request window is padded by 1 s each side, so the API's total counts those events too.
    assert manifest["api_total"] == len(sim.events(DAY0 - timedelta(seconds=1), DAY1 + timedelta(seconds=1)))
    assert all_keys(ObjectStoragePath(destination)) == [KEY, KEY + MANIFEST_SUFFIX]
    # The asset event carries the window's uri and count.
    (asset,) = list(outlet_events)
    assert asset.uri == f"file://{tmp_path}/landing/workspace=hitchhikers-workspace"
    assert outlet_events[asset].extra == {
        **xcom,
        # Whose landing it is, in the asset definition's shape: the destination with its connection id, if any.
        "destination": destination,
        "workspace": "hitchhikers-workspace",
        "event_types": None,
    }


def test_the_token_is_in_no_xcom_manifest_or_object(simulator, clock, destination, caplog, capsys):
    simulator()
    xcom, outlet_events = run_window(make_operator(clock, destination=destination), DAY0, DAY1)
    landed = ObjectStoragePath(destination)
    blobs = [gzip.decompress(ObjectStoragePath(xcom["uri"]).read_bytes())]
    blobs += [(landed / key).read_bytes() for key in all_keys(landed) if not key.endswith(".gz")]
    blobs.append(json.dumps(xcom).encode())
    blobs.append(json.dumps(outlet_events[next(iter(outlet_events))].extra).encode())
    blobs.append((caplog.text + capsys.readouterr().out).encode())
    assert len(blobs) == 5
    for blob in blobs:
        assert TOKEN.encode() not in blob


def test_adjacent_windows_split_every_event_exactly_once(simulator, clock, destination):
    sim = simulator(days=2)
    operator = make_operator(clock, destination=destination)
    landed = []
    for hour in range(0, 48, 6):  # six-hour windows across two days, edges included
        start = DAY0 + timedelta(hours=hour)
        xcom, _ = run_window(operator, start, start + timedelta(hours=6))
        landed.extend(read_events(xcom["uri"]))
    assert landed == sim.events(DAY0, DAY0 + timedelta(days=2))


def test_event_types_pull_each_type_into_one_object(simulator, clock, destination):
    sim = simulator()
    operator = make_operator(clock, destination=destination, event_types=["user_access", "custom_role", "user_access"])
    xcom, _ = run_window(operator, DAY0, DAY1)
    expected = sim.events(DAY0, DAY1, "custom_role") + sim.events(DAY0, DAY1, "user_access")
    assert read_events(xcom["uri"]) == expected
    manifest = read_manifest(xcom["manifest_uri"])
    assert manifest["filters"] == {"event_types": ["custom_role", "user_access"]}
    assert [(p["event_type"], p["records"]) for p in manifest["pulls"]] == [
        ("custom_role", len(sim.events(DAY0, DAY1, "custom_role"))),
        ("user_access", len(sim.events(DAY0, DAY1, "user_access"))),
    ]
    window_requests = [r for r in sim.requests if "from" in r.params]
    assert {r.params.get("eventType") for r in window_requests} == {"custom_role", "user_access"}
    # Plus one look at the retention horizon, for the whole task, unfiltered.
    (probe,) = [r for r in sim.requests if "from" not in r.params]
    assert (probe.params["limit"], probe.params["sortOrder"], probe.params.get("eventType")) == ("1", "asc", None)
    assert xcom["uri"].endswith(
        "audit_logs_20261001T000000Z_20261002T000000Z.event_types=custom_role,user_access.jsonl.gz"
    )


@pytest.mark.parametrize("filtered_first", [False, True], ids=["whole-then-filtered", "filtered-then-whole"])
def test_a_filtered_window_never_replaces_the_whole_window(simulator, clock, destination, filtered_first):
    sim = simulator()
    whole = make_operator(clock, destination=destination)
    filtered = make_operator(clock, destination=destination, event_types=["custom_role"])
    runs = [(filtered, "filtered"), (whole, "whole")] if filtered_first else [(whole, "whole"), (filtered, "filtered")]
    xcoms = {name: run_window(operator, DAY0, DAY1)[0] for operator, name in runs}

    assert xcoms["whole"]["uri"] != xcoms["filtered"]["uri"]
    assert read_events(xcoms["whole"]["uri"]) == sim.events(DAY0, DAY1)
    assert read_events(xcoms["filtered"]["uri"]) == sim.events(DAY0, DAY1, "custom_role")
    assert 0 < xcoms["filtered"]["records"] < xcoms["whole"]["records"]
    assert read_manifest(xcoms["whole"]["manifest_uri"])["filters"] == {"event_types": None}
    assert read_manifest(xcoms["filtered"]["manifest_uri"])["filters"] == {"event_types": ["custom_role"]}
    assert len(snapshot(ObjectStoragePath(destination))) == 4  # two objects, two manifests
    (whole_asset,), (filtered_asset,) = whole.outlets, filtered.outlets
    assert filtered_asset.uri == whole_asset.uri + "/event_types=custom_role"


def test_an_empty_window_still_lands_an_empty_object_and_a_manifest(simulator, clock, destination):
    simulator([])
    xcom, _ = run_window(make_operator(clock, destination=destination), DAY0, DAY1)
    assert xcom["records"] == 0
    assert gzip.decompress(ObjectStoragePath(xcom["uri"]).read_bytes()) == b""
    assert read_manifest(xcom["manifest_uri"])["records"] == 0


def test_explicit_templated_bounds_override_the_data_interval(simulator, clock, destination):
    sim = simulator()
    operator = make_operator(
        clock, destination=destination, start="2026-10-02T06:00:00Z", end="2026-10-02 07:00:00+00:00"
    )
    xcom, _ = run_window(operator, None, None)
    assert xcom["start"] == "2026-10-02T06:00:00+00:00"
    assert read_events(xcom["uri"]) == sim.events(DAY1 + timedelta(hours=6), DAY1 + timedelta(hours=7))
    assert "/dt=2026-10-02/audit_logs_20261002T060000Z_20261002T070000Z.jsonl.gz" in xcom["uri"]


def test_a_failed_rerun_keeps_the_previous_object_and_manifest(simulator, clock, destination):
    sim = simulator()
    operator = make_operator(clock, destination=destination)
    run_window(operator, DAY0, DAY1)
    before = snapshot(ObjectStoragePath(destination))
    assert len(before) == 2

    # An outage longer than the retry budget, a few pages into the rerun.
    sim.queue_faults(*(["ok"] * 3 + ["503"] * 50))
    with pytest.raises(WebflowRetriesExhaustedError):
        run_window(operator, DAY0, DAY1)
    assert snapshot(ObjectStoragePath(destination)) == before  # same keys (no temporary left), same bytes


def test_a_failed_first_run_leaves_nothing_at_the_final_key(simulator, clock, destination):
    simulator()
    with pytest.raises(WebflowAuthError, match="Enterprise"):
        run_window(make_operator(clock, destination=destination, workspace="starter-workspace"), DAY0, DAY1)
    assert snapshot(ObjectStoragePath(destination)) == {}


def test_late_events_inside_the_written_part_restart_the_window(simulator, clock, destination, capsys):
    sim = simulator()
    late = {
        "timestamp": "2026-10-01T00:00:00.500Z",
        "eventType": "user_access",
        "eventSubType": "login",
        "actor": {"id": "late", "email": "late@example.com", "type": "person"},
        "workspace": {"id": "6621ccb459b561c69f29d57c", "slug": "hitchhikers-workspace"},
        "payload": {"method": "sso", "location": "Dublin IE", "ipAddress": "34.240.11.9"},
    }
    insert_on_request(sim, 4, late)  # three pages already written
    xcom, _ = run_window(make_operator(clock, destination=destination), DAY0, DAY1)
    landed = read_events(xcom["uri"])
    assert landed == sim.events(DAY0, DAY1)
    assert late in landed
    assert "pulling the whole window again (attempt 2 of 3)" in capsys.readouterr().out
    assert read_manifest(xcom["manifest_uri"])["records"] == len(landed)


def test_late_events_on_every_attempt_fail_without_an_object(simulator, clock, destination):
    sim = simulator()
    counter = iter(range(10**6))

    def insert_always(path, params) -> None:
        n = next(counter)
        if n % 5 == 4:
            sim.insert_event(
                {
                    "timestamp": "2026-10-01T00:00:00.250Z",
                    "eventType": "user_access",
                    "eventSubType": "logout",
                    "actor": {"id": f"late{n}", "type": "token"},
                    "workspace": {"id": "6621ccb459b561c69f29d57c", "slug": "hitchhikers-workspace"},
                    "payload": {},
                }
            )

    sim.on_request = insert_always
    # Whichever way the hook notices (a changed total or a changed prefix), the task fails whole.
    with pytest.raises(WebflowPagingError):
        run_window(make_operator(clock, destination=destination, max_window_attempts=2), DAY0, DAY1)
    assert snapshot(ObjectStoragePath(destination)) == {}


@pytest.mark.parametrize(
    ("context_bounds", "kwargs", "message"),
    [
        pytest.param((None, None), {}, "no data interval", id="manual-run-without-logical-date"),
        pytest.param((DAY0, DAY0), {}, "CronDataIntervalTimetable", id="zero-width-interval"),
        pytest.param((DAY0, DAY1), {"start": "2026-10-01T00:00:00"}, "no UTC offset", id="naive-start"),
        pytest.param((DAY0, DAY1), {"end": "2026-09-30T00:00:00Z"}, "must be before", id="end-before-start"),
        pytest.param((DAY0, DAY1), {"workspace": "{{ 'a/../b' }}"}, "workspace", id="templated-path-injection"),
        pytest.param((DAY0, DAY1), {"destination": "{{ 'bucket/prefix' }}"}, "no URL scheme", id="no-scheme"),
        pytest.param((DAY0, DAY1), {"event_types": ["{{ 'logins' }}"]}, "Unknown event_type", id="unknown-type"),
    ],
)
def test_bad_input_fails_before_any_request(simulator, clock, destination, context_bounds, kwargs, message):
    sim = simulator()
    kwargs.setdefault("destination", destination)
    operator = make_operator(clock, **kwargs)
    operator.render_template_fields(context={})  # as the task runner does before execute
    with pytest.raises(WebflowConfigurationError, match=message):
        run_window(operator, *context_bounds)
    assert sim.request_count == 0
    assert snapshot(ObjectStoragePath(destination)) == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"destination": "s3-bucket/prefix"}, "no URL scheme"),
        ({"destination": "ftp://host/path"}, "not supported"),
        ({"destination": "file://relative/path"}, "absolute"),
        ({"workspace": "../other"}, "workspace"),
        ({"event_types": ["user_access", "logins"]}, "Unknown event_type"),
        ({"file_format": "csv"}, "file_format"),
        ({"max_window_attempts": 0}, "max_window_attempts"),
    ],
)
def test_bad_static_arguments_break_the_dag_at_parse_time(kwargs, message, destination):
    kwargs.setdefault("destination", destination)
    with pytest.raises(WebflowConfigurationError, match=message):
        make_operator(**kwargs)


def test_templated_destination_declares_no_asset_but_explicit_outlets_get_the_event(simulator, clock, tmp_path):
    simulator()
    templated = make_operator(clock, destination=f"file://{tmp_path}/{{{{ ds }}}}")
    assert templated.outlets == []

    mine = Asset(uri=f"file://{tmp_path}/mine")
    operator = make_operator(clock, destination=f"file://{tmp_path}/out", outlets=[mine])
    xcom, outlet_events = run_window(operator, DAY0, DAY1)
    assert operator.outlets == [mine]
    assert outlet_events[mine].extra["records"] == xcom["records"]


def test_progress_and_summary_are_logged(simulator, clock, destination, caplog, capsys):
    simulator(config=SimulatorConfig(rate_limit=1000))
    xcom, _ = run_window(make_operator(clock, destination=destination), DAY0, DAY1)
    logs = caplog.text + capsys.readouterr().out
    assert "Landing Webflow audit logs of workspace hitchhikers-workspace" in logs
    assert f"Landed {xcom['records']} events" in logs
    assert "waiting on the rate limit" in logs


def test_parquet_holds_the_same_events_in_a_fixed_schema(simulator, clock, destination):
    import pyarrow.parquet as pq  # the parquet extra is part of make test: a missing install must fail here

    from airflow_webflow_audit.api import parse_timestamp
    from airflow_webflow_audit.landing.formats import parquet_schema

    sim = simulator()
    operator = make_operator(clock, destination=destination, file_format="parquet")
    xcom, _ = run_window(operator, DAY0, DAY1)
    assert xcom["uri"].endswith("audit_logs_20261001T000000Z_20261002T000000Z.parquet")
    first_bytes = ObjectStoragePath(xcom["uri"]).read_bytes()
    with ObjectStoragePath(xcom["uri"]).open("rb") as handle:
        table = pq.read_table(handle)
    assert table.schema.equals(parquet_schema(), check_metadata=False)
    truth = sim.events(DAY0, DAY1)
    rows = table.to_pylist()
    assert len(rows) == len(truth) == xcom["records"]
    for row, event in zip(rows, truth, strict=True):
        assert row["timestamp"] == parse_timestamp(event["timestamp"])
        assert (row["event_type"], row["event_sub_type"]) == (event["eventType"], event["eventSubType"])
        assert (row["actor_id"], row["actor_type"]) == (event["actor"]["id"], event["actor"]["type"])
        assert row["actor_email"] == event["actor"].get("email")
        assert row["workspace_slug"] == event["workspace"]["slug"]
        assert json.loads(row["payload"]) == event["payload"]
    assert read_manifest(xcom["manifest_uri"])["object"]["sha256"] == sha256_of(xcom["uri"])
    rerun, _ = run_window(operator, DAY0, DAY1)
    assert ObjectStoragePath(rerun["uri"]).read_bytes() == first_bytes


def lone_surrogate_event(**fields):
    base = {
        "timestamp": "2026-10-01T12:00:00.000Z",
        "eventType": "user_access",
        "eventSubType": "login",
        "actor": {"id": "a" * 24, "type": "person", "email": "marvin@example.com"},
        "workspace": {"id": "6621ccb459b561c69f29d57c", "slug": "hitchhikers-workspace"},
        "payload": {"method": "sso", "location": "Dublin IE", "ipAddress": "34.240.11.7"},
    }
    return {**base, **fields}


def test_parquet_keeps_a_lone_surrogate_in_the_payload_as_an_escape(simulator, clock, destination):
    import pyarrow.parquet as pq

    sim = simulator()
    odd = lone_surrogate_event(payload={"note": "half a pair: \ud800 here", "location": "Dublin IE"})
    sim.insert_event(odd)
    xcom, _ = run_window(make_operator(clock, destination=destination, file_format="parquet"), DAY0, DAY1)
    with ObjectStoragePath(xcom["uri"]).open("rb") as handle:
        rows = pq.read_table(handle).to_pylist()
    assert len(rows) == len(sim.events(DAY0, DAY1))
    assert [json.loads(row["payload"]) for row in rows if "note" in row["payload"]] == [odd["payload"]]


def test_a_lone_surrogate_parquet_cannot_hold_fails_naming_the_format_not_the_storage(simulator, clock, destination):
    sim = simulator()
    sim.insert_event(lone_surrogate_event(actor={"id": "a" * 24, "type": "person", "email": "m\udc80@example.com"}))
    with pytest.raises(WebflowFormatError) as info:
        run_window(make_operator(clock, destination=destination, file_format="parquet"), DAY0, DAY1)
    text = str(info.value)
    assert "cannot be encoded as Parquet" in text
    assert "'actor_email'" in text
    assert "file_format='jsonl.gz'" in text
    assert "storage" not in text
    assert snapshot(ObjectStoragePath(destination)) == {}
    # The same window lands whole as JSON Lines, the odd event exactly as the API sent it.
    xcom, _ = run_window(make_operator(clock, destination=destination), DAY0, DAY1)
    assert read_events(xcom["uri"]) == sim.events(DAY0, DAY1)


def test_the_manifest_records_the_oldest_event_served_and_a_complete_window(simulator, clock, destination):
    sim = simulator()
    xcom, _ = run_window(make_operator(clock, destination=destination), DAY0, DAY1)
    manifest = read_manifest(xcom["manifest_uri"])
    oldest = sim.events()[0]["timestamp"]
    assert manifest["earliest_available"] == parse_timestamp(oldest).isoformat()
    assert manifest["coverage"] == "complete"
    assert manifest["manifest_format_version"] == 4


@pytest.mark.parametrize(
    ("retention_start", "coverage", "where"),
    [
        ("2026-10-03T00:00:00Z", "before_earliest_available", "ends at or before"),
        ("2026-10-01T12:00:00Z", "partly_before_earliest_available", "starts before"),
    ],
)
def test_a_window_past_the_apis_retention_is_landed_but_never_claimed_complete(
    simulator, clock, destination, capsys, retention_start, coverage, where
):
    sim = simulator(config=SimulatorConfig(retention_start=retention_start))
    horizon = parse_timestamp(retention_start)
    xcom, _ = run_window(make_operator(clock, destination=destination), DAY0, DAY1)
    served = [e for e in sim.events(DAY0, DAY1) if parse_timestamp(e["timestamp"]) >= horizon]
    assert read_events(xcom["uri"]) == served
    manifest = read_manifest(xcom["manifest_uri"])
    assert manifest["coverage"] == coverage
    assert parse_timestamp(manifest["earliest_available"]) >= horizon
    log = capsys.readouterr().out
    assert f"The window {where} the oldest event Webflow still serves" in log
    assert f"coverage={coverage}" in log


def test_a_rerun_past_the_retention_keeps_the_landed_window_and_writes_nothing(simulator, clock, destination, capsys):
    sim = simulator()
    first, _ = run_window(make_operator(clock, destination=destination), DAY0, DAY1)
    before = snapshot(ObjectStoragePath(destination))
    sim.configure(retention_start="2026-10-03T00:00:00Z")  # the API no longer serves the window
    again, _ = run_window(make_operator(clock, destination=destination), DAY0, DAY1)
    assert snapshot(ObjectStoragePath(destination)) == before
    assert (again["records"], again["new_records"], again["uri"]) == (first["records"], 0, first["uri"])
    log = capsys.readouterr().out
    assert f"{first['records']} of the {first['records']} events already landed for this window are no longer" in log
    assert "nothing was written" in log


def recent_window(seconds_to_end: float) -> tuple:
    """An hour ending ``seconds_to_end`` from now, as pendulum datetimes: Airflow's data intervals are."""
    end = pendulum.now("UTC").replace(microsecond=0).add(seconds=seconds_to_end)
    return end.subtract(hours=1), end


def test_an_old_window_is_pulled_at_once_whatever_the_settle(simulator, clock, destination):
    simulator()
    xcom, _ = run_window(make_operator(clock, destination=destination, settle=timedelta(days=7)), DAY0, DAY1)
    assert clock.sleeps == []
    assert read_manifest(xcom["manifest_uri"])["settle_seconds"] == 7 * 86400


def test_a_window_that_has_not_settled_is_waited_for_in_place(simulator, clock, destination, capsys):
    simulator()
    start, end = recent_window(seconds_to_end=-60)  # ended a minute ago: 4 minutes of the default 5 to go
    xcom, _ = run_window(make_operator(clock, destination=destination, deferrable=False), start, end)
    (waited,) = clock.sleeps
    # 240 s less the test's own run time so far; wide, so a loaded machine cannot fail it.
    assert 120 < waited <= 240
    assert read_manifest(xcom["manifest_uri"])["settle_seconds"] == 300
    assert "(the window's end plus settle=0:05:00)" in capsys.readouterr().out


def test_a_deferrable_landing_waits_for_the_settle_in_the_triggerer(simulator, clock, destination):
    from airflow.providers.standard.triggers.temporal import DateTimeTrigger
    from airflow.sdk.exceptions import TaskDeferred

    sim = simulator()
    start, end = recent_window(seconds_to_end=30)  # the scheduled run starts as the window ends
    operator = make_operator(clock, destination=destination, deferrable=True, settle="600")  # as rendered
    with pytest.raises(TaskDeferred) as deferred:
        run_window(operator, start, end)
    assert isinstance(deferred.value.trigger, DateTimeTrigger)
    assert deferred.value.trigger.moment == end + timedelta(seconds=600)
    assert deferred.value.method_name == "execute_complete"
    assert sim.request_count == 0  # nothing is asked before the window has settled
    assert snapshot(ObjectStoragePath(destination)) == {}
    assert clock.sleeps == []

    # Resumed, it lands the window it waited for, whatever its templates render to this time (the
    # real clock has not moved: the rest of the wait is slept on the test's clock instead).
    operator.start = operator.end = None
    operator.deferrable = False
    xcom = operator.execute_complete({}, {"moment": end.isoformat()}, **deferred.value.kwargs)
    assert (xcom["start"], xcom["end"]) == (start.isoformat(), end.isoformat())
    assert read_events(xcom["uri"]) == sim.events(start, end)


@pytest.mark.parametrize("settle", [-1, "soon", timedelta(days=8), float("nan"), True])
def test_a_bad_settle_is_refused_when_the_dag_is_parsed(settle):
    with pytest.raises(WebflowConfigurationError, match="settle must be a timedelta or a number of seconds"):
        make_operator(destination="file:///tmp/x", settle=settle)


def test_without_a_workspace_the_connections_default_is_used(simulator, clock, destination):
    sim = simulator()  # its connection's "Default workspace" is the simulator's slug
    xcom, _ = run_window(make_operator(clock, destination=destination, workspace=None), DAY0, DAY1)
    assert "workspace=hitchhikers-workspace/" in xcom["uri"]
    assert read_events(xcom["uri"]) == sim.events(DAY0, DAY1)


@pytest.mark.parametrize("workspace", [None, ""])
def test_no_workspace_anywhere_names_both_fixes(simulator, clock, destination, workspace):
    simulator(conn_extra={"workspace": ""})
    with pytest.raises(WebflowConfigurationError, match=r"pass workspace=.* or set 'Default workspace'"):
        run_window(make_operator(clock, destination=destination, workspace=workspace), DAY0, DAY1)


def test_values_airflow_resolves_later_are_not_checked_when_the_dag_is_parsed():
    from airflow.sdk import DAG, task

    with DAG(dag_id="shapes", schedule=None):

        @task
        def upstream() -> str:
            return "x"

        value = upstream()
        operator = make_operator(destination=value, workspace=value, event_types=value, settle=value)
    assert operator.outlets == []  # no asset can be named before the run


def test_hook_params_give_one_task_its_own_retry_budget(simulator, clock, destination):
    sim = simulator()
    sim.queue_faults(*(["503"] * 3))
    operator = make_operator(clock, destination=destination, hook_params={"max_retries": 0})
    with pytest.raises(WebflowRetriesExhaustedError, match="after 1 attempts"):
        run_window(operator, DAY0, DAY1)
    assert sim.request_count == 1
    with pytest.raises(WebflowConfigurationError, match="Unknown hook_params 'retries'"):
        make_operator(destination=destination, hook_params={"retries": 0})

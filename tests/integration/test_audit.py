"""``python -m airflow_webflow_audit.audit`` over windows landed by the operator: from the bucket alone,
then recounted against the simulator. Local folder, moto S3 and the GCS emulator."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.audit.cli import main
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.landing.layout import MANIFEST_SUFFIX
from airflow_webflow_audit.operators.reconcile import WebflowAuditLogsReconcileOperator
from tests.conftest import DAY0
from tests.landing_helpers import by_time, make_operator, read_events, read_window, run_window
from tests.storage_servers import AWS_CONN_ID

pytestmark = pytest.mark.integration

DAYS = [(DAY0 + timedelta(days=n), DAY0 + timedelta(days=n + 1)) for n in range(3)]
RANGE = ["--start", DAYS[0][0].isoformat(), "--end", DAYS[-1][1].isoformat()]
WORKSPACE = "hitchhikers-workspace"


def key_of(start, end) -> str:
    return f"workspace={WORKSPACE}/dt={start:%Y-%m-%d}/audit_logs_{start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}.jsonl.gz"


def land_days(clock, destination: str, days=DAYS, **kwargs) -> None:
    for start, end in days:
        run_window(make_operator(clock, destination=destination, **kwargs), start, end)


def audit(capsys, destination: str, *extra: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main([destination, "--workspace", WORKSPACE, *RANGE, "--json", *extra])
    return code, json.loads(capsys.readouterr().out)  # the hook's log lines go to stderr


@pytest.fixture
def landed(simulator, clock, tmp_path) -> tuple:
    sim = simulator()
    destination = f"file://{tmp_path}/landing"
    land_days(clock, destination)
    return sim, destination


def test_a_complete_range_is_verified_from_the_bucket(landed, capsys):
    sim, destination = landed
    before = sim.request_count
    code, report = audit(capsys, destination)
    assert code == 0
    assert report["verdict"] == "complete"
    assert [(w["key"], w["status"]) for w in report["windows"]] == [(key_of(*day), "ok") for day in DAYS]
    assert [w["records"] for w in report["windows"]] == [len(sim.events(*day)) for day in DAYS]
    assert report["problems"] == []
    assert sim.request_count == before  # from the bucket alone


def test_the_table_names_each_window_and_ends_with_the_verdict(landed, capsys):
    _, destination = landed
    capsys.readouterr()
    assert main([destination, "--workspace", WORKSPACE, *RANGE]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["window", "(UTC)", "records", "status", "key"]
    assert lines[1].startswith(f"[{DAYS[0][0].isoformat()}, {DAYS[0][1].isoformat()})")
    assert lines[-1].startswith("verdict: complete")


@pytest.mark.parametrize(
    ("damage", "status"),
    [
        ("delete_object", "missing_object"),
        ("delete_manifest", "missing_manifest"),
        ("truncate_object", "corrupt"),
        ("append_a_line", "corrupt"),
    ],
)
def test_a_damaged_window_makes_the_range_incomplete_naming_it(landed, capsys, damage, status):
    _, destination = landed
    target = ObjectStoragePath(destination) / key_of(*DAYS[1])
    manifest = ObjectStoragePath(str(target) + MANIFEST_SUFFIX)
    if damage == "delete_object":
        target.unlink()
    elif damage == "delete_manifest":
        manifest.unlink()
    elif damage == "truncate_object":
        target.write_bytes(target.read_bytes()[:-20])
    else:
        target.write_bytes(gzip.compress(gzip.decompress(target.read_bytes()) + b'{"timestamp":"x"}\n', mtime=0))
    code, report = audit(capsys, destination)
    assert code == 1
    assert report["verdict"] == "incomplete"
    assert [p["kind"] for p in report["problems"]] == [status]
    assert report["problems"][0]["key"] == key_of(*DAYS[1])
    assert report["windows"][1]["status"] == status


def test_an_overlapping_window_and_a_gap_are_problems(simulator, clock, tmp_path, capsys):
    simulator()
    destination = f"file://{tmp_path}/landing"
    noon = DAYS[0][0] + timedelta(hours=12)
    land_days(clock, destination, days=[DAYS[0], (noon, noon + timedelta(days=1))])
    code, report = audit(capsys, destination)
    assert code == 1
    kinds = [(p["kind"], p["start"], p["end"]) for p in report["problems"]]
    assert kinds == [
        ("overlap", noon.isoformat(), (noon + timedelta(days=1)).isoformat()),
        ("gap", (noon + timedelta(days=1)).isoformat(), DAYS[-1][1].isoformat()),
    ]


def test_a_partial_leftover_counts_only_once_it_is_an_hour_old(landed, capsys):
    _, destination = landed
    folder = ObjectStoragePath(destination) / key_of(*DAYS[0])
    leftover = folder.parent / f".{folder.name}.0123456789ab.partial"
    leftover.write_bytes(b"half a window")
    code, _ = audit(capsys, destination)
    assert code == 0  # may be a landing in progress
    two_hours_ago = time.time() - 7200
    os.utime(leftover.path, (two_hours_ago, two_hours_ago))
    code, report = audit(capsys, destination)
    assert code == 1
    (problem,) = report["problems"]
    assert problem["kind"] == "partial_leftover"
    assert problem["start"] == DAYS[0][0].isoformat()


def test_filtered_windows_are_listed_with_a_warning_and_never_tile_the_range(simulator, clock, tmp_path, capsys):
    simulator()
    destination = f"file://{tmp_path}/landing"
    land_days(clock, destination, event_types=["custom_role"])
    code, report = audit(capsys, destination)
    assert code == 1
    assert [p["kind"] for p in report["problems"]] == ["gap"]
    filtered = [warning for warning in report["warnings"] if "filtered by event type (custom_role)" in warning]
    assert len(filtered) == 3
    land_days(clock, destination)  # the whole windows beside them
    assert audit(capsys, destination)[0] == 0
    assert audit(capsys, destination, "--strict")[0] == 1


def test_recount_costs_one_request_per_window_when_nothing_changed(landed, capsys):
    sim, destination = landed
    before = sim.request_count
    code, report = audit(capsys, destination, "--recount")
    assert code == 0
    assert sim.request_count - before == len(DAYS) == report["recount_requests"]


def test_recount_finds_a_late_event_and_names_its_window(landed, capsys):
    sim, destination = landed
    late = dict(sim.events(*DAYS[1])[0], timestamp="2026-10-02T23:59:59.500Z")
    sim.insert_event(late)
    code, report = audit(capsys, destination, "--recount")
    assert code == 1
    (problem,) = report["problems"]
    assert (problem["kind"], problem["key"]) == ("stale", key_of(*DAYS[1]))
    assert "the API now holds 1 events its parts do not" in problem["detail"]


def test_recount_ignores_a_change_only_in_the_padding(landed, capsys):
    sim, destination = landed
    # Exactly at the last window's end: inside its padded request, so its total moves, but in no landed window.
    sim.insert_event(dict(sim.events(*DAYS[2])[0], timestamp=DAYS[2][1].isoformat().replace("+00:00", "Z")))
    before = sim.request_count
    code, report = audit(capsys, destination, "--recount")
    assert code == 0
    assert [w["status"] for w in report["windows"]] == ["ok"] * 3
    assert report["recount_requests"] == sim.request_count - before > len(DAYS)  # it pulled the last window


def test_recount_reports_retention_as_a_warning_never_stale(landed, capsys):
    sim, destination = landed
    sim.configure(retention_start="2026-10-01T12:00:00Z")
    code, report = audit(capsys, destination, "--recount")
    assert code == 0
    assert report["windows"][0]["status"] == "ok"
    assert any("(retention)" in warning for warning in report["warnings"])


@pytest.mark.parametrize(
    "args",
    [
        ["file:///tmp/x", "--workspace", WORKSPACE, "--start", "2026-10-01T00:00:00", "--end", "2026-10-02T00:00:00Z"],
        ["file:///tmp/x", "--workspace", WORKSPACE, "--start", "2026-10-02T00:00:00Z", "--end", "2026-10-01T00:00:00Z"],
        ["relative/path", "--workspace", WORKSPACE, *RANGE],
        ["file:///tmp/x", "--workspace", "../x", *RANGE],
    ],
    ids=["naive-start", "start-after-end", "no-scheme", "bad-workspace"],
)
def test_bad_usage_exits_2_naming_the_fix(args, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "Traceback" not in err


def test_missing_arguments_exit_2():
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2


def test_an_unreachable_api_exits_3_not_1(landed, capsys, monkeypatch):
    _, destination = landed
    down = {"conn_type": "webflow", "password": "t", "host": "http://127.0.0.1:9", "extra": {"max_retries": 0}}
    monkeypatch.setenv("AIRFLOW_CONN_WEBFLOW_DOWN", json.dumps(down))
    capsys.readouterr()
    assert main([destination, "--workspace", WORKSPACE, *RANGE, "--recount", "--conn-id", "webflow_down"]) == 3
    assert "could not audit" in capsys.readouterr().err


def test_the_module_runs_from_the_command_line_and_prints_clean_json(landed):
    _, destination = landed
    command = [sys.executable, "-m", "airflow_webflow_audit.audit", destination, "--workspace", WORKSPACE, *RANGE]
    result = subprocess.run(
        [*command, "--json", "--recount"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["verdict"] == "complete"  # nothing but the report on stdout
    assert "Pulling" not in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("store", ["s3", "gcs"])
def test_object_storage_late_event_found_then_clean(simulator, clock, request, capsys, store):
    sim = simulator()
    if store == "s3":
        destination = f"s3://{AWS_CONN_ID}@{request.getfixturevalue('s3_bucket')}/webflow"
    else:
        destination = f"gs://{request.getfixturevalue('gcs_bucket')}/webflow"
    land_days(clock, destination)
    assert audit(capsys, destination, "--recount")[0] == 0
    late = dict(sim.events(*DAYS[0])[0], timestamp="2026-10-01T08:00:00.250Z")
    sim.insert_event(late)
    code, report = audit(capsys, destination, "--recount")
    assert code == 1
    assert [(p["kind"], p["key"]) for p in report["problems"]] == [("stale", key_of(*DAYS[0]))]
    # The reconcile operator re-lands it; the range then proves complete and the object is the truth.
    reconcile = WebflowAuditLogsReconcileOperator(
        task_id="reconcile", workspace=WORKSPACE, destination=destination, start=RANGE[1], end=RANGE[3]
    )
    reconcile.hook = WebflowHook(reconcile.webflow_conn_id, clock=clock)
    assert [w["key"] for w in reconcile.execute({})["relanded"]] == [key_of(*DAYS[0])]
    code, report = audit(capsys, destination, "--recount")
    assert code == 0
    assert report["windows"][0]["parts"] == 2
    # The first part is untouched; the second holds the late event alone.
    assert read_events(f"{destination}/{key_of(*DAYS[0])}") == [e for e in sim.events(*DAYS[0]) if e != late]
    assert by_time(read_window(f"{destination}/{key_of(*DAYS[0])}")) == by_time(sim.events(*DAYS[0]))
    (ObjectStoragePath(destination) / key_of(*DAYS[2])).unlink()
    code, report = audit(capsys, destination)
    assert [(p["kind"], p["key"]) for p in report["problems"]] == [("missing_object", key_of(*DAYS[2]))]


def test_parquet_windows_are_verified_and_a_damaged_one_is_corrupt(simulator, clock, tmp_path, capsys):
    sim = simulator()
    destination = f"file://{tmp_path}/landing"
    land_days(clock, destination, file_format="parquet")
    code, report = audit(capsys, destination, "--recount")
    assert code == 0
    assert [w["records"] for w in report["windows"]] == [len(sim.events(*day)) for day in DAYS]
    assert all(w["key"].endswith(".parquet") for w in report["windows"])
    target = ObjectStoragePath(destination) / report["windows"][0]["key"]
    target.write_bytes(target.read_bytes()[:100])  # the footer gone
    code, report = audit(capsys, destination)
    assert code == 1
    assert [p["kind"] for p in report["problems"]] == ["corrupt"]

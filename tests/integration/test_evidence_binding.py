"""Evidence bound to its place: what someone with write access to the bucket (and no signing key) can
move around, and every reader refusing it as the audit does.

Windows are landed and signed by the operator; then validly signed manifests are moved to where they
do not belong (a filtered landing over the whole window, another workspace's window into this
workspace's folder), objects the layout does not own are added, and the audit must exit 1 naming
them, while the reconcile, OCSF and findings operators refuse and write nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.audit.cli import main
from airflow_webflow_audit.exceptions import WebflowArchiveTamperedError, WebflowRangeIncompleteError
from airflow_webflow_audit.landing.layout import MANIFEST_SUFFIX
from airflow_webflow_audit.operators.findings import WebflowAuditFindingsOperator
from airflow_webflow_audit.operators.ocsf import WebflowAuditOCSFOperator
from airflow_webflow_audit.operators.reconcile import WebflowAuditLogsReconcileOperator
from airflow_webflow_audit.signing import ManifestSigner, generate_private_key_pem, public_key_pem
from airflow_webflow_audit.testing.simulator.generator import DEFAULT_WORKSPACE_ID
from tests.conftest import DAY0, TOKEN
from tests.landing_helpers import make_operator, run_window, snapshot
from tests.storage_servers import AWS_CONN_ID

pytestmark = pytest.mark.integration

WORKSPACE = "hitchhikers-workspace"
DAYS = [(DAY0 + timedelta(days=n), DAY0 + timedelta(days=n + 1)) for n in range(3)]
RANGE = ["--start", DAYS[0][0].isoformat(), "--end", DAYS[-1][1].isoformat()]


def name_of(start, end, filtered: str = "") -> str:
    label = f".event_types={filtered}" if filtered else ""
    return f"audit_logs_{start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}{label}.jsonl.gz"


def key_of(start, end, workspace: str = WORKSPACE, filtered: str = "") -> str:
    return f"workspace={workspace}/dt={start:%Y-%m-%d}/{name_of(start, end, filtered)}"


@pytest.fixture
def archive(simulator, clock, tmp_path, monkeypatch) -> dict:
    """Three days landed whole and signed; the public key in a file; the signing key stays configured."""
    sim = simulator()
    pem = generate_private_key_pem()
    monkeypatch.setenv("AIRFLOW_CONN_WEBFLOW_AUDIT_SIGNING", json.dumps({"conn_type": "generic", "password": pem}))
    destination = f"file://{tmp_path}/landing"
    for day in DAYS:
        run_window(make_operator(clock, destination=destination), *day)
    public = tmp_path / "signing.pub.pem"
    public.write_text(public_key_pem(ManifestSigner.from_pem(pem, source="t").private_key.public_key()))
    return {"sim": sim, "destination": destination, "public": str(public), "root": ObjectStoragePath(destination)}


def audit(capsys, archive: dict, *extra: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(
        [archive["destination"], "--workspace", WORKSPACE, *RANGE, "--json", "--public-key", archive["public"], *extra]
    )
    return code, json.loads(capsys.readouterr().out)


def problems(report: dict) -> list[tuple[str, str]]:
    return [(p["kind"], p["key"]) for p in report["problems"]]


def move_over(root: ObjectStoragePath, source_key: str, target_key: str) -> None:
    """Put the object and manifest at ``source_key`` in place of those at ``target_key`` (a bucket writer can)."""
    for suffix in ("", MANIFEST_SUFFIX):
        target = root / (target_key + suffix)
        target.unlink()
        target.write_bytes((root / (source_key + suffix)).read_bytes())


def consumers_refuse_and_write_nothing(archive: dict, clock, tmp_path, match: str) -> None:
    """The reconcile, OCSF and findings operators refuse the range, naming the problem, and write nothing."""
    root = archive["root"]
    before = snapshot(root)
    context = {"data_interval_start": DAYS[0][0], "data_interval_end": DAYS[-1][1]}
    reconcile = WebflowAuditLogsReconcileOperator(
        task_id="reconcile", workspace=WORKSPACE, destination=archive["destination"], start=RANGE[1], end=RANGE[3]
    )
    reconcile.hook = make_operator(clock, destination=archive["destination"]).hook
    with pytest.raises(WebflowRangeIncompleteError, match=match):
        reconcile.execute(context)
    lake = f"file://{tmp_path}/lake"
    ocsf = WebflowAuditOCSFOperator(
        task_id="ocsf",
        workspace=WORKSPACE,
        source=archive["destination"],
        destination=lake,
        region="us-east-1",
        account_id="123456789012",
    )
    with pytest.raises(WebflowRangeIncompleteError, match=match):
        ocsf.execute(context)
    findings = WebflowAuditFindingsOperator(
        task_id="findings", workspace=WORKSPACE, destination=archive["destination"], notifiers=[]
    )
    with pytest.raises(WebflowRangeIncompleteError, match=match):
        findings.execute({})
    assert snapshot(root) == before
    assert not ObjectStoragePath(lake).exists() or snapshot(ObjectStoragePath(lake)) == {}


def test_the_untouched_archive_verifies_and_every_consumer_reads_it(archive, capsys, clock, tmp_path):
    code, report = audit(capsys, archive)
    assert (code, report["problems"], report["warnings"]) == (0, [], [])
    assert [w["signed_parts"] for w in report["windows"]] == [1, 1, 1]
    context = {"data_interval_start": DAYS[0][0], "data_interval_end": DAYS[-1][1]}
    converted = WebflowAuditOCSFOperator(
        task_id="ocsf",
        workspace=WORKSPACE,
        source=archive["destination"],
        destination=f"file://{tmp_path}/lake",
        region="us-east-1",
        account_id="123456789012",
    ).execute(context)
    assert converted["events"] == len(archive["sim"].events(DAYS[0][0], DAYS[-1][1]))
    learned = WebflowAuditFindingsOperator(
        task_id="findings", workspace=WORKSPACE, destination=archive["destination"], notifiers=[]
    ).execute({})
    assert learned["applied_through"] == DAYS[-1][1].isoformat()


def test_a_filtered_landing_moved_over_the_whole_window_is_misplaced_everywhere(archive, capsys, clock, tmp_path):
    root = archive["root"]
    run_window(make_operator(clock, destination=archive["destination"], event_types=["custom_role"]), *DAYS[1])
    move_over(root, key_of(*DAYS[1], filtered="custom_role"), key_of(*DAYS[1]))
    code, report = audit(capsys, archive)
    assert code == 1
    assert ("misplaced", key_of(*DAYS[1])) in problems(report)
    detail = next(p["detail"] for p in report["problems"] if p["kind"] == "misplaced")
    assert "landed with event_types=custom_role, and lies at the whole window's name" in detail
    consumers_refuse_and_write_nothing(archive, clock, tmp_path, match=r"misplaced \[2026-10-02")


def test_another_workspaces_window_copied_into_this_folder_is_misplaced(archive, capsys, clock, tmp_path):
    root = archive["root"]
    # The same Webflow workspace landed under its id: another folder, same signing key.
    run_window(make_operator(clock, destination=archive["destination"], workspace=DEFAULT_WORKSPACE_ID), *DAYS[1])
    move_over(root, key_of(*DAYS[1], workspace=DEFAULT_WORKSPACE_ID), key_of(*DAYS[1]))
    code, report = audit(capsys, archive)
    assert code == 1
    (misplaced,) = [p for p in report["problems"] if p["kind"] == "misplaced"]
    assert misplaced["key"] == key_of(*DAYS[1])
    assert f"it is of workspace {DEFAULT_WORKSPACE_ID!r}" in misplaced["detail"]
    assert "describes the object" in misplaced["detail"]
    consumers_refuse_and_write_nothing(archive, clock, tmp_path, match=r"misplaced \[2026-10-02")


def test_a_landing_refuses_to_build_on_a_misplaced_manifest(archive, clock):
    root = archive["root"]
    run_window(make_operator(clock, destination=archive["destination"], event_types=["custom_role"]), *DAYS[1])
    move_over(root, key_of(*DAYS[1], filtered="custom_role"), key_of(*DAYS[1]))
    before = snapshot(root)
    with pytest.raises(WebflowArchiveTamperedError, match="cannot be built on: misplaced"):
        run_window(make_operator(clock, destination=archive["destination"]), *DAYS[1])
    assert snapshot(root) == before


@pytest.mark.parametrize(
    "stray",
    [
        "workspace=hitchhikers-workspace/dt=2026-10-02/audit_logs_fake.jsonl.gz",
        "workspace=hitchhikers-workspace/dt=2026-10-02-extra/audit_logs_20261002T000000Z_20261003T000000Z.jsonl.gz",
        "workspace=hitchhikers-workspace/dt=2026-10-03/audit_logs_20261002T000000Z_20261003T000000Z.jsonl.gz",
        "workspace=hitchhikers-workspace/events.jsonl.gz",
        # Other spellings of real names: each parses to a real part's fields, and a reader that globs the
        # folder (DuckDB's read_json('dt=.../*.jsonl.gz')) counts what it holds.
        "workspace=hitchhikers-workspace/dt=2026-10-02/audit_logs_20261002T000000.000000Z_20261003T000000Z.jsonl.gz",
        "workspace=hitchhikers-workspace/dt=2026-10-02/audit_logs_20261002T000000Z_20261003T000000.000000Z.jsonl.gz",
        "workspace=hitchhikers-workspace/dt=2026-10-02/audit_logs_20261002T000000Z_20261003T000000Z.part-00002.jsonl.gz",
        "workspace=hitchhikers-workspace/dt=2026-10-02/"
        "audit_logs_20261002T000000Z_20261003T000000Z.event_types=custom_role,custom_role.jsonl.gz",
        "workspace=hitchhikers-workspace/dt=2026-10-02/"
        "audit_logs_20261002T000000Z_20261003T000000Z.event_types=user_access,custom_role.jsonl.gz",
        "workspace=hitchhikers-workspace/dt=2026-10-02/"
        "audit_logs_20261002T000000Z_20261003T000000Z.jsonl.gz.manifest.json.manifest.json",
    ],
    ids=[
        "unknown-name",
        "extra-folder",
        "wrong-day-folder",
        "workspace-root",
        "fraction-on-start",
        "fraction-on-end",
        "five-digit-part",
        "repeated-event-type",
        "unsorted-event-types",
        "doubled-manifest-suffix",
    ],
)
def test_an_object_the_layout_does_not_own_is_named(archive, capsys, clock, tmp_path, stray):
    root = archive["root"]
    (root / stray).parent.mkdir(parents=True, exist_ok=True)
    (root / stray).write_bytes((root / key_of(*DAYS[1])).read_bytes())
    code, report = audit(capsys, archive)
    assert code == 1
    owner = stray.rsplit("/", 1)[0] if "extra" in stray else stray  # a stray folder is named as the folder
    assert [kind for kind, _ in problems(report)] == ["unexpected_object"]
    assert problems(report)[0][1] == owner
    if ".000000Z" in stray or "part-0" in stray or "," in stray:
        assert "another spelling of audit_logs_2026100" in report["problems"][0]["detail"]
    consumers_refuse_and_write_nothing(archive, clock, tmp_path, match="unexpected_object")


def test_a_look_alike_of_the_next_part_does_not_stop_the_real_one_landing(archive, capsys, clock):
    """A landing ignores another spelling of its next part's name and lands the part at its own name;
    the audit names the look-alike and nothing else."""
    root = archive["root"]
    look_alike = key_of(*DAYS[1]).replace(".jsonl.gz", ".part-00002.jsonl.gz")
    (root / look_alike).write_bytes((root / key_of(*DAYS[1])).read_bytes())
    late = dict(archive["sim"].events(*DAYS[1])[0], payload={"late": True})
    archive["sim"].insert_event(late)
    result, _ = run_window(make_operator(clock, destination=archive["destination"]), *DAYS[1])
    assert (result["part"], result["new_records"]) == (2, 1)
    assert result["uri"].endswith(".part-0002.jsonl.gz")
    code, report = audit(capsys, archive)
    assert (code, problems(report)) == (1, [("unexpected_object", look_alike)])


def test_known_leftovers_and_the_findings_files_are_not_strays(archive, capsys):
    WebflowAuditFindingsOperator(
        task_id="findings", workspace=WORKSPACE, destination=archive["destination"], notifiers=[]
    ).execute({})
    code, report = audit(capsys, archive)
    assert (code, report["problems"]) == (0, [])


def test_a_manifest_that_is_a_folder_names_its_window(archive, capsys):
    root = archive["root"]
    manifest = root / (key_of(*DAYS[1]) + MANIFEST_SUFFIX)
    manifest.unlink()
    manifest.mkdir()
    code, report = audit(capsys, archive)
    assert code == 1
    assert problems(report) == [("corrupt", key_of(*DAYS[1]))]
    assert "is a folder" in report["problems"][0]["detail"]


def test_a_dangling_manifest_link_is_named_not_blamed_on_another_landing(archive, clock, capsys):
    root = archive["root"]
    manifest = root / (key_of(*DAYS[1]) + MANIFEST_SUFFIX)
    manifest.unlink()
    os.symlink("/nonexistent/manifest.json", manifest.path)
    with pytest.raises(WebflowArchiveTamperedError, match="dangling link") as info:
        run_window(make_operator(clock, destination=archive["destination"]), *DAYS[1])
    assert "another landing" not in str(info.value)
    code, report = audit(capsys, archive)
    assert (code, problems(report)) == (1, [("corrupt", key_of(*DAYS[1]))])


def test_a_window_of_three_days_audits_complete_over_its_last_day(simulator, clock, tmp_path, capsys):
    simulator()
    destination = f"file://{tmp_path}/landing"
    run_window(make_operator(clock, destination=destination), DAYS[0][0], DAYS[2][1])
    for start, end in [DAYS[2], DAYS[1], (DAYS[1][0] + timedelta(hours=5), DAYS[2][0] + timedelta(hours=1))]:
        capsys.readouterr()
        code = main(
            [destination, "--workspace", WORKSPACE, "--start", start.isoformat(), "--end", end.isoformat(), "--json"]
        )
        report = json.loads(capsys.readouterr().out)
        assert (code, report["problems"]) == (0, [])
        assert [(w["start"], w["end"]) for w in report["windows"]] == [(DAYS[0][0].isoformat(), DAYS[2][1].isoformat())]


def test_a_two_day_window_beside_daily_ones_is_an_overlap_over_its_last_day(simulator, clock, tmp_path, capsys):
    simulator()
    destination = f"file://{tmp_path}/landing"
    for day in DAYS:
        run_window(make_operator(clock, destination=destination), *day)
    run_window(make_operator(clock, destination=destination), DAYS[1][0], DAYS[2][1])  # another DAG's 2-day window
    capsys.readouterr()
    code = main(
        [
            destination,
            "--workspace",
            WORKSPACE,
            "--start",
            DAYS[2][0].isoformat(),
            "--end",
            DAYS[2][1].isoformat(),
            "--json",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    # The 2-day window overlaps the day's own window, and the 10-02 window outside the range.
    assert [p["kind"] for p in report["problems"]] == ["overlap", "overlap"]


def test_the_ocsf_operator_refuses_a_rewritten_window_whose_signature_was_stripped(archive, clock, tmp_path):
    root = archive["root"]
    manifest = json.loads((root / (key_of(*DAYS[1]) + MANIFEST_SUFFIX)).read_bytes())
    del manifest["signature"]
    target = root / (key_of(*DAYS[1]) + MANIFEST_SUFFIX)
    target.unlink()
    target.write_bytes(json.dumps(manifest).encode())
    consumers_refuse_and_write_nothing(archive, clock, tmp_path, match=r"unsigned \[2026-10-02")


@pytest.mark.parametrize("store", ["s3", "gcs"])
def test_audit_json_on_object_storage_prints_one_json_document(store, simulator, clock, request, tmp_path):
    simulator()
    if store == "s3":
        destination = f"s3://{AWS_CONN_ID}@{request.getfixturevalue('s3_bucket')}/audit"
    else:
        destination = f"gs://{request.getfixturevalue('gcs_bucket')}/audit"
    run_window(make_operator(clock, destination=destination), *DAYS[0])
    env = {key: value for key, value in os.environ.items() if key != "AIRFLOW_CONN_WEBFLOW_AUDIT_SIGNING"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_webflow_audit.audit",
            destination,
            "--workspace",
            WORKSPACE,
            "--start",
            DAYS[0][0].isoformat(),
            "--end",
            DAYS[0][1].isoformat(),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # the whole of stdout, and nothing else
    assert report["verdict"] == "complete"
    assert TOKEN not in result.stdout + result.stderr


def sub_range_audit(capsys, destination: str, start, end) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(
        [destination, "--workspace", WORKSPACE, "--start", start.isoformat(), "--end", end.isoformat(), "--json"]
    )
    return code, json.loads(capsys.readouterr().out)


def test_a_long_window_reaching_a_sub_range_past_shorter_ones_is_found_and_is_an_overlap(
    simulator, clock, tmp_path, capsys
):
    """A 3-day window from 10-01 with daily windows for 10-01 and 10-02 beside it: an audit of 10-03 alone
    used to stop at 10-02's folder and call the day a gap; the 3-day window covers it, and overlaps both."""
    simulator(days=4)
    destination = f"file://{tmp_path}/landing"
    run_window(make_operator(clock, destination=destination), DAYS[0][0], DAYS[2][1])
    for day in DAYS[:2]:
        run_window(make_operator(clock, destination=destination), *day)
    code, report = sub_range_audit(capsys, destination, *DAYS[2])
    assert code == 1
    assert [(p["kind"], p["key"]) for p in report["problems"]] == [("overlap", key_of(DAYS[0][0], DAYS[2][1]))]
    assert "outside the range" in report["problems"][0]["detail"]
    # A window reaching past the range's end overlaps what lies after it, too.
    code, report = sub_range_audit(capsys, destination, *DAYS[0])
    assert {p["kind"] for p in report["problems"]} == {"overlap"}


def test_a_stray_beside_an_earlier_window_that_reaches_into_the_range_is_named(simulator, clock, tmp_path, capsys):
    simulator(days=4)
    destination = f"file://{tmp_path}/landing"
    run_window(make_operator(clock, destination=destination), DAYS[0][0], DAYS[2][1])
    root = ObjectStoragePath(destination)
    stray = f"workspace={WORKSPACE}/dt={DAYS[0][0]:%Y-%m-%d}/audit_logs_fake.jsonl.gz"
    (root / stray).write_bytes(b"")
    code, report = sub_range_audit(capsys, destination, *DAYS[2])
    assert (code, [(p["kind"], p["key"]) for p in report["problems"]]) == (1, [("unexpected_object", stray)])
    # A folder none of whose windows reaches the range is not this range's business.
    run_window(make_operator(clock, destination=destination), DAYS[2][1], DAYS[2][1] + timedelta(days=1))
    code, report = sub_range_audit(capsys, destination, DAYS[2][1], DAYS[2][1] + timedelta(days=1))
    assert (code, report["problems"]) == (0, [])

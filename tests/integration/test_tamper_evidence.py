"""An attacker who can write to the bucket but not read Airflow's connections: every rewrite is named.

Windows are landed by the operator with a signing connection, then changed the way such an attacker
would (a consistent rewrite, a re-signature with another key, a stripped signature, a deleted part),
and the audit command line must exit 1 naming the window; the untouched archive exits 0.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.audit.cli import main
from airflow_webflow_audit.exceptions import WebflowArchiveTamperedError
from airflow_webflow_audit.landing.layout import MANIFEST_SUFFIX
from airflow_webflow_audit.signing import ManifestSigner, generate_private_key_pem, public_key_pem
from tests.conftest import DAY0
from tests.landing_helpers import make_operator, put_manifest, rewrite_consistently, run_window

pytestmark = pytest.mark.integration

WORKSPACE = "hitchhikers-workspace"
DAYS = [(DAY0 + timedelta(days=n), DAY0 + timedelta(days=n + 1)) for n in range(3)]
RANGE = ["--start", DAYS[0][0].isoformat(), "--end", DAYS[-1][1].isoformat()]


def key_of(start, end, part: int = 1) -> str:
    number = "" if part == 1 else f".part-{part:04d}"
    name = f"audit_logs_{start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}{number}.jsonl.gz"
    return f"workspace={WORKSPACE}/dt={start:%Y-%m-%d}/{name}"


def set_signing_key(monkeypatch, pem: str | None) -> None:
    if pem is None:
        monkeypatch.delenv("AIRFLOW_CONN_WEBFLOW_AUDIT_SIGNING", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW_CONN_WEBFLOW_AUDIT_SIGNING", json.dumps({"conn_type": "generic", "password": pem}))


@pytest.fixture
def archive(simulator, clock, tmp_path, monkeypatch) -> dict:
    """Three days landed and signed; the public key in a file, as an auditor gets it."""
    sim = simulator()
    pem = generate_private_key_pem()
    set_signing_key(monkeypatch, pem)
    destination = f"file://{tmp_path}/landing"
    for day in DAYS:
        run_window(make_operator(clock, destination=destination), *day)
    public = tmp_path / "webflow-audit-signing.pub.pem"
    public.write_text(public_key_pem(ManifestSigner.from_pem(pem, source="t").private_key.public_key()))
    set_signing_key(monkeypatch, None)  # the auditor has no Airflow access: only the public key
    return {
        "sim": sim,
        "pem": pem,
        "destination": destination,
        "public": str(public),
        "root": ObjectStoragePath(destination),
    }


def audit(capsys, archive: dict, *extra: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main([archive["destination"], "--workspace", WORKSPACE, *RANGE, "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def verified(capsys, archive: dict, *extra: str) -> tuple[int, dict]:
    return audit(capsys, archive, "--public-key", archive["public"], *extra)


def problems(report: dict) -> list[tuple[str, str]]:
    return [(p["kind"], p["key"]) for p in report["problems"]]


def test_the_untouched_archive_verifies_with_the_public_key_alone(archive, capsys):
    code, report = verified(capsys, archive)
    assert code == 0
    assert report["signatures_checked"] is True
    assert [(w["parts"], w["signed_parts"]) for w in report["windows"]] == [(1, 1)] * 3
    assert report["warnings"] == []
    capsys.readouterr()
    assert main([archive["destination"], "--workspace", WORKSPACE, *RANGE, "--public-key", archive["public"]]) == 0
    assert "3 of 3 part manifests carry a verified signature" in capsys.readouterr().out


def test_with_the_signing_connection_here_the_audit_verifies_by_default(archive, capsys, monkeypatch):
    set_signing_key(monkeypatch, archive["pem"])
    code, report = audit(capsys, archive)
    assert (code, report["signatures_checked"]) == (0, True)


def test_a_consistent_rewrite_keeping_the_old_signature_is_a_bad_signature(archive, capsys):
    root = archive["root"]
    put_manifest(root, key_of(*DAYS[1]), rewrite_consistently(root, key_of(*DAYS[1])))
    # Without a key the rewrite is consistent: only the warning says nothing was verified.
    code, report = audit(capsys, archive)
    assert code == 0
    assert any("signatures not checked" in warning for warning in report["warnings"])
    code, report = verified(capsys, archive)
    assert code == 1
    assert problems(report) == [("bad_signature", key_of(*DAYS[1]))]
    assert "does not verify" in report["problems"][0]["detail"]


def test_a_rewrite_re_signed_with_another_key_is_a_bad_signature(archive, capsys):
    root = archive["root"]
    attacker = ManifestSigner.from_pem(generate_private_key_pem(), source="attacker")
    put_manifest(root, key_of(*DAYS[1]), attacker.sign(rewrite_consistently(root, key_of(*DAYS[1]))))
    code, report = verified(capsys, archive)
    assert code == 1
    assert problems(report) == [("bad_signature", key_of(*DAYS[1]))]
    assert attacker.key_fingerprint in report["problems"][0]["detail"]


def test_a_stripped_signature_is_a_problem_not_a_warning(archive, capsys):
    root = archive["root"]
    manifest = rewrite_consistently(root, key_of(*DAYS[2]))
    del manifest["signature"]
    put_manifest(root, key_of(*DAYS[2]), manifest)
    code, report = verified(capsys, archive)
    assert code == 1
    assert problems(report) == [("unsigned", key_of(*DAYS[2]))]
    # Declaring that windows up to the end of the range were landed before signing does accept it: the
    # user's explicit word, listed as a warning.
    code, report = verified(capsys, archive, "--unsigned-before", DAYS[-1][1].isoformat())
    assert code == 0
    assert [w for w in report["warnings"] if "is unsigned (accepted" in w] == [
        f"{key_of(*DAYS[2])}: part 1 is unsigned (accepted: the window ends by the cut-over unsigned_before "
        f"{DAYS[-1][1].isoformat()})"
    ]


def test_windows_landed_before_signing_are_accepted_only_up_to_unsigned_before(
    simulator, clock, tmp_path, monkeypatch, capsys
):
    simulator()
    destination = f"file://{tmp_path}/landing"
    set_signing_key(monkeypatch, None)
    run_window(make_operator(clock, destination=destination), *DAYS[0])  # before signing was turned on
    pem = generate_private_key_pem()
    set_signing_key(monkeypatch, pem)
    for day in DAYS[1:]:
        run_window(make_operator(clock, destination=destination), *day)
    archive = {"destination": destination}
    code, report = audit(capsys, archive)
    assert (code, problems(report)) == (1, [("unsigned", key_of(*DAYS[0]))])
    code, report = audit(capsys, archive, "--unsigned-before", DAYS[0][1].isoformat())
    assert code == 0
    code, report = audit(capsys, archive, "--unsigned-before", DAYS[0][0].isoformat())
    assert code == 1


@pytest.fixture
def two_part_window(archive, clock):
    sim = archive["sim"]
    late = dict(sim.events(*DAYS[1])[0], timestamp="2026-10-02T06:00:00.125Z")
    sim.insert_event(late)
    return archive


def land_late_part(archive, clock, monkeypatch) -> None:
    set_signing_key(monkeypatch, archive["pem"])
    xcom, _ = run_window(make_operator(clock, destination=archive["destination"]), *DAYS[1])
    set_signing_key(monkeypatch, None)
    assert xcom["part"] == 2


def test_a_deleted_late_part_is_named(two_part_window, clock, capsys, monkeypatch):
    archive = two_part_window
    land_late_part(archive, clock, monkeypatch)
    code, report = verified(capsys, archive)
    assert code == 0
    assert report["windows"][1]["parts"] == report["windows"][1]["signed_parts"] == 2
    (archive["root"] / key_of(*DAYS[1], part=2)).unlink()
    code, report = verified(capsys, archive)
    assert code == 1
    assert problems(report) == [("missing_object", key_of(*DAYS[1]))]
    assert "part 2" in report["problems"][0]["detail"]


def test_a_part_deleted_between_others_breaks_the_chain(two_part_window, clock, capsys, monkeypatch):
    archive = two_part_window
    land_late_part(archive, clock, monkeypatch)
    archive["sim"].insert_event(dict(archive["sim"].events(*DAYS[1])[0], timestamp="2026-10-02T07:00:00.125Z"))
    set_signing_key(monkeypatch, archive["pem"])
    run_window(make_operator(clock, destination=archive["destination"]), *DAYS[1])  # part 3
    root = archive["root"]
    (root / key_of(*DAYS[1], part=2)).unlink()
    (root / (key_of(*DAYS[1], part=2) + MANIFEST_SUFFIX)).unlink()
    code, report = verified(capsys, archive)
    assert code == 1
    assert problems(report) == [("missing_part", key_of(*DAYS[1]))]
    # A landing never builds on it either.
    with pytest.raises(WebflowArchiveTamperedError, match=r"cannot be built on: missing_part: part 2 .* is gone"):
        run_window(make_operator(clock, destination=archive["destination"]), *DAYS[1])


def test_the_newest_part_deleted_whole_is_found_by_a_recount(two_part_window, clock, capsys, monkeypatch):
    """Out of reach from the bucket alone (an earlier part cannot name a later one); the API still can."""
    archive = two_part_window
    land_late_part(archive, clock, monkeypatch)
    root = archive["root"]
    (root / key_of(*DAYS[1], part=2)).unlink()
    (root / (key_of(*DAYS[1], part=2) + MANIFEST_SUFFIX)).unlink()
    assert verified(capsys, archive)[0] == 0
    code, report = verified(capsys, archive, "--recount")
    assert code == 1
    assert problems(report) == [("stale", key_of(*DAYS[1]))]


def test_rewriting_an_earlier_part_breaks_the_chain_even_without_a_key(two_part_window, clock, capsys, monkeypatch):
    archive = two_part_window
    land_late_part(archive, clock, monkeypatch)
    root = archive["root"]
    manifest = rewrite_consistently(root, key_of(*DAYS[1]))
    del manifest["signature"]
    put_manifest(root, key_of(*DAYS[1]), manifest)
    code, report = audit(capsys, archive)  # no key at all: part 2's manifest still names part 1's sha256
    assert code == 1
    assert problems(report) == [("broken_chain", key_of(*DAYS[1]))]


def test_a_landing_refuses_to_build_on_a_rewritten_part(archive, clock, monkeypatch):
    root = archive["root"]
    rewrite_consistently(root, key_of(*DAYS[0]))  # the object changed, its manifest not
    set_signing_key(monkeypatch, archive["pem"])
    with pytest.raises(WebflowArchiveTamperedError, match=r"corrupt: part 1: records .*: changed after landing"):
        run_window(make_operator(clock, destination=archive["destination"]), *DAYS[0])
    put_manifest(root, key_of(*DAYS[2]), rewrite_consistently(root, key_of(*DAYS[2])))  # and its manifest
    with pytest.raises(WebflowArchiveTamperedError, match="does not verify"):
        run_window(make_operator(clock, destination=archive["destination"]), *DAYS[2])

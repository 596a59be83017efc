"""Keys that never leave the vault, and a key's whole life.

AWS KMS with an ECC_NIST_P256 key on a moto server over real HTTP; Ed25519 through AWS KMS against a
fake of KMS's JSON protocol (moto refuses Ed25519 keys) and through Cloud KMS against a fake client in
the service's own shapes. Then retirement: a rewrite re-signed with a retired key after its
retirement is a problem on S3 (moto) and GCS (emulator), whose creation times nobody can set.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.audit.cli import main as audit_main
from airflow_webflow_audit.exceptions import WebflowConfigurationError, WebflowSigningError
from airflow_webflow_audit.landing.layout import MANIFEST_SUFFIX
from airflow_webflow_audit.landing.storage import list_folder
from airflow_webflow_audit.signing import (
    STATEMENT_PREFIX,
    ManifestSigner,
    generate_private_key_pem,
    public_key_pem,
)
from airflow_webflow_audit.signing.__main__ import main as keys_main
from tests.conftest import DAY0
from tests.kms_fakes import FakeAwsKms, FakeCloudKms
from tests.landing_helpers import make_operator, put_manifest, rewrite_consistently, run_window
from tests.storage_servers import AWS_CONN_ID, aws_connection

pytestmark = pytest.mark.integration

WORKSPACE = "hitchhikers-workspace"
DAYS = [(DAY0 + timedelta(days=n), DAY0 + timedelta(days=n + 1)) for n in range(2)]
RANGE = ["--start", DAYS[0][0].isoformat(), "--end", DAYS[-1][1].isoformat()]
SIGNING = "AIRFLOW_CONN_WEBFLOW_AUDIT_SIGNING"


def key_of(start, end) -> str:
    return f"workspace={WORKSPACE}/dt={start:%Y-%m-%d}/audit_logs_{start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}.jsonl.gz"


def exported_public_key(capsys, tmp_path) -> str:
    """What an operator hands the auditor: the signing connection's public key, as the CLI prints it."""
    capsys.readouterr()
    assert keys_main(["public-key"]) == 0
    out = capsys.readouterr()
    path = tmp_path / "kms.pub.pem"
    path.write_text(out.out)
    return str(path)


def audit(capsys, destination: str, *extra: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = audit_main([destination, "--workspace", WORKSPACE, *RANGE, "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def land_days(clock, destination: str) -> list[dict]:
    return [run_window(make_operator(clock, destination=destination), *day)[0] for day in DAYS]


def test_aws_kms_p256_on_moto_signs_landing_and_the_audit_verifies_with_the_exported_key(
    simulator, clock, s3_bucket, moto_endpoint, monkeypatch, capsys, tmp_path
):
    import boto3

    simulator()
    kms = boto3.client(
        "kms",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    alias = f"alias/webflow-audit-{key_id[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    connection = json.loads(aws_connection(moto_endpoint))
    connection["extra"]["kms_key_id"] = alias
    monkeypatch.setenv(SIGNING, json.dumps(connection))
    destination = f"s3://{AWS_CONN_ID}@{s3_bucket}/audit"
    landed = land_days(clock, destination)
    manifest = json.loads(ObjectStoragePath(landed[0]["manifest_uri"]).read_bytes())
    assert manifest["signature"]["algorithm"] == "ecdsa-p256-sha256"
    assert manifest["signature"]["covers"] == "sha256-statement-v1"
    public = exported_public_key(capsys, tmp_path)
    monkeypatch.delenv(SIGNING)  # the auditor: the exported public key and the bucket, nothing else
    code, report = audit(capsys, destination, "--public-key", public)
    assert (code, [w["signed_parts"] for w in report["windows"]]) == (0, [1, 1])
    root = ObjectStoragePath(destination)
    put_manifest(root, key_of(*DAYS[1]), rewrite_consistently(root, key_of(*DAYS[1])))
    code, report = audit(capsys, destination, "--public-key", public)
    assert code == 1
    assert [(p["kind"], p["key"]) for p in report["problems"]] == [("bad_signature", key_of(*DAYS[1]))]


@pytest.fixture
def fake_aws_kms(request) -> FakeAwsKms:
    fake = FakeAwsKms(getattr(request, "param", "ECC_NIST_EDWARDS25519")).start()
    yield fake
    fake.stop()


def test_aws_kms_ed25519_signs_a_short_statement_raw_and_verifies(
    simulator, clock, tmp_path, monkeypatch, capsys, fake_aws_kms
):
    simulator()
    monkeypatch.setenv(
        SIGNING,
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",  # the AWS secret key of the connection: credentials, never a signing key
                "extra": {
                    "endpoint_url": fake_aws_kms.endpoint,
                    "region_name": "us-east-1",
                    "kms_key_id": fake_aws_kms.alias,
                },
            }
        ),
    )
    destination = f"file://{tmp_path}/landing"
    land_days(clock, destination)
    signs = [body for operation, body in fake_aws_kms.calls if operation == "Sign"]
    assert len(signs) == 2 * 2  # per task: a probe, and its one manifest
    manifests = [
        base64.b64decode(body["Message"])
        for body in signs
        if body["Message"] != base64.b64encode(b"airflow-webflow-audit signer probe").decode()
    ]
    assert all(message.startswith(STATEMENT_PREFIX) and len(message) <= 4096 for message in manifests)
    assert {body["KeyId"] for body in signs} == {fake_aws_kms.arn}  # the key GetPublicKey named, not the alias
    assert {(body["MessageType"], body["SigningAlgorithm"]) for body in signs} == {("RAW", "ED25519_SHA_512")}
    public = exported_public_key(capsys, tmp_path)
    code, report = audit(capsys, destination, "--public-key", public)
    assert code == 0
    assert [w["signed_parts"] for w in report["windows"]] == [1, 1]


def test_a_disabled_kms_key_fails_the_task_before_any_request(simulator, clock, tmp_path, monkeypatch, fake_aws_kms):
    sim = simulator()
    monkeypatch.setenv(
        SIGNING,
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {
                    "endpoint_url": fake_aws_kms.endpoint,
                    "region_name": "us-east-1",
                    "kms_key_id": fake_aws_kms.key_id,
                },
            }
        ),
    )
    fake_aws_kms.enabled = False
    with pytest.raises(WebflowSigningError, match=r"DisabledException.*kms:Sign"):
        run_window(make_operator(clock, destination=f"file://{tmp_path}/landing"), *DAYS[0])
    assert sim.request_count == 0
    assert not (tmp_path / "landing" / f"workspace={WORKSPACE}").exists()


@pytest.mark.parametrize("algorithm", ["EC_SIGN_ED25519", "EC_SIGN_P256_SHA256"])
def test_cloud_kms_signs_through_the_google_connection_and_verifies(
    simulator, clock, tmp_path, monkeypatch, capsys, algorithm
):
    from airflow.providers.google.cloud.hooks.kms import CloudKMSHook

    simulator()
    fake = FakeCloudKms(algorithm)
    monkeypatch.setattr(CloudKMSHook, "get_conn", lambda self: fake)
    monkeypatch.setenv(
        SIGNING, json.dumps({"conn_type": "google_cloud_platform", "extra": {"kms_key_version": fake.name}})
    )
    destination = f"file://{tmp_path}/landing"
    land_days(clock, destination)
    sent = {"data" if "data" in request else "digest" for request in fake.requests}
    assert sent == ({"data"} if algorithm == "EC_SIGN_ED25519" else {"digest"})
    public = exported_public_key(capsys, tmp_path)
    code, report = audit(capsys, destination, "--public-key", public)
    assert (code, [w["signed_parts"] for w in report["windows"]]) == (0, [1, 1])
    fake.damage_signature = True
    with pytest.raises(WebflowSigningError, match="CRC32C"):
        run_window(make_operator(clock, destination=f"file://{tmp_path}/other"), *DAYS[0])


def test_a_kms_connection_without_its_key_extra_is_refused_naming_it(simulator, clock, tmp_path, monkeypatch):
    simulator()
    monkeypatch.setenv(SIGNING, json.dumps({"conn_type": "aws", "login": "a", "password": "b"}))
    with pytest.raises(WebflowConfigurationError, match="without 'kms_key_id'"):
        run_window(make_operator(clock, destination=f"file://{tmp_path}/landing"), *DAYS[0])


@pytest.mark.parametrize("where", ["task", "connection"])
def test_require_signing_without_a_signer_fails_before_any_request(simulator, clock, tmp_path, monkeypatch, where):
    sim = simulator(conn_extra={"require_signing": True} if where == "connection" else None)
    monkeypatch.delenv(SIGNING, raising=False)
    operator = make_operator(
        clock, destination=f"file://{tmp_path}/landing", **({"require_signing": True} if where == "task" else {})
    )
    with pytest.raises(WebflowConfigurationError, match="require_signing is set"):
        run_window(operator, *DAYS[0])
    assert sim.request_count == 0
    # With the key there, the same task lands signed.
    monkeypatch.setenv(SIGNING, json.dumps({"conn_type": "generic", "password": generate_private_key_pem()}))
    xcom, _ = run_window(operator, *DAYS[0])
    assert "signature" in json.loads(ObjectStoragePath(xcom["manifest_uri"]).read_bytes())


def created_times(root: ObjectStoragePath, key: str) -> datetime:
    folder = root / key.rsplit("/", 1)[0]
    (entry,) = [e for e in list_folder(folder) if e.name == key.rsplit("/", 1)[1] + MANIFEST_SUFFIX]
    assert entry.created is not None
    return entry.created


@pytest.mark.parametrize("store", ["s3", "gcs"])
def test_a_rewrite_signed_with_a_retired_key_after_its_retirement_is_named(
    store, simulator, clock, request, tmp_path, monkeypatch, capsys
):
    simulator()
    if store == "s3":
        destination = f"s3://{AWS_CONN_ID}@{request.getfixturevalue('s3_bucket')}/audit"
    else:
        destination = f"gs://{request.getfixturevalue('gcs_bucket')}/audit"
    old_pem = generate_private_key_pem()
    old = ManifestSigner.from_pem(old_pem, source="old")
    monkeypatch.setenv(SIGNING, json.dumps({"conn_type": "generic", "password": old_pem}))
    land_days(clock, destination)
    root = ObjectStoragePath(destination)
    # The old key is retired when the last of these manifests was written; a new one signs from then on.
    retired_at = max(created_times(root, key_of(*day)) for day in DAYS)
    old_file = tmp_path / "old.pub.pem"
    old_file.write_text(public_key_pem(old.public_key()))
    new = ManifestSigner.from_pem(generate_private_key_pem(), source="new")
    keyring = tmp_path / "keyring.json"
    keyring.write_text(
        json.dumps(
            {
                "keys": [
                    {"name": "old", "public_key_file": "old.pub.pem", "not_after": retired_at.isoformat()},
                    {"name": "new", "public_key": public_key_pem(new.public_key())},
                ]
            }
        )
    )
    monkeypatch.delenv(SIGNING)
    code, report = audit(capsys, destination, "--keyring", str(keyring))
    assert (code, report["problems"]) == (0, [])  # signed before the retirement: fine
    # The store's clock second must pass the retirement (S3 keeps whole seconds), then the old key leaks.
    while datetime.now(timezone.utc).replace(microsecond=0) <= retired_at:
        time.sleep(0.05)
    put_manifest(
        root,
        key_of(*DAYS[1]),
        old.sign(rewrite_consistently(root, key_of(*DAYS[1]))),
    )
    for key_args in (["--keyring", str(keyring)], ["--public-key", f"{old_file}@{retired_at.isoformat()}"]):
        code, report = audit(capsys, destination, *key_args)
        assert code == 1
        assert [(p["kind"], p["key"]) for p in report["problems"]] == [("retired_key", key_of(*DAYS[1]))]
        assert "after that key was retired" in report["problems"][0]["detail"]
    # Without the retirement, the leaked old key's signature would pass: this is what the keyring adds.
    code, _ = audit(capsys, destination, "--public-key", str(old_file))
    assert code == 0


def test_on_a_local_folder_the_retirement_check_says_its_times_can_be_forged(
    simulator, clock, tmp_path, monkeypatch, capsys
):
    simulator()
    pem = generate_private_key_pem()
    monkeypatch.setenv(SIGNING, json.dumps({"conn_type": "generic", "password": pem}))
    destination = f"file://{tmp_path}/landing"
    land_days(clock, destination)
    public = tmp_path / "k.pub.pem"
    public.write_text(public_key_pem(ManifestSigner.from_pem(pem, source="k").public_key()))
    future = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    monkeypatch.delenv(SIGNING)
    code, report = audit(capsys, destination, "--public-key", f"{public}@{future}")
    assert code == 0
    assert any("anyone who can write this folder can set" in warning for warning in report["warnings"])


def test_reconcile_with_require_signing_and_no_signer_fails_before_any_request(simulator, tmp_path, monkeypatch):
    from airflow_webflow_audit.operators.reconcile import WebflowAuditLogsReconcileOperator

    sim = simulator()
    monkeypatch.delenv(SIGNING, raising=False)
    reconcile = WebflowAuditLogsReconcileOperator(
        task_id="reconcile",
        workspace=WORKSPACE,
        destination=f"file://{tmp_path}/landing",
        start=DAYS[0][0].isoformat(),
        end=DAYS[1][1].isoformat(),
        require_signing=True,
    )
    with pytest.raises(WebflowConfigurationError, match="require_signing is set"):
        reconcile.execute({})
    assert sim.request_count == 0

"""Signed manifests: what a signature covers, what verifying finds, and where the key comes from."""

from __future__ import annotations

import json

import pytest

from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.signing import (
    INVALID,
    UNKNOWN_KEY,
    UNSIGNED,
    VALID,
    ManifestSigner,
    ManifestVerifier,
    SignaturePolicy,
    canonical_bytes,
    fingerprint,
    generate_private_key_pem,
    load_public_key,
    public_key_pem,
    signer_from_connection,
    signing_from_connection,
)
from airflow_webflow_audit.signing.__main__ import main as keys_main

MANIFEST = {"records": 3, "object": {"sha256": "ab" * 32, "size_bytes": 10}, "window": {"start": "s", "end": "e"}}


@pytest.fixture
def signer() -> ManifestSigner:
    return ManifestSigner.from_pem(generate_private_key_pem(), source="test")


def test_a_signed_manifest_verifies_and_names_its_key(signer):
    signed = signer.sign(MANIFEST)
    assert signed["signature"]["algorithm"] == "ed25519"
    assert signed["signature"]["key_fingerprint"] == signer.key_fingerprint
    verdict = ManifestVerifier([signer.private_key.public_key()]).verify(signed)
    assert (verdict.status, verdict.key_fingerprint) == (VALID, signer.key_fingerprint)


def test_the_signature_covers_every_field_and_the_objects_sha256(signer):
    verifier = ManifestVerifier([signer.private_key.public_key()])
    signed = signer.sign(MANIFEST)
    for changed in (
        {**signed, "records": 2},
        {**signed, "object": {**signed["object"], "sha256": "cd" * 32}},
        {**signed, "added": True},
    ):
        assert verifier.verify(changed).status == INVALID
    # Key order and whitespace are not part of it: the canonical bytes are.
    reordered = json.loads(json.dumps(signed, indent=3, sort_keys=False))
    assert verifier.verify(dict(reversed(list(reordered.items())))).status == VALID


def test_a_stripped_signature_is_unsigned_and_a_foreign_key_is_unknown(signer):
    verifier = ManifestVerifier([signer.private_key.public_key()])
    assert verifier.verify(MANIFEST).status == UNSIGNED
    attacker = ManifestSigner.from_pem(generate_private_key_pem(), source="attacker")
    verdict = verifier.verify(attacker.sign({**MANIFEST, "records": 2}))
    assert verdict.status == UNKNOWN_KEY
    assert attacker.key_fingerprint in verdict.detail


def test_rotated_keys_verify_side_by_side(signer):
    newer = ManifestSigner.from_pem(generate_private_key_pem(), source="newer")
    verifier = ManifestVerifier.from_pems(
        [("old.pem", public_key_pem(signer.private_key.public_key()).encode()), ("new.pem", newer_public(newer))]
    )
    assert verifier.verify(signer.sign(MANIFEST)).status == VALID
    assert verifier.verify(newer.sign(MANIFEST)).status == VALID


def newer_public(signer: ManifestSigner) -> bytes:
    return public_key_pem(signer.private_key.public_key()).encode()


def test_canonical_bytes_leave_out_the_signature_and_sort_keys():
    assert canonical_bytes({"b": 1, "a": {"d": 2, "c": 3}, "signature": {"x": 1}}) == b'{"a":{"c":3,"d":2},"b":1}'


@pytest.mark.parametrize(
    "pem",
    [
        "not a key",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ],
)
def test_a_bad_key_is_refused_naming_how_to_make_one(pem):
    with pytest.raises(WebflowConfigurationError, match="generate-key"):
        ManifestSigner.from_pem(pem, source="webflow_audit_signing")


def test_an_rsa_key_is_refused():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    with pytest.raises(WebflowConfigurationError, match="not Ed25519"):
        ManifestSigner.from_pem(pem, source="webflow_audit_signing")


def test_the_key_never_shows_in_the_signers_repr(signer):
    text = repr(signer)
    assert signer.key_fingerprint in text
    assert "PRIVATE" not in text
    assert "Ed25519PrivateKey" not in text


def test_the_signer_comes_from_the_connection_and_a_missing_one_is_unsigned_unless_named(monkeypatch, signer):
    monkeypatch.delenv("AIRFLOW_CONN_WEBFLOW_AUDIT_SIGNING", raising=False)
    assert signer_from_connection("webflow_audit_signing", required=False) is None
    with pytest.raises(WebflowConfigurationError, match="does not exist"):
        signer_from_connection("my_signing_key", required=True)
    pem = generate_private_key_pem()
    monkeypatch.setenv("AIRFLOW_CONN_WEBFLOW_AUDIT_SIGNING", json.dumps({"conn_type": "generic", "password": pem}))
    found = signer_from_connection("webflow_audit_signing", required=False)
    assert found is not None
    assert found.key_fingerprint == ManifestSigner.from_pem(pem, source="x").key_fingerprint


def test_the_command_line_makes_a_key_and_prints_its_public_half(tmp_path, capsys, monkeypatch):
    assert keys_main(["generate-key"]) == 0
    pem = capsys.readouterr().out
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    key_file = tmp_path / "signing.pem"
    key_file.write_text(pem)
    assert keys_main(["public-key", "--private-key-file", str(key_file)]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("-----BEGIN PUBLIC KEY-----")
    signer = ManifestSigner.from_pem(pem, source="x")
    assert out.err.splitlines()[0] == f"fingerprint: {fingerprint(signer.private_key.public_key())}"
    assert out.err.splitlines()[1].startswith("algorithm: ed25519 (the local Ed25519 key from ")
    monkeypatch.setenv("AIRFLOW_CONN_WEBFLOW_AUDIT_SIGNING", json.dumps({"conn_type": "generic", "password": pem}))
    assert keys_main(["public-key"]) == 0
    assert capsys.readouterr().out == out.out
    assert keys_main(["public-key", "--conn-id", "nope"]) == 2
    assert "does not exist" in capsys.readouterr().err


def openssh_line(signer: ManifestSigner) -> bytes:
    from cryptography.hazmat.primitives import serialization

    raw = signer.private_key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return raw + b" auditor@example.com\n"


def test_a_public_key_is_read_from_pem_or_openssh_form(signer):
    pem = public_key_pem(signer.private_key.public_key()).encode()
    for text in (pem, openssh_line(signer)):
        assert fingerprint(load_public_key(text, "key file")) == signer.key_fingerprint
    verifier = ManifestVerifier.from_pems([("ssh", openssh_line(signer))])
    assert verifier.verify(signer.sign(MANIFEST)).status == VALID


def test_a_private_key_where_a_public_key_belongs_is_refused_pointing_at_the_public_half(signer):
    private = generate_private_key_pem().encode()
    with pytest.raises(WebflowConfigurationError, match=r"holds a private key\. An auditor needs only the public half"):
        load_public_key(private, "auditor.pem")


@pytest.mark.parametrize("text", [b"not a key", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"])
def test_a_file_that_is_no_public_key_says_so_and_not_generate_key(text):
    with pytest.raises(WebflowConfigurationError) as info:
        load_public_key(text, "auditor.pem")
    assert "is not a public key in PEM" in str(info.value)
    assert "generate-key" not in str(info.value)


def test_a_public_key_as_the_signing_key_is_refused():
    pem = public_key_pem(ManifestSigner.from_pem(generate_private_key_pem(), source="x").private_key.public_key())
    with pytest.raises(WebflowConfigurationError, match="holds a public key where the signing key"):
        ManifestSigner.from_pem(pem, source="webflow_audit_signing")


def test_the_signing_connection_gives_one_policy_with_earlier_keys_and_the_cut_over(monkeypatch, signer):
    earlier = ManifestSigner.from_pem(generate_private_key_pem(), source="earlier")
    extra = {
        "public_keys": [openssh_line(earlier).decode()],
        "unsigned_before": "2026-10-01T00:00:00+00:00",
    }
    pem = generate_private_key_pem()
    monkeypatch.setenv(
        "AIRFLOW_CONN_WEBFLOW_AUDIT_SIGNING", json.dumps({"conn_type": "generic", "password": pem, "extra": extra})
    )
    signing = signing_from_connection("webflow_audit_signing", required=False)
    assert signing.signer is not None
    assert signing.policy.verifier is not None
    assert signing.policy.verifier.verify(earlier.sign(MANIFEST)).status == VALID  # a rotated key still verifies
    assert signing.policy.verifier.verify(signing.signer.sign(MANIFEST)).status == VALID
    assert signing.policy.unsigned_before is not None
    assert signing.policy.unsigned_before.isoformat() == "2026-10-01T00:00:00+00:00"


def test_a_reader_may_use_a_connection_with_public_keys_only_a_landing_may_not(monkeypatch, signer):
    pem = public_key_pem(signer.private_key.public_key())
    monkeypatch.setenv(
        "AIRFLOW_CONN_VERIFY_ONLY", json.dumps({"conn_type": "generic", "extra": {"public_keys": [pem]}})
    )
    policy = signing_from_connection("verify_only", required=True, to_sign=False).policy
    assert policy.verifier is not None
    assert policy.verifier.verify(signer.sign(MANIFEST)).status == VALID
    with pytest.raises(WebflowConfigurationError, match="has no key to sign with"):
        signing_from_connection("verify_only", required=True)


def test_no_signing_connection_gives_a_policy_that_checks_nothing(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_WEBFLOW_AUDIT_SIGNING", raising=False)
    signing = signing_from_connection("webflow_audit_signing", required=False)
    assert (signing.signer, signing.policy) == (None, SignaturePolicy())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"public_keys": 3}, "must be a list of public keys"),
        ({"unsigned_before": "yesterday"}, "unsigned_before"),
    ],
)
def test_a_malformed_signing_extra_is_refused_naming_the_field(monkeypatch, extra, message):
    monkeypatch.setenv(
        "AIRFLOW_CONN_WEBFLOW_AUDIT_SIGNING",
        json.dumps({"conn_type": "generic", "password": generate_private_key_pem(), "extra": extra}),
    )
    with pytest.raises(WebflowConfigurationError, match=message):
        signing_from_connection("webflow_audit_signing", required=False)


def test_manifests_signed_before_statements_keep_verifying(signer):
    import base64

    legacy = {
        **MANIFEST,
        "signature": {
            "algorithm": "ed25519",
            "key_fingerprint": signer.key_fingerprint,
            "value": base64.b64encode(signer.private_key.sign(canonical_bytes(MANIFEST))).decode(),
        },
    }
    verifier = ManifestVerifier([signer.public_key()])
    assert verifier.verify(legacy).status == VALID
    tampered = {**legacy, "records": 4}
    assert verifier.verify(tampered).status == INVALID
    relabelled = {**legacy, "signature": {**legacy["signature"], "covers": "something-else"}}
    assert verifier.verify(relabelled).status == INVALID


def test_a_p256_signature_verifies_and_names_its_algorithm():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from airflow_webflow_audit.signing.manifests import statement, with_signature

    private = ec.generate_private_key(ec.SECP256R1())
    value = private.sign(statement(MANIFEST), ec.ECDSA(hashes.SHA256()))
    signed = with_signature(
        MANIFEST, algorithm="ecdsa-p256-sha256", key_fingerprint=fingerprint(private.public_key()), value=value
    )
    verifier = ManifestVerifier([private.public_key()])
    assert verifier.verify(signed).status == VALID
    mislabelled = {**signed, "signature": {**signed["signature"], "algorithm": "ed25519"}}
    assert verifier.verify(mislabelled).status == INVALID
    assert verifier.verify({**signed, "records": 4}).status == INVALID


def test_a_keyring_file_names_keys_and_their_retirement(tmp_path, signer):
    from airflow_webflow_audit.signing.keyring import key_argument, load_keyring

    other = ManifestSigner.from_pem(generate_private_key_pem(), source="other")
    (tmp_path / "old@2026.pem").write_text(public_key_pem(signer.public_key()))
    keyring = tmp_path / "keyring.json"
    keyring.write_text(
        json.dumps(
            {
                "keys": [
                    {"name": "old", "public_key_file": "old@2026.pem", "not_after": "2026-10-01T00:00:00Z"},
                    {"public_key": public_key_pem(other.public_key())},
                ]
            }
        )
    )
    old, new = load_keyring(keyring)
    assert (old.name, old.fingerprint, old.not_after.isoformat()) == (
        "old",
        signer.key_fingerprint,
        "2026-10-01T00:00:00+00:00",
    )
    assert (new.name, new.not_after) == (other.key_fingerprint, None)
    # A file whose name holds an @ is still a file; a time after the last @ is its retirement.
    assert key_argument(str(tmp_path / "old@2026.pem")).not_after is None
    retired = key_argument(f"{tmp_path / 'old@2026.pem'}@2026-11-01T00:00:00+00:00")
    assert retired.not_after is not None
    assert retired.not_after.month == 11
    verdict = ManifestVerifier([old, new]).verify(signer.sign(MANIFEST))
    assert (verdict.status, verdict.key) == (VALID, old)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"keys": []}, "at least one key"),
        ({"keys": [{"name": "x"}]}, "exactly one of public_key and public_key_file"),
        ({"keys": [{"public_key": "x", "public_key_file": "y"}]}, "exactly one of"),
        ({"keys": [{"public_key": "ssh-ed25519 AAAA", "retired": "2026"}]}, "unknown fields"),
    ],
)
def test_a_bad_keyring_is_refused_naming_what_is_wrong(tmp_path, document, message):
    from airflow_webflow_audit.signing.keyring import load_keyring

    path = tmp_path / "keyring.json"
    path.write_text(json.dumps(document))
    with pytest.raises(WebflowConfigurationError, match=message):
        load_keyring(path)


def test_the_same_key_given_twice_keeps_the_earlier_retirement(signer):
    from datetime import datetime, timezone

    from airflow_webflow_audit.signing.keyring import TrustedKey

    early = TrustedKey(signer.public_key(), "a", datetime(2026, 1, 1, tzinfo=timezone.utc))
    verifier = ManifestVerifier([signer.public_key(), early, TrustedKey(signer.public_key(), "b", None)])
    assert verifier.keys == [early]

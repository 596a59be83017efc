"""Signed manifests: who may write evidence, and how every reader judges it.

* :mod:`.keys` -- public keys (Ed25519, ECDSA P-256), their forms, fingerprints, checking a signature;
* :mod:`.keyring` -- the keys a reader trusts, each with a name and, once retired, its ``not_after``;
* :mod:`.manifests` -- what a signature covers (a statement of the manifest's sha256) and verifying it;
* :mod:`.signers` -- signing with a local Ed25519 key, AWS KMS or Google Cloud KMS.

Every reader judges signatures by one :class:`SignaturePolicy`: a keyring, and the cut-over before
which windows may be unsigned (landed before signing was turned on). Inside Airflow both come from
the signing connection (:func:`signing_from_connection`): its key's public half, the keys of earlier
(retired) keys in its extra's ``public_keys``, and its extra's ``unsigned_before``. Someone who can
write to the bucket but cannot use the key cannot sign; with a KMS key, nobody can copy it at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_webflow_audit.compat import AirflowNotFoundException, BaseHook
from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.signing.keyring import TrustedKey, key_entry, load_keyring
from airflow_webflow_audit.signing.keys import (
    ECDSA_P256_SHA256,
    ED25519,
    PublicKey,
    fingerprint,
    load_public_key,
    public_key_pem,
)
from airflow_webflow_audit.signing.manifests import (
    INVALID,
    SIGNATURE_FIELD,
    STATEMENT_PREFIX,
    UNKNOWN_KEY,
    UNSIGNED,
    VALID,
    ManifestVerifier,
    Verdict,
    canonical_bytes,
    statement,
)
from airflow_webflow_audit.signing.signers import (
    AwsKmsSigner,
    GcpKmsSigner,
    ManifestSigner,
    Signer,
    generate_private_key_pem,
    signer_for_connection,
)
from airflow_webflow_audit.validation import validate_optional_datetime

__all__ = [
    "DEFAULT_SIGNING_CONN_ID",
    "ECDSA_P256_SHA256",
    "ED25519",
    "INVALID",
    "SIGNATURE_FIELD",
    "STATEMENT_PREFIX",
    "UNKNOWN_KEY",
    "UNSIGNED",
    "VALID",
    "AwsKmsSigner",
    "GcpKmsSigner",
    "ManifestSigner",
    "ManifestVerifier",
    "PublicKey",
    "SignaturePolicy",
    "Signer",
    "Signing",
    "TrustedKey",
    "Verdict",
    "canonical_bytes",
    "fingerprint",
    "generate_private_key_pem",
    "load_keyring",
    "load_public_key",
    "public_key_pem",
    "signer_from_connection",
    "signing_for_writer",
    "signing_from_connection",
    "statement",
]

#: The signing connection; when it exists, every manifest is signed.
DEFAULT_SIGNING_CONN_ID = "webflow_audit_signing"
#: The signing connection's extra fields: earlier keys' public halves, and the unsigned cut-over.
PUBLIC_KEYS_EXTRA = "public_keys"
UNSIGNED_BEFORE_EXTRA = "unsigned_before"


@dataclass(frozen=True)
class SignaturePolicy:
    """How every reader of landed windows judges manifest signatures (see the module's docstring)."""

    #: The keyring signatures are checked with; None: signatures are not checked (the audit warns).
    verifier: ManifestVerifier | None = None
    #: Windows ending at or before this may be unsigned (landed before signing was turned on): a warning.
    unsigned_before: datetime | None = None

    @classmethod
    def of(cls, keys: Iterable[TrustedKey | PublicKey], unsigned_before: datetime | None = None) -> SignaturePolicy:
        keys = list(keys)
        return cls(ManifestVerifier(keys) if keys else None, unsigned_before)


@dataclass(frozen=True)
class Signing:
    """What a signing connection gives a task: the signer (None: manifests are not signed) and the policy."""

    signer: Signer | None
    policy: SignaturePolicy


def signing_from_connection(conn_id: str | None, *, required: bool, to_sign: bool = True) -> Signing:
    """The signer and signature policy of Airflow connection ``conn_id`` (default: the policy checks nothing).

    ``required``: the user named the connection, so a missing one is an error, not unsigned manifests.
    ``to_sign``: the task signs what it writes, so the connection must hold a key to sign with; a reader
    may use a connection with only ``public_keys`` in its extra. A KMS signer is made (and proven able to
    sign) only for a task that signs.
    """
    conn = _connection(conn_id, required=required)
    if conn is None:
        return Signing(None, SignaturePolicy())
    assert conn_id is not None
    extra = _extra_of(conn, conn_id)
    keys = [
        key_entry(entry, f"{conn_id} extra {PUBLIC_KEYS_EXTRA}[{index}]")
        for index, entry in enumerate(_public_keys_in(extra.get(PUBLIC_KEYS_EXTRA), conn_id))
    ]
    signer = signer_for_connection(conn, conn_id, probe=to_sign) if to_sign or not keys else None
    if signer is not None:
        keys.insert(0, TrustedKey(signer.public_key(), f"{conn_id} ({signer.key_fingerprint})"))
    elif to_sign or not keys:
        raise WebflowConfigurationError(
            f"The signing connection {conn_id!r} has no key to sign with: put the Ed25519 private key (PKCS#8 PEM) "
            "in its password, or make it an aws / google_cloud_platform connection naming a KMS key."
        )
    unsigned_before = _unsigned_before_in(extra.get(UNSIGNED_BEFORE_EXTRA), conn_id)
    # A reader gets the key to verify with, never a signer: it has nothing to sign.
    return Signing(signer if to_sign else None, SignaturePolicy.of(keys, unsigned_before))


def signing_for_writer(signing_conn_id: str | None, *, require_signing: bool) -> Signing:
    """The signing of a task that writes manifests: ``signing_conn_id``, or ``webflow_audit_signing`` when it
    exists. ``require_signing``: no signer is an error, before any request, instead of unsigned windows."""
    signing = signing_from_connection(signing_conn_id or DEFAULT_SIGNING_CONN_ID, required=bool(signing_conn_id))
    if require_signing and signing.signer is None:
        raise WebflowConfigurationError(
            f"require_signing is set, but the signing connection {signing_conn_id or DEFAULT_SIGNING_CONN_ID!r} "
            "does not exist here, so the manifests would be unsigned. Nothing was requested or written. Create "
            "the connection (or fix signing_conn_id), or turn require_signing off (the task's parameter, or the "
            "Webflow connection's extra)."
        )
    return signing


def signer_from_connection(conn_id: str | None, *, required: bool, probe: bool = True) -> Signer | None:
    """The signer of Airflow connection ``conn_id``; None if there is no such connection, or it holds no key.

    ``probe`` False: only its public key is read (for printing it), nothing is signed.
    """
    conn = _connection(conn_id, required=required)
    return None if conn is None or conn_id is None else signer_for_connection(conn, conn_id, probe=probe)


def _connection(conn_id: str | None, *, required: bool) -> Any:
    """The signing connection; None if there is none (an error when the user named it: ``required``)."""
    if not conn_id:
        return None
    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        if required:
            raise WebflowConfigurationError(
                f"The signing connection {conn_id!r} does not exist. Create it (a generic connection whose "
                "password is an Ed25519 private key, PKCS#8 PEM: python -m airflow_webflow_audit.signing "
                "generate-key; or an aws / google_cloud_platform connection naming a KMS key), or leave "
                "signing_conn_id unset to sign with 'webflow_audit_signing' when it exists."
            ) from None
        return None


def _extra_of(conn: Any, conn_id: str) -> dict[str, Any]:
    try:
        extra = conn.extra_dejson
    except Exception:  # a malformed extra
        extra = None
    if not isinstance(extra, dict):
        raise WebflowConfigurationError(f"The extra of the signing connection {conn_id!r} is not a JSON object.")
    return extra


def _public_keys_in(value: object, conn_id: str) -> list[Any]:
    if value in (None, "", []):
        return []
    if isinstance(value, (str, dict)):
        return [value]
    if isinstance(value, list):
        return list(value)
    raise WebflowConfigurationError(
        f"{PUBLIC_KEYS_EXTRA} in the extra of the signing connection {conn_id!r} must be a list of public keys "
        "(PEM or OpenSSH strings, or objects with public_key, name and not_after), got " + type(value).__name__ + "."
    )


def _unsigned_before_in(value: object, conn_id: str) -> datetime | None:
    try:
        return validate_optional_datetime(value, UNSIGNED_BEFORE_EXTRA)
    except WebflowConfigurationError as exc:
        raise WebflowConfigurationError(f"The signing connection {conn_id!r}: {exc}") from None

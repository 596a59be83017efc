"""Signed manifests: Ed25519 over a manifest's canonical bytes, which name the data object's sha256.

The signature lives inside the manifest, under ``signature``::

    "signature": {"algorithm": "ed25519", "key_fingerprint": "sha256:<hex>", "value": "<base64>"}

and covers every other field, serialized canonically (:func:`canonical_bytes`): keys sorted, no
whitespace, UTF-8. The private key is the password of an Airflow connection (default
``webflow_audit_signing``, PKCS#8 PEM), so someone who can write to the bucket but cannot read
Airflow's connections cannot sign. Verifying needs only the public key: an auditor without Airflow
access verifies with ``--public-key``. The fingerprint names the key that signed, so keys can be
rotated and an audit given several public keys. The cryptography is ``cryptography``'s, which
Airflow itself depends on.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from airflow_webflow_audit.compat import AirflowNotFoundException, BaseHook
from airflow_webflow_audit.exceptions import WebflowConfigurationError

#: The connection whose password is the signing key; when it exists, every manifest is signed.
DEFAULT_SIGNING_CONN_ID = "webflow_audit_signing"
SIGNATURE_FIELD = "signature"
ALGORITHM = "ed25519"

#: What verifying one manifest can find.
VALID = "valid"
UNSIGNED = "unsigned"
UNKNOWN_KEY = "unknown_key"
INVALID = "invalid"


def canonical_bytes(manifest: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: the manifest without its signature, keys sorted, compact, UTF-8."""
    unsigned = {key: value for key, value in manifest.items() if key != SIGNATURE_FIELD}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """``sha256:<hex>`` of the raw 32-byte public key: what a signed manifest names its key by."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(
        "ascii"
    )


def generate_private_key_pem() -> str:
    """A new Ed25519 private key as unencrypted PKCS#8 PEM, for the signing connection's password."""
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


@dataclass(frozen=True)
class ManifestSigner:
    """Signs manifests with one private key. Its ``repr`` never shows the key."""

    private_key: Ed25519PrivateKey
    conn_id: str | None = None

    @classmethod
    def from_pem(cls, pem: str | bytes, *, source: str) -> ManifestSigner:
        key = _load_private_key(pem, source)
        return cls(key, source)

    @property
    def key_fingerprint(self) -> str:
        return fingerprint(self.private_key.public_key())

    def sign(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """``manifest`` with its ``signature`` field (any old one replaced)."""
        value = self.private_key.sign(canonical_bytes(manifest))
        signature = {
            "algorithm": ALGORITHM,
            "key_fingerprint": self.key_fingerprint,
            "value": base64.b64encode(value).decode("ascii"),
        }
        return {**{k: v for k, v in manifest.items() if k != SIGNATURE_FIELD}, SIGNATURE_FIELD: signature}

    def __repr__(self) -> str:
        return f"ManifestSigner(conn_id={self.conn_id!r}, key_fingerprint={self.key_fingerprint!r})"


@dataclass(frozen=True)
class Verdict:
    """What verifying one manifest found: :data:`VALID`, :data:`UNSIGNED`, :data:`UNKNOWN_KEY` or :data:`INVALID`."""

    status: str
    detail: str
    key_fingerprint: str | None = None


class ManifestVerifier:
    """Verifies manifests against a set of public keys (several: keys are rotated)."""

    def __init__(self, public_keys: Iterable[Ed25519PublicKey]) -> None:
        self.keys = {fingerprint(key): key for key in public_keys}
        if not self.keys:
            raise WebflowConfigurationError("A verifier needs at least one public key.")

    @classmethod
    def from_pems(cls, pems: Iterable[tuple[str, bytes]]) -> ManifestVerifier:
        """From ``(source, pem)`` pairs; a private key is accepted too (its public half is used)."""
        return cls(_load_public_key(pem, source) for source, pem in pems)

    def verify(self, manifest: Mapping[str, Any]) -> Verdict:
        signature = manifest.get(SIGNATURE_FIELD)
        if signature is None:
            return Verdict(UNSIGNED, "the manifest has no signature")
        if not isinstance(signature, Mapping):
            return Verdict(INVALID, "the manifest's signature field is not an object")
        used = signature.get("key_fingerprint")
        if signature.get("algorithm") != ALGORITHM:
            return Verdict(INVALID, f"the signature's algorithm is {signature.get('algorithm')!r}, not {ALGORITHM}")
        key = self.keys.get(used) if isinstance(used, str) else None
        if key is None:
            known = ", ".join(sorted(self.keys))
            return Verdict(UNKNOWN_KEY, f"signed by a key none of the given public keys is ({used}; known: {known})")
        try:
            key.verify(base64.b64decode(str(signature.get("value")), validate=True), canonical_bytes(manifest))
        except (InvalidSignature, ValueError):
            return Verdict(INVALID, f"the signature does not verify with key {used}: the manifest changed", used)
        return Verdict(VALID, f"signed by {used}", used)


def signer_from_connection(conn_id: str | None, *, required: bool) -> ManifestSigner | None:
    """The signer whose key is the password of Airflow connection ``conn_id``; None if there is none.

    ``required``: the user named the connection, so a missing one is an error, not unsigned manifests.
    """
    if not conn_id:
        return None
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        if required:
            raise WebflowConfigurationError(
                f"The signing connection {conn_id!r} does not exist. Create it (a generic connection whose "
                "password is an Ed25519 private key, PKCS#8 PEM: python -m airflow_webflow_audit.signing "
                "generate-key), or leave signing_conn_id unset to sign with 'webflow_audit_signing' when it exists."
            ) from None
        return None
    if not conn.password:
        raise WebflowConfigurationError(
            f"The signing connection {conn_id!r} has no password: put the Ed25519 private key (PKCS#8 PEM) there."
        )
    return ManifestSigner.from_pem(conn.password, source=conn_id)


def _load_private_key(pem: str | bytes, source: str) -> Ed25519PrivateKey:
    data = pem.encode("utf-8") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise WebflowConfigurationError(
            f"The signing key in {source} is not an unencrypted PKCS#8 PEM private key ({type(exc).__name__}). "
            "Make one with: python -m airflow_webflow_audit.signing generate-key"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise WebflowConfigurationError(
            f"The signing key in {source} is a {type(key).__name__}, not Ed25519. Make one with: "
            "python -m airflow_webflow_audit.signing generate-key"
        )
    return key


def _load_public_key(pem: bytes, source: str) -> Ed25519PublicKey:
    try:
        key: Any = serialization.load_pem_public_key(pem)
    except ValueError:
        key = _load_private_key(pem, source).public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise WebflowConfigurationError(f"The public key in {source} is a {type(key).__name__}, not Ed25519.")
    return key

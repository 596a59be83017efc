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

Every reader judges signatures by one :class:`SignaturePolicy`: the public keys, and the cut-over
before which windows may be unsigned (landed before signing was turned on). Inside Airflow it comes
from the signing connection (:func:`signing_from_connection`): its key's public half, the public keys
of earlier keys listed in its extra (``public_keys``), and its extra's ``unsigned_before``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from airflow_webflow_audit.compat import AirflowNotFoundException, BaseHook
from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.validation import validate_optional_datetime

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
        """From ``(source, key)`` pairs, each a public key in PEM or OpenSSH (``ssh-ed25519 ...``) form."""
        return cls(load_public_key(pem, source) for source, pem in pems)

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


@dataclass(frozen=True)
class SignaturePolicy:
    """How every reader of landed windows judges manifest signatures (see the module's docstring)."""

    #: The public keys signatures are checked with; None: signatures are not checked (the audit warns).
    verifier: ManifestVerifier | None = None
    #: Windows ending at or before this may be unsigned (landed before signing was turned on): a warning.
    unsigned_before: datetime | None = None


@dataclass(frozen=True)
class Signing:
    """What a signing connection gives a task: the signer (None: manifests are not signed) and the policy."""

    signer: ManifestSigner | None
    policy: SignaturePolicy


#: The signing connection's extra fields: earlier keys' public halves, and the unsigned cut-over.
PUBLIC_KEYS_EXTRA = "public_keys"
UNSIGNED_BEFORE_EXTRA = "unsigned_before"


def signing_from_connection(conn_id: str | None, *, required: bool, to_sign: bool = True) -> Signing:
    """The signer and signature policy of Airflow connection ``conn_id`` (default: the policy checks nothing).

    ``required``: the user named the connection, so a missing one is an error, not unsigned manifests.
    ``to_sign``: the task signs what it writes, so the connection must hold a private key; a reader may use a
    connection with only ``public_keys`` in its extra.
    """
    if not conn_id:
        return Signing(None, SignaturePolicy())
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        if required:
            raise WebflowConfigurationError(
                f"The signing connection {conn_id!r} does not exist. Create it (a generic connection whose "
                "password is an Ed25519 private key, PKCS#8 PEM: python -m airflow_webflow_audit.signing "
                "generate-key), or leave signing_conn_id unset to sign with 'webflow_audit_signing' when it exists."
            ) from None
        return Signing(None, SignaturePolicy())
    extra = _extra_of(conn, conn_id)
    keys = [
        load_public_key(text.encode("utf-8"), f"{conn_id} extra {PUBLIC_KEYS_EXTRA}[{index}]")
        for index, text in enumerate(_public_keys_in(extra.get(PUBLIC_KEYS_EXTRA), conn_id))
    ]
    signer = None
    if conn.password:
        signer = ManifestSigner.from_pem(conn.password, source=conn_id)
        keys.insert(0, signer.private_key.public_key())
    elif to_sign or not keys:
        raise WebflowConfigurationError(
            f"The signing connection {conn_id!r} has no password: put the Ed25519 private key (PKCS#8 PEM) there."
        )
    unsigned_before = _unsigned_before_in(extra.get(UNSIGNED_BEFORE_EXTRA), conn_id)
    return Signing(signer, SignaturePolicy(ManifestVerifier(keys), unsigned_before))


def _extra_of(conn: Any, conn_id: str) -> dict[str, Any]:
    try:
        extra = conn.extra_dejson
    except Exception:  # a malformed extra
        extra = None
    if not isinstance(extra, dict):
        raise WebflowConfigurationError(f"The extra of the signing connection {conn_id!r} is not a JSON object.")
    return extra


def _public_keys_in(value: object, conn_id: str) -> list[str]:
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise WebflowConfigurationError(
        f"{PUBLIC_KEYS_EXTRA} in the extra of the signing connection {conn_id!r} must be a list of public keys "
        "(PEM or OpenSSH strings), got " + type(value).__name__ + "."
    )


def _unsigned_before_in(value: object, conn_id: str) -> datetime | None:
    try:
        return validate_optional_datetime(value, UNSIGNED_BEFORE_EXTRA)
    except WebflowConfigurationError as exc:
        raise WebflowConfigurationError(f"The signing connection {conn_id!r}: {exc}") from None


def signer_from_connection(conn_id: str | None, *, required: bool) -> ManifestSigner | None:
    """The signer whose key is the password of Airflow connection ``conn_id``; None if there is none."""
    return signing_from_connection(conn_id, required=required).signer


def _load_private_key(pem: str | bytes, source: str) -> Ed25519PrivateKey:
    data = pem.encode("utf-8") if isinstance(pem, str) else pem
    if b"PUBLIC KEY" in data or data.lstrip().startswith(b"ssh-"):
        raise WebflowConfigurationError(
            f"{source} holds a public key where the signing key (private) belongs. Make one with: "
            "python -m airflow_webflow_audit.signing generate-key"
        )
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


def load_public_key(data: bytes, source: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo) or OpenSSH (``ssh-ed25519 AAAA... comment``) text.

    A private key is refused: an auditor verifies with the public half alone, and should never hold the other.
    """
    text = data.strip()
    if b"PRIVATE KEY" in text:
        raise WebflowConfigurationError(
            f"{source} holds a private key. An auditor needs only the public half, and should never hold the "
            "signing key: print it with python -m airflow_webflow_audit.signing public-key, and give that file."
        )
    key: Any
    try:
        if text.startswith(b"ssh-"):
            key = serialization.load_ssh_public_key(text)
        else:
            key = serialization.load_pem_public_key(text)
    except (ValueError, TypeError) as exc:
        raise WebflowConfigurationError(
            f"{source} is not a public key in PEM (-----BEGIN PUBLIC KEY-----) or OpenSSH (ssh-ed25519 ...) form "
            f"({type(exc).__name__}). Print the public key of the signing key with: python -m "
            "airflow_webflow_audit.signing public-key"
        ) from None
    except Exception as exc:  # an unsupported key type
        raise WebflowConfigurationError(
            f"{source} is not an Ed25519 public key ({type(exc).__name__}: {exc})."
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise WebflowConfigurationError(f"The public key in {source} is a {type(key).__name__}, not Ed25519.")
    return key

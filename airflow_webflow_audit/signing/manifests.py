"""What a manifest's signature covers, and verifying it against a keyring.

The signature lives inside the manifest, under ``signature``::

    "signature": {"algorithm": "ed25519" | "ecdsa-p256-sha256", "key_fingerprint": "sha256:<hex>",
                  "covers": "sha256-statement-v1", "value": "<base64>"}

It is over a short statement, ``airflow-webflow-audit manifest v1 sha256:<hex>``, of the sha256 of the
manifest's canonical bytes (:func:`canonical_bytes`: every field but the signature, keys sorted, no
whitespace, UTF-8), so it covers every field -- and through ``object.sha256`` the data object -- while
fitting what a KMS signs in one call (4 KB raw). Manifests signed before this scheme have no
``covers`` and an Ed25519 signature over the canonical bytes themselves; they keep verifying.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.signing.keyring import TrustedKey, trusted
from airflow_webflow_audit.signing.keys import ALGORITHMS, ED25519, PublicKey, load_public_key, verify_signature

SIGNATURE_FIELD = "signature"
#: The ``covers`` value of today's signatures: the statement of the canonical bytes' sha256.
STATEMENT_V1 = "sha256-statement-v1"
STATEMENT_PREFIX = b"airflow-webflow-audit manifest v1 sha256:"

#: What verifying one manifest can find.
VALID = "valid"
UNSIGNED = "unsigned"
UNKNOWN_KEY = "unknown_key"
INVALID = "invalid"


def canonical_bytes(manifest: Mapping[str, Any]) -> bytes:
    """The manifest without its signature, keys sorted, compact, UTF-8."""
    unsigned = {key: value for key, value in manifest.items() if key != SIGNATURE_FIELD}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def statement(manifest: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: a short statement of the sha256 of the manifest's canonical bytes."""
    return STATEMENT_PREFIX + hashlib.sha256(canonical_bytes(manifest)).hexdigest().encode("ascii")


def with_signature(
    manifest: Mapping[str, Any], *, algorithm: str, key_fingerprint: str, value: bytes
) -> dict[str, Any]:
    """``manifest`` with its ``signature`` field (any old one replaced)."""
    signature = {
        "algorithm": algorithm,
        "key_fingerprint": key_fingerprint,
        "covers": STATEMENT_V1,
        "value": base64.b64encode(value).decode("ascii"),
    }
    return {**{k: v for k, v in manifest.items() if k != SIGNATURE_FIELD}, SIGNATURE_FIELD: signature}


@dataclass(frozen=True)
class Verdict:
    """What verifying one manifest found: :data:`VALID`, :data:`UNSIGNED`, :data:`UNKNOWN_KEY` or :data:`INVALID`,
    and with which trusted key."""

    status: str
    detail: str
    key_fingerprint: str | None = None
    key: TrustedKey | None = None


class ManifestVerifier:
    """Verifies manifests against a keyring (several keys: keys are rotated, and retired)."""

    def __init__(self, keys: Iterable[TrustedKey | PublicKey]) -> None:
        self.keyring: dict[str, TrustedKey] = {}
        for key in trusted(keys):
            known = self.keyring.get(key.fingerprint)
            # The same key given twice (a file and the connection): the earlier retirement counts.
            if known is None or _retired_earlier(key, known):
                self.keyring[key.fingerprint] = key
        if not self.keyring:
            raise WebflowConfigurationError("A verifier needs at least one public key.")

    @property
    def keys(self) -> list[TrustedKey]:
        return list(self.keyring.values())

    @classmethod
    def from_pems(cls, pems: Iterable[tuple[str, bytes]]) -> ManifestVerifier:
        """From ``(source, key)`` pairs, each a public key in PEM or OpenSSH form."""
        return cls(load_public_key(pem, source) for source, pem in pems)

    def verify(self, manifest: Mapping[str, Any]) -> Verdict:
        signature = manifest.get(SIGNATURE_FIELD)
        if signature is None:
            return Verdict(UNSIGNED, "the manifest has no signature")
        if not isinstance(signature, Mapping):
            return Verdict(INVALID, "the manifest's signature field is not an object")
        used = signature.get("key_fingerprint")
        algorithm = signature.get("algorithm")
        if algorithm not in ALGORITHMS:
            return Verdict(INVALID, f"the signature's algorithm is {algorithm!r}, not one of {', '.join(ALGORITHMS)}")
        key = self.keyring.get(used) if isinstance(used, str) else None
        if key is None:
            known = ", ".join(sorted(self.keyring))
            return Verdict(UNKNOWN_KEY, f"signed by a key none of the given public keys is ({used}; known: {known})")
        if key.algorithm != algorithm:
            return Verdict(INVALID, f"the signature says {algorithm}, but key {used} is {key.algorithm}", used, key)
        covers = signature.get("covers")
        if covers == STATEMENT_V1:
            message = statement(manifest)
        elif covers is None and algorithm == ED25519:
            message = canonical_bytes(manifest)  # signed before statements
        else:
            return Verdict(INVALID, f"the signature covers {covers!r}, which this version does not know", used, key)
        try:
            value = base64.b64decode(str(signature.get("value")), validate=True)
        except ValueError:
            return Verdict(INVALID, "the signature's value is not base64", used, key)
        if not verify_signature(key.public_key, value, message):
            return Verdict(INVALID, f"the signature does not verify with key {used}: the manifest changed", used, key)
        return Verdict(VALID, f"signed by {key.describe()}", used, key)


def _retired_earlier(key: TrustedKey, than: TrustedKey) -> bool:
    return key.not_after is not None and (than.not_after is None or key.not_after < than.not_after)

"""Public keys of manifest signatures: the two algorithms, the forms a key comes in, fingerprints, and the
one function that checks a signature.

Two algorithms, both offered by AWS KMS and Google Cloud KMS and both in ``cryptography`` (which
Airflow itself depends on): Ed25519 (``ed25519``), and ECDSA over NIST P-256 with SHA-256
(``ecdsa-p256-sha256``, DER-encoded signatures as both KMSs return them). A key is named by its
fingerprint: ``sha256:`` of the raw 32 bytes for Ed25519 (what manifests signed before P-256 keys
existed name), of the DER SubjectPublicKeyInfo for P-256.
"""

from __future__ import annotations

import hashlib
from typing import Any, TypeAlias

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from airflow_webflow_audit.exceptions import WebflowConfigurationError

PublicKey: TypeAlias = Ed25519PublicKey | ec.EllipticCurvePublicKey
ED25519 = "ed25519"
ECDSA_P256_SHA256 = "ecdsa-p256-sha256"
ALGORITHMS = (ED25519, ECDSA_P256_SHA256)
#: How to print a public key so it can be handed to an auditor.
PUBLIC_KEY_HINT = "python -m airflow_webflow_audit.signing public-key"


def algorithm_of(key: Any) -> str:
    """The signature algorithm of a public key; a key of another kind is refused."""
    if isinstance(key, Ed25519PublicKey):
        return ED25519
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return ECDSA_P256_SHA256
    curve = getattr(getattr(key, "curve", None), "name", None)
    raise WebflowConfigurationError(
        f"A {type(key).__name__}{f' on {curve}' if curve else ''} cannot sign manifests: use an Ed25519 key or an "
        "ECDSA key on NIST P-256 (AWS KMS ECC_NIST_EDWARDS25519 or ECC_NIST_P256; Cloud KMS EC_SIGN_ED25519 or "
        "EC_SIGN_P256_SHA256)."
    )


def fingerprint(key: PublicKey) -> str:
    """``sha256:<hex>``: what a signed manifest names its key by."""
    if isinstance(key, Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        raw = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def public_key_pem(key: PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def load_public_key(data: bytes, source: str) -> PublicKey:
    """A public key from PEM (SubjectPublicKeyInfo) or OpenSSH (``ssh-ed25519 AAAA... comment``) text.

    A private key is refused: an auditor verifies with the public half alone, and should never hold the other.
    """
    text = data.strip()
    if b"PRIVATE KEY" in text:
        raise WebflowConfigurationError(
            f"{source} holds a private key. An auditor needs only the public half, and should never hold the "
            f"signing key: print it with {PUBLIC_KEY_HINT}, and give that file."
        )
    key: Any
    try:
        if text.startswith((b"ssh-", b"ecdsa-")):
            key = serialization.load_ssh_public_key(text)
        else:
            key = serialization.load_pem_public_key(text)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise WebflowConfigurationError(
            f"{source} is not a public key in PEM (-----BEGIN PUBLIC KEY-----) or OpenSSH (ssh-ed25519 ...) form "
            f"({type(exc).__name__}). Print the public key of the signing key with: {PUBLIC_KEY_HINT}"
        ) from None
    return _checked(key, source)


def public_key_from_der(der: bytes, source: str) -> PublicKey:
    """A public key from DER SubjectPublicKeyInfo, as AWS KMS's GetPublicKey returns it."""
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise WebflowConfigurationError(f"{source} is not a DER public key ({type(exc).__name__}).") from None
    return _checked(key, source)


def verify_signature(key: PublicKey, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is ``key``'s over ``message`` (for P-256: a DER ECDSA signature over its SHA-256)."""
    try:
        if isinstance(key, Ed25519PublicKey):
            key.verify(signature, message)
        else:
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def _checked(key: Any, source: str) -> Any:
    try:
        algorithm_of(key)
    except WebflowConfigurationError as exc:
        raise WebflowConfigurationError(f"The public key in {source}: {exc}") from None
    return key

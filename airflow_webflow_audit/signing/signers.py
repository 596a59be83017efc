"""Signers of manifests: a local Ed25519 key, or a key that never leaves AWS KMS or Google Cloud KMS.

The signing connection decides which (:func:`signer_for_connection`):

* a connection whose password is a PKCS#8 PEM Ed25519 private key: :class:`ManifestSigner`, in process;
* a connection of type ``aws`` whose extra has ``kms_key_id`` (a key id, ARN or alias): :class:`AwsKmsSigner`,
  through that connection's credentials, region and ``endpoint_url``; an ``ECC_NIST_EDWARDS25519`` key
  (``ED25519_SHA_512``) or an ``ECC_NIST_P256`` key (``ECDSA_SHA_256``), the statement sent raw;
* a connection of type ``google_cloud_platform`` whose extra has ``kms_key_version`` (a full
  CryptoKeyVersion name): :class:`GcpKmsSigner`, ``EC_SIGN_ED25519`` (the statement sent as data) or
  ``EC_SIGN_P256_SHA256`` (its SHA-256 digest sent), with CRC32C integrity checks both ways.

No private key material is read from a KMS connection: only its public key (GetPublicKey), once per
task. Every signer signs a short probe when it is made (so a missing ``kms:Sign`` or
``cloudkms.cryptoKeyVersions.useToSign`` permission fails the task before any request to Webflow),
and checks each signature it makes with its public key before it is used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from airflow_webflow_audit.exceptions import WebflowConfigurationError, WebflowSigningError
from airflow_webflow_audit.signing.keys import (
    ECDSA_P256_SHA256,
    ED25519,
    PublicKey,
    algorithm_of,
    fingerprint,
    load_public_key,
    public_key_from_der,
    verify_signature,
)
from airflow_webflow_audit.signing.manifests import statement, with_signature

#: The signing connection's extras naming a KMS key.
AWS_KMS_KEY_EXTRA = "kms_key_id"
GCP_KMS_KEY_EXTRA = "kms_key_version"
#: The most AWS KMS signs in one raw message; statements are far shorter.
AWS_KMS_MAX_RAW_BYTES = 4096
#: What a signer signs when it is made, to prove it can: never a manifest statement.
PROBE = b"airflow-webflow-audit signer probe"
_AWS_ALGORITHMS = {ED25519: "ED25519_SHA_512", ECDSA_P256_SHA256: "ECDSA_SHA_256"}
_GCP_ALGORITHMS = {ED25519: "EC_SIGN_ED25519", ECDSA_P256_SHA256: "EC_SIGN_P256_SHA256"}
_MAKE_A_KEY = "Make one with: python -m airflow_webflow_audit.signing generate-key"


class Signer:
    """Signs manifests with one key; subclasses say how a message is signed. Its ``repr`` names the key only."""

    #: Where the key is, for logs (never a secret).
    description = "a signing key"

    def public_key(self) -> PublicKey:
        raise NotImplementedError

    def sign_message(self, message: bytes) -> bytes:
        raise NotImplementedError

    @property
    def algorithm(self) -> str:
        return algorithm_of(self.public_key())

    @property
    def key_fingerprint(self) -> str:
        return fingerprint(self.public_key())

    def sign(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """``manifest`` with its ``signature`` field (any old one replaced)."""
        return with_signature(
            manifest,
            algorithm=self.algorithm,
            key_fingerprint=self.key_fingerprint,
            value=self._checked_signature(statement(manifest)),
        )

    def check(self) -> None:
        """Sign a probe and verify it: the key can sign, and signs what its public key says."""
        self._checked_signature(PROBE)

    def _checked_signature(self, message: bytes) -> bytes:
        value = self.sign_message(message)
        if not verify_signature(self.public_key(), value, message):
            raise WebflowSigningError(
                f"{self.description} returned a signature that does not verify with its public key "
                f"({self.key_fingerprint}). Nothing is signed with it; check that the key (version) is the one "
                "the connection names."
            )
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description}, key_fingerprint={self.key_fingerprint!r})"


@dataclass(frozen=True, repr=False)
class ManifestSigner(Signer):
    """A local Ed25519 private key (the signing connection's password). Its ``repr`` never shows the key."""

    private_key: Ed25519PrivateKey
    conn_id: str | None = None

    @classmethod
    def from_pem(cls, pem: str | bytes, *, source: str) -> ManifestSigner:
        return cls(_load_private_key(pem, source), source)

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"the local Ed25519 key from {self.conn_id!r}"

    def public_key(self) -> PublicKey:
        return self.private_key.public_key()

    def sign_message(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


class AwsKmsSigner(Signer):
    """A key in AWS KMS: ``ECC_NIST_EDWARDS25519`` or ``ECC_NIST_P256``, usage ``SIGN_VERIFY``."""

    def __init__(self, client: Any, key_id: str, *, conn_id: str | None = None) -> None:
        self._client = client
        self.description = f"AWS KMS key {key_id!r} (connection {conn_id!r})"
        answer = _kms_call(self.description, "GetPublicKey", lambda: client.get_public_key(KeyId=key_id))
        usage = answer.get("KeyUsage")
        if usage not in (None, "SIGN_VERIFY"):
            raise WebflowConfigurationError(
                f"{self.description} has KeyUsage {usage}; a signing key needs SIGN_VERIFY."
            )
        self._public = public_key_from_der(answer["PublicKey"], self.description)
        #: The key's ARN: every Sign call goes to the key GetPublicKey answered for, even if an alias moves.
        self.key_arn = str(answer.get("KeyId") or key_id)
        self._signing_algorithm = _AWS_ALGORITHMS[algorithm_of(self._public)]
        offered = answer.get("SigningAlgorithms")
        if offered and self._signing_algorithm not in offered:
            raise WebflowConfigurationError(
                f"{self.description} offers {offered}, not {self._signing_algorithm}: use an ECC_NIST_EDWARDS25519 "
                "or ECC_NIST_P256 key with usage SIGN_VERIFY."
            )

    @classmethod
    def from_connection(cls, conn_id: str, key_id: str) -> AwsKmsSigner:
        try:
            from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
        except ImportError:
            raise WebflowConfigurationError(
                f"The signing connection {conn_id!r} names an AWS KMS key, which needs the amazon provider: "
                "pip install 'airflow-webflow-audit[amazon]'."
            ) from None
        client = AwsBaseHook(aws_conn_id=conn_id, client_type="kms").get_conn()
        return cls(client, key_id, conn_id=conn_id)

    def public_key(self) -> PublicKey:
        return self._public

    def sign_message(self, message: bytes) -> bytes:
        if len(message) > AWS_KMS_MAX_RAW_BYTES:
            raise WebflowSigningError(f"A {len(message)}-byte message is more than AWS KMS signs raw.")
        answer = _kms_call(
            self.description,
            "Sign",
            lambda: self._client.sign(
                KeyId=self.key_arn, Message=message, MessageType="RAW", SigningAlgorithm=self._signing_algorithm
            ),
        )
        if answer.get("SigningAlgorithm") not in (None, self._signing_algorithm):
            raise WebflowSigningError(f"{self.description} signed with {answer.get('SigningAlgorithm')}.")
        return bytes(answer["Signature"])


class GcpKmsSigner(Signer):
    """A key version in Google Cloud KMS: ``EC_SIGN_ED25519`` or ``EC_SIGN_P256_SHA256``."""

    def __init__(self, client: Any, key_version: str, *, conn_id: str | None = None) -> None:
        self._client = client
        self.key_version = key_version
        self.description = f"Cloud KMS key version {key_version!r} (connection {conn_id!r})"
        answer = _kms_call(
            self.description, "GetPublicKey", lambda: client.get_public_key(request={"name": key_version})
        )
        pem = str(answer.pem).encode("utf-8")
        expected_crc = _optional_int(getattr(answer, "pem_crc32c", None))
        if expected_crc is not None and expected_crc != _crc32c(pem):
            raise WebflowSigningError(f"{self.description}: the public key arrived damaged (CRC32C mismatch).")
        if getattr(answer, "name", "") not in ("", None, key_version):
            raise WebflowSigningError(f"{self.description}: GetPublicKey answered for {answer.name!r}.")
        self._public = load_public_key(pem, self.description)
        algorithm = getattr(getattr(answer, "algorithm", None), "name", None)
        wanted = _GCP_ALGORITHMS[algorithm_of(self._public)]
        if algorithm not in (None, wanted):
            raise WebflowConfigurationError(
                f"{self.description} is {algorithm}; use an EC_SIGN_ED25519 or EC_SIGN_P256_SHA256 key version."
            )

    @classmethod
    def from_connection(cls, conn_id: str, key_version: str) -> GcpKmsSigner:
        try:
            from airflow.providers.google.cloud.hooks.kms import CloudKMSHook
        except ImportError:
            raise WebflowConfigurationError(
                f"The signing connection {conn_id!r} names a Cloud KMS key, which needs the google provider: "
                "pip install 'airflow-webflow-audit[google]'."
            ) from None
        return cls(CloudKMSHook(gcp_conn_id=conn_id).get_conn(), key_version, conn_id=conn_id)

    def public_key(self) -> PublicKey:
        return self._public

    def sign_message(self, message: bytes) -> bytes:
        if self.algorithm == ED25519:  # pure Ed25519: the data itself
            request: dict[str, Any] = {"name": self.key_version, "data": message, "data_crc32c": _crc32c(message)}
            verified = "verified_data_crc32c"
        else:  # EC_SIGN_P256_SHA256 signs a SHA-256 digest
            digest = hashlib.sha256(message).digest()
            request = {"name": self.key_version, "digest": {"sha256": digest}, "digest_crc32c": _crc32c(digest)}
            verified = "verified_digest_crc32c"
        answer = _kms_call(self.description, "AsymmetricSign", lambda: self._client.asymmetric_sign(request=request))
        signature = bytes(answer.signature)
        if not getattr(answer, verified, False):
            raise WebflowSigningError(
                f"{self.description}: the request arrived damaged (Cloud KMS did not verify its CRC32C)."
            )
        expected_crc = _optional_int(getattr(answer, "signature_crc32c", None))
        if expected_crc is not None and expected_crc != _crc32c(signature):
            raise WebflowSigningError(f"{self.description}: the signature arrived damaged (CRC32C mismatch).")
        if getattr(answer, "name", "") not in ("", None, self.key_version):
            raise WebflowSigningError(f"{self.description}: signed by {answer.name!r}.")
        return signature


def signer_for_connection(conn: Any, conn_id: str, *, probe: bool = True) -> Signer | None:
    """The signer a connection describes (see the module's docstring); None if it holds no key to sign with.

    ``probe``: sign a probe to prove the key can sign (a task that signs); a reader needs the public key only.
    """
    extra = conn.extra_dejson if isinstance(conn.extra_dejson, dict) else {}
    conn_type = (conn.conn_type or "").lower()
    if conn_type == "aws":
        key_id = extra.get(AWS_KMS_KEY_EXTRA)
        if not key_id:
            raise WebflowConfigurationError(
                f"The signing connection {conn_id!r} is an aws connection without {AWS_KMS_KEY_EXTRA!r} in its extra: "
                "name the KMS key (id, ARN or alias/...) that signs."
            )
        signer: Signer = AwsKmsSigner.from_connection(conn_id, str(key_id))
    elif conn_type in ("google_cloud_platform", "gcp"):
        version = extra.get(GCP_KMS_KEY_EXTRA) or extra.get(f"extra__google_cloud_platform__{GCP_KMS_KEY_EXTRA}")
        if not version:
            raise WebflowConfigurationError(
                f"The signing connection {conn_id!r} is a google_cloud_platform connection without "
                f"{GCP_KMS_KEY_EXTRA!r} in its extra: name the CryptoKeyVersion (projects/.../cryptoKeyVersions/N)."
            )
        signer = GcpKmsSigner.from_connection(conn_id, str(version))
    elif conn.password:
        signer = ManifestSigner.from_pem(conn.password, source=conn_id)
    else:
        return None
    if probe:
        signer.check()
    return signer


def generate_private_key_pem() -> str:
    """A new Ed25519 private key as unencrypted PKCS#8 PEM, for the signing connection's password."""
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _load_private_key(pem: str | bytes, source: str) -> Ed25519PrivateKey:
    data = pem.encode("utf-8") if isinstance(pem, str) else pem
    if b"PUBLIC KEY" in data or data.lstrip().startswith(b"ssh-"):
        raise WebflowConfigurationError(
            f"{source} holds a public key where the signing key (private) belongs. {_MAKE_A_KEY}"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise WebflowConfigurationError(
            f"The signing key in {source} is not an unencrypted PKCS#8 PEM private key ({type(exc).__name__}). "
            f"{_MAKE_A_KEY}, or sign with a KMS key (an aws or google_cloud_platform signing connection)."
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise WebflowConfigurationError(
            f"The signing key in {source} is a {type(key).__name__}, not Ed25519. {_MAKE_A_KEY}, or keep a P-256 key "
            "in AWS KMS or Cloud KMS."
        )
    return key


def _kms_call(description: str, what: str, call: Any) -> Any:
    try:
        return call()
    except WebflowConfigurationError:
        raise
    except Exception as exc:  # botocore ClientError, google.api_core errors, network
        raise WebflowSigningError(
            f"{what} on {description} failed ({type(exc).__name__}: {exc}). The task needs kms:GetPublicKey and "
            "kms:Sign (AWS) or cloudkms.cryptoKeyVersions.viewPublicKey and useToSign (GCP) on that key, and the "
            "key (version) must be enabled."
        ) from exc


def _crc32c(data: bytes) -> int:
    import google_crc32c

    return int(google_crc32c.value(data))


def _optional_int(value: Any) -> int | None:
    if value is None:
        return None
    inner = getattr(value, "value", value)
    return int(inner) if inner not in (None, "") else None

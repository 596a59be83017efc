"""Stand-ins for the KMS operations moto does not implement, answering in the services' own shapes.

* :class:`FakeAwsKms`: AWS KMS's JSON protocol (``X-Amz-Target: TrentService.<Operation>``, base64 blobs)
  over real HTTP on loopback, for GetPublicKey and Sign with an ``ECC_NIST_EDWARDS25519`` or
  ``ECC_NIST_P256`` key held here. boto3 talks to it through an ``aws`` connection's ``endpoint_url``,
  so the provider's code path is the one it takes against AWS. moto 5 refuses Ed25519 keys.
* :class:`FakeCloudKms`: a ``KeyManagementServiceClient`` with ``get_public_key`` and ``asymmetric_sign``
  taking the request dicts the real client takes and returning ``google.cloud.kms`` response types,
  with the service's CRC32C checks. There is no Cloud KMS emulator.

Both sign with ``cryptography`` as the services do: Ed25519 pure, ECDSA P-256 over SHA-256, DER.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import google_crc32c
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from airflow_webflow_audit.testing.deployment import free_port

AWS_SPECS = {"ECC_NIST_EDWARDS25519": "ED25519_SHA_512", "ECC_NIST_P256": "ECDSA_SHA_256"}


def new_private_key(spec: str) -> Any:
    return (
        Ed25519PrivateKey.generate()
        if "EDWARDS" in spec or "ED25519" in spec
        else ec.generate_private_key(ec.SECP256R1())
    )


class FakeAwsKms:
    """One KMS key, ``alias/webflow-audit``, reachable at :attr:`endpoint`."""

    MAX_RAW = 4096

    def __init__(self, key_spec: str = "ECC_NIST_EDWARDS25519") -> None:
        self.key_spec = key_spec
        self.private_key = new_private_key(key_spec)
        self.key_id = str(uuid.uuid4())
        self.arn = f"arn:aws:kms:us-east-1:123456789012:key/{self.key_id}"
        self.alias = "alias/webflow-audit"
        self.enabled = True
        self.calls: list[tuple[str, dict[str, Any]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                target = self.headers.get("X-Amz-Target", "")
                status, answer = fake.answer(target.removeprefix("TrentService."), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeAwsKms:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.calls.append((operation, body))
        if body.get("KeyId") not in (self.key_id, self.arn, self.alias):
            return 400, {"__type": "NotFoundException", "message": f"Key '{body.get('KeyId')}' does not exist"}
        if not self.enabled:
            return 400, {"__type": "DisabledException", "message": f"{self.arn} is disabled."}
        algorithm = AWS_SPECS[self.key_spec]
        if operation == "GetPublicKey":
            der = self.private_key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return 200, {
                "KeyId": self.arn,
                "PublicKey": base64.b64encode(der).decode(),
                "KeySpec": self.key_spec,
                "KeyUsage": "SIGN_VERIFY",
                "SigningAlgorithms": [algorithm],
            }
        if operation == "Sign":
            message = base64.b64decode(body["Message"])
            if body.get("SigningAlgorithm") != algorithm:
                return 400, {"__type": "InvalidKeyUsageException", "message": "wrong signing algorithm"}
            if body.get("MessageType", "RAW") != "RAW" or len(message) > self.MAX_RAW:
                return 400, {"__type": "ValidationException", "message": "Message must be at most 4096 bytes raw"}
            if isinstance(self.private_key, Ed25519PrivateKey):
                signature = self.private_key.sign(message)
            else:
                signature = self.private_key.sign(message, ec.ECDSA(hashes.SHA256()))
            return 200, {
                "KeyId": self.arn,
                "Signature": base64.b64encode(signature).decode(),
                "SigningAlgorithm": algorithm,
            }
        return 400, {"__type": "UnsupportedOperationException", "message": operation}


class FakeCloudKms:
    """One CryptoKeyVersion, ``EC_SIGN_ED25519`` or ``EC_SIGN_P256_SHA256``."""

    def __init__(self, algorithm: str = "EC_SIGN_ED25519") -> None:
        self.algorithm = algorithm
        self.private_key = new_private_key(algorithm)
        self.name = "projects/p/locations/global/keyRings/audit/cryptoKeys/manifests/cryptoKeyVersions/1"
        self.requests: list[dict[str, Any]] = []
        self.damage_signature = False

    def get_public_key(self, request: dict[str, Any]) -> Any:
        from google.cloud import kms

        self._check_name(request["name"])
        pem = (
            self.private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        return kms.PublicKey(
            pem=pem,
            algorithm=kms.CryptoKeyVersion.CryptoKeyVersionAlgorithm[self.algorithm],
            pem_crc32c=google_crc32c.value(pem.encode()),
            name=self.name,
        )

    def asymmetric_sign(self, request: dict[str, Any]) -> Any:
        from google.api_core import exceptions
        from google.cloud import kms

        self._check_name(request["name"])
        self.requests.append(request)
        if self.algorithm == "EC_SIGN_ED25519":
            if "digest" in request:
                raise exceptions.InvalidArgument("EC_SIGN_ED25519 signs data, not a digest")
            data = request["data"]
            if request.get("data_crc32c") != google_crc32c.value(data):
                raise exceptions.InvalidArgument("data_crc32c does not match")
            signature = self.private_key.sign(data)
            verified = {"verified_data_crc32c": True}
        else:
            digest = request["digest"]["sha256"]
            if request.get("digest_crc32c") != google_crc32c.value(digest):
                raise exceptions.InvalidArgument("digest_crc32c does not match")
            signature = self.private_key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
            verified = {"verified_digest_crc32c": True}
        crc = google_crc32c.value(signature)
        if self.damage_signature:
            signature = bytes([signature[0] ^ 1]) + signature[1:]
        return kms.AsymmetricSignResponse(signature=signature, signature_crc32c=crc, name=self.name, **verified)

    def _check_name(self, name: str) -> None:
        if name != self.name:
            from google.api_core import exceptions

            raise exceptions.NotFound(f"{name} not found")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

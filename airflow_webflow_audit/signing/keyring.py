"""A keyring: the public keys a reader trusts, each with a name and, once retired, the time after which its
signatures stop counting.

A retired key's signatures made before its ``not_after`` keep verifying; a part whose manifest was
written after it is a problem, so a leaked old key cannot sign a rewritten window. When a manifest was
written comes from the store (S3 ``LastModified``, GCS ``timeCreated``), never from the manifest.

The keyring file (``--keyring FILE``) is JSON::

    {"keys": [
        {"name": "ed25519-2026", "public_key_file": "ed25519-2026.pub.pem", "not_after": "2026-12-01T00:00:00Z"},
        {"name": "kms-2027", "public_key": "-----BEGIN PUBLIC KEY-----\\n...\\n-----END PUBLIC KEY-----\\n"}
    ]}

``public_key`` (PEM or OpenSSH text) or ``public_key_file`` (a path, relative to the keyring file);
``name`` and ``not_after`` (ISO 8601 with an offset) are optional. ``--public-key FILE@ISO-TIME`` is one
key with its ``not_after``; the signing connection's extra ``public_keys`` takes the same objects (or
plain key strings).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.signing.keys import PublicKey, algorithm_of, fingerprint, load_public_key
from airflow_webflow_audit.validation import validate_datetime, validate_optional_datetime

KEYRING_FIELDS = ("name", "public_key", "public_key_file", "not_after")


@dataclass(frozen=True)
class TrustedKey:
    """A public key a reader verifies with: its name, and when it was retired (None: it is current)."""

    public_key: PublicKey
    name: str
    not_after: datetime | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    @property
    def algorithm(self) -> str:
        return algorithm_of(self.public_key)

    def describe(self) -> str:
        retired = f", retired at {self.not_after.isoformat()}" if self.not_after else ""
        return f"{self.name} ({self.fingerprint}{retired})"


def trusted(keys: Iterable[TrustedKey | PublicKey]) -> list[TrustedKey]:
    """Plain public keys as current trusted keys named by their fingerprints; trusted keys as they are."""
    return [key if isinstance(key, TrustedKey) else TrustedKey(key, fingerprint(key)) for key in keys]


def key_argument(text: str) -> TrustedKey:
    """``FILE`` or ``FILE@ISO-TIME`` (the key retired at that time), as ``--public-key`` takes it.

    A file whose own name holds an ``@`` is read whole. Otherwise what follows the last ``@`` must be a
    time: empty (an unset shell variable in ``pub.pem@$RETIRED``) or unreadable, it is an error that says
    so, never a key silently treated as not retired.
    """
    path, not_after = text, None
    head, at, tail = text.rpartition("@")
    if at and head and not Path(text).exists():
        if not tail.strip():
            raise WebflowConfigurationError(
                f"--public-key {text!r} has nothing after the @ where the key's retirement time goes (an unset "
                "variable?): give an ISO 8601 time with an offset, e.g. pub.pem@2026-12-01T00:00:00Z, or drop the @."
            )
        not_after = validate_datetime(tail, f"the retirement time after @ in --public-key {text!r}")
        path = head
    data = Path(path).read_bytes()
    return TrustedKey(load_public_key(data, path), Path(path).name, not_after)


def load_keyring(path: str | Path) -> list[TrustedKey]:
    """The keys of a keyring file (see the module's docstring)."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise WebflowConfigurationError(f"The keyring {path} is not JSON ({exc}).") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise WebflowConfigurationError(f'The keyring {path} must be {{"keys": [...]}} with at least one key.')
    return [key_entry(entry, f"{path} key {index}", base=path.parent) for index, entry in enumerate(entries)]


def key_entry(entry: Any, source: str, *, base: Path | None = None) -> TrustedKey:
    """One keyring entry: a key string, or an object with ``public_key`` or ``public_key_file``."""
    if isinstance(entry, str):
        key = load_public_key(entry.encode("utf-8"), source)
        return TrustedKey(key, fingerprint(key))
    if not isinstance(entry, dict):
        raise WebflowConfigurationError(f"{source} must be a public key string or an object, got {entry!r}.")
    unknown = sorted(set(entry) - set(KEYRING_FIELDS))
    if unknown:
        raise WebflowConfigurationError(f"{source} has unknown fields {unknown}; known: {list(KEYRING_FIELDS)}.")
    if ("public_key" in entry) == ("public_key_file" in entry):
        raise WebflowConfigurationError(f"{source} needs exactly one of public_key and public_key_file.")
    if "public_key" in entry:
        data = str(entry["public_key"]).encode("utf-8")
    else:
        if base is None:
            raise WebflowConfigurationError(f"{source}: public_key_file is for keyring files; give public_key here.")
        data = (base / str(entry["public_key_file"])).read_bytes()
    key = load_public_key(data, source)
    text = entry.get("not_after")
    if isinstance(text, str) and not text.strip():
        raise WebflowConfigurationError(
            f"{source} has an empty not_after (a template over a missing value?): give the key's retirement time, "
            "ISO 8601 with an offset, or leave the field out (or null) for a key that is not retired."
        )
    not_after = validate_optional_datetime(text, f"{source} not_after")
    return TrustedKey(key, str(entry.get("name") or fingerprint(key)), not_after)

"""What differs per storage scheme, in one place: a new backend is one class here and a row of :data:`BACKENDS`.

Each backend says which URL schemes it serves and what they need installed, how an object is
created exclusively (visible whole, once, never over an existing one), what a create may carry (S3
Object Lock), how a finished temporary object replaces a bookkeeping file, how a folder is listed
(name, kind, size, times), what its creation time is worth as evidence, and how OpenLineage names
its datasets. Everything else reads and writes through ``ObjectStoragePath`` and fsspec.

Storage is opened here without Airflow's hook-lineage tracking (:func:`open_untracked`): the landing's
temporary keys, manifests and bookkeeping are not datasets, and the data objects are reported by
:mod:`airflow_webflow_audit.lineage` under their plain URIs.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Any, ClassVar

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.exceptions import (
    WebflowConfigurationError,
    WebflowError,
    WebflowLandingConflictError,
    WebflowLandingError,
)

log = logging.getLogger(__name__)

#: How destination URLs are written, for messages.
DESTINATIONS = "s3://<aws_conn_id>@bucket/prefix, gs://bucket/prefix or file:///absolute/path"
#: Why S3 Object Lock is refused for other destinations, and what GCS offers instead.
OBJECT_LOCK_S3_ONLY = (
    "object_lock_mode applies to s3:// destinations only. On GCS, give the bucket a retention policy (and lock "
    "it): the landing never replaces or deletes an object, so it works there; a local folder has no lock."
)

#: What a listing entry is: an object, a folder (a common prefix), or something else (a dangling link).
FILE, DIRECTORY, OTHER = "file", "directory", "other"


@dataclass(frozen=True)
class Entry:
    """One name in a folder, as the store lists it."""

    name: str
    kind: str
    #: When the object was created, as the store reports it (None where it reports none).
    created: datetime | None = None
    #: When it was last written.
    modified: datetime | None = None


@dataclass(frozen=True)
class ObjectLockSettings:
    """The S3 Object Lock a create carries: ``mode`` until ``retain_until``."""

    mode: str
    retain_until: datetime


def open_untracked(path: ObjectStoragePath, mode: str) -> IO[bytes]:
    """Open ``path`` without reporting it to the hook-lineage collector."""
    return path.fs.open(path.path, mode=mode)


def read_untracked(path: ObjectStoragePath) -> bytes:
    """The whole object at ``path``, read without reporting it (for manifests and bookkeeping state)."""
    with open_untracked(path, "rb") as raw:
        return raw.read()


def read_if_present(path: ObjectStoragePath) -> bytes | None:
    """The bytes at ``path`` (read untracked); None if there is nothing there."""
    try:
        return read_untracked(path)
    except FileNotFoundError:
        return None
    except Exception as exc:
        raise WebflowLandingError(
            f"Reading {path} failed ({type(exc).__name__}: {exc}). Nothing was written; the task can be retried "
            "once the storage is reachable."
        ) from exc


def list_folder(folder: ObjectStoragePath) -> list[Entry]:
    """The names directly in ``folder`` (see :meth:`Backend.list_folder`)."""
    return backend_of(folder).list_folder(folder)


def protocol_of(path: ObjectStoragePath) -> str:
    """The path's protocol (``file``, ``s3``, ``gs``...), whichever form fsspec gives it in."""
    return path.protocol if isinstance(path.protocol, str) else path.protocol[0]


class ExclusiveCreate:
    """A new object's bytes on their way to ``path``, visible there only on :meth:`complete`.

    Write to :attr:`raw`; then :meth:`complete` (a key that exists raises
    :class:`~airflow_webflow_audit.exceptions.WebflowLandingConflictError`) or :meth:`discard`.
    """

    raw: IO[bytes]

    def __init__(self, path: ObjectStoragePath) -> None:
        self.path = path

    def complete(self) -> None:
        raise NotImplementedError

    def discard(self, why: str) -> None:
        raise NotImplementedError


class Backend:
    """One kind of storage. Subclasses override what differs; the defaults are an object store's."""

    #: URL schemes served, and what a destination with them needs installed.
    schemes: ClassVar[tuple[str, ...]] = ()
    install_hint: ClassVar[str] = ""
    #: OpenLineage's namespace scheme for datasets here (``s3://bucket``), None for a local path.
    lineage_scheme: ClassVar[str | None] = None
    #: Whether an object's creation time comes from the store itself (nobody can set it) or from a
    #: file system where anyone who may write the file may set it too.
    trusted_creation_time: ClassVar[bool] = True
    #: A path on this machine (``file:///absolute/path``), not ``bucket/prefix`` in an object store: folders
    #: must exist before a file is written in them.
    local: ClassVar[bool] = False
    #: Whether creates may carry S3 Object Lock.
    object_lock: ClassVar[bool] = False

    def location_of(self, destination: str, rest: str) -> str:
        """The location of a destination URL, ``rest`` being what follows ``scheme://``: ``bucket/prefix``
        (any ``conn_id@`` dropped), checked offline."""
        netloc, slash, path = rest.partition("/")
        bucket = netloc.rpartition("@")[2]
        if not bucket:
            raise WebflowConfigurationError(f"destination={destination!r} names no bucket; write it as {DESTINATIONS}.")
        return bucket + slash + path

    def plain_uri(self, scheme: str, location: str) -> str:
        """``scheme://location`` without a connection id, as asset URIs and lineage name it."""
        return f"{scheme}://{location.strip('/')}"

    def create_arguments(self, lock: ObjectLockSettings | None) -> dict[str, Any]:
        """Per-object arguments of an exclusive create."""
        if lock is not None:
            raise WebflowConfigurationError(f"{OBJECT_LOCK_S3_ONLY} Got a {self.schemes[0]}:// destination.")
        return {}

    def open_exclusive(self, path: ObjectStoragePath, arguments: dict[str, Any]) -> ExclusiveCreate:
        return _ObjectStoreCreate(path, arguments)

    def replace(self, source: ObjectStoragePath, target: ObjectStoragePath) -> None:
        """Put ``source`` at ``target`` whole, replacing what is there, then drop ``source`` (bookkeeping only)."""
        # A server-side copy is atomic at the target. Not fs.mv: gcsfs first tries the moveTo API, which
        # some GCS emulators lack, and retries it for half a minute before copying anyway.
        source.fs.copy(source.path, target.path)
        source.fs.rm(source.path)

    def check_writable(self, destination: ObjectStoragePath, lock: ObjectLockSettings | None) -> None:
        """The destination's bucket exists (no probe object: on a write-once bucket it could never go)."""
        bucket = destination.path.split("/", 1)[0]
        if not destination.fs.exists(bucket):
            raise WebflowLandingError(
                f"The bucket {bucket!r} of destination {destination} does not exist, or these credentials "
                "cannot see it. Create it, or fix the destination or its connection."
            )

    def list_folder(self, folder: ObjectStoragePath) -> list[Entry]:
        """The names directly in ``folder``, sorted; an empty list when there is no such folder."""
        try:
            infos = folder.fs.ls(folder.path, detail=True)
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise WebflowLandingError(f"Listing {folder} failed ({type(exc).__name__}: {exc}).") from exc
        base = folder.path.rstrip("/")
        entries = []
        for info in infos:
            name = str(info.get("name", "")).rstrip("/").rsplit("/", 1)[-1]
            if not name or str(info.get("name", "")).rstrip("/") == base:
                continue  # the folder's own placeholder object
            kind = info.get("type")
            entries.append(
                Entry(name, kind if kind in (FILE, DIRECTORY) else OTHER, self._created(info), self._modified(info))
            )
        return sorted(entries, key=lambda entry: entry.name)

    def _created(self, info: dict[str, Any]) -> datetime | None:
        return self._modified(info)

    def _modified(self, info: dict[str, Any]) -> datetime | None:
        return _as_utc(info.get("LastModified") or info.get("updated") or info.get("mtime"))

    def dataset_namespace(self, path: ObjectStoragePath) -> tuple[str, str]:
        """``(namespace, name)`` of a stored object, as OpenLineage's naming spec names it."""
        bucket, _, key = path.path.partition("/")
        return f"{self.lineage_scheme}://{bucket}", key or "/"


class S3Backend(Backend):
    schemes = ("s3", "s3a")
    install_hint = "apache-airflow-providers-amazon[s3fs] (extra 'amazon')"
    lineage_scheme = "s3"
    object_lock = True

    def create_arguments(self, lock: ObjectLockSettings | None) -> dict[str, Any]:
        if lock is None:
            return {}
        return {
            "ObjectLockMode": lock.mode,
            "ObjectLockRetainUntilDate": lock.retain_until,
            # S3 refuses a lock without a checksum; older botocore does not send one by itself.
            "ChecksumAlgorithm": "CRC32",
        }

    def check_writable(self, destination: ObjectStoragePath, lock: ObjectLockSettings | None) -> None:
        super().check_writable(destination, lock)
        if lock is not None:
            _check_object_lock_enabled(destination, destination.path.split("/", 1)[0])

    def _created(self, info: dict[str, Any]) -> datetime | None:
        # An S3 object is never modified in place: its LastModified is when this version was created.
        return _as_utc(info.get("LastModified"))


class GCSBackend(Backend):
    schemes = ("gs", "gcs")
    install_hint = "apache-airflow-providers-google (extra 'google')"
    lineage_scheme = "gs"

    def _created(self, info: dict[str, Any]) -> datetime | None:
        return _as_utc(info.get("timeCreated"))


class LocalBackend(Backend):
    schemes = ("file", "local")
    install_hint = "nothing extra"
    lineage_scheme = None
    trusted_creation_time = False  # anyone who may write the file may set its times
    local = True

    def location_of(self, destination: str, rest: str) -> str:
        if not rest.startswith("/"):
            raise WebflowConfigurationError(
                f"destination={destination!r} is not an absolute path; write file:///absolute/path (three slashes)."
            )
        return rest

    def plain_uri(self, scheme: str, location: str) -> str:
        return f"file://{location.rstrip('/')}"

    def open_exclusive(self, path: ObjectStoragePath, arguments: dict[str, Any]) -> ExclusiveCreate:
        return _LocalCreate(path)

    def replace(self, source: ObjectStoragePath, target: ObjectStoragePath) -> None:
        source.rename(target)  # os.rename: atomic within one filesystem

    def check_writable(self, destination: ObjectStoragePath, lock: ObjectLockSettings | None) -> None:
        """A local folder is created and takes a probe file."""
        destination.mkdir(parents=True, exist_ok=True)
        probe = destination / f".webflow-audit-write-probe-{uuid.uuid4().hex[:12]}"
        with open_untracked(probe, "wb"):
            pass
        probe.unlink()

    def _created(self, info: dict[str, Any]) -> datetime | None:
        return _as_utc(info.get("mtime"))

    def dataset_namespace(self, path: ObjectStoragePath) -> tuple[str, str]:
        return "file", "/" + path.path.lstrip("/")


class MemoryBackend(Backend):
    """fsspec's in-memory store (``memory://bucket/prefix``), for tests, as httpx's ``MockTransport`` serves
    httpx's: exclusive creates, listings and creation times as an object store has them, in one process and
    without an emulator. Not a destination a task may name (it is gone when the process ends); tests register
    it with :func:`airflow_webflow_audit.testing.memory.memory_storage`."""

    schemes = ("memory",)
    install_hint = "nothing (tests only)"
    lineage_scheme = "memory"

    def open_exclusive(self, path: ObjectStoragePath, arguments: dict[str, Any]) -> ExclusiveCreate:
        return _MemoryCreate(path)

    def check_writable(self, destination: ObjectStoragePath, lock: ObjectLockSettings | None) -> None:
        """Memory is always writable."""

    def _created(self, info: dict[str, Any]) -> datetime | None:
        return _as_utc(info.get("created"))

    def dataset_namespace(self, path: ObjectStoragePath) -> tuple[str, str]:
        """As an object store's: the bucket (the first name; fsspec's memory paths start at ``/``) and the key."""
        bucket, _, key = path.path.lstrip("/").partition("/")
        return f"memory://{bucket}", key or "/"


#: Every backend by URL scheme.
BACKENDS: dict[str, Backend] = {
    scheme: backend
    for backend in (S3Backend(), GCSBackend(), LocalBackend(), MemoryBackend())
    for scheme in backend.schemes
}
#: The schemes a destination URL may use (``local`` is fsspec's own name for ``file``; ``memory`` is for tests).
SUPPORTED_SCHEMES: dict[str, str] = {
    scheme: backend.install_hint
    for scheme, backend in BACKENDS.items()
    if scheme not in ("s3a", "local") and not isinstance(backend, MemoryBackend)
}


def backend_of(path: ObjectStoragePath) -> Backend:
    """The backend of ``path``'s protocol."""
    protocol = protocol_of(path)
    try:
        return BACKENDS[protocol]
    except KeyError:
        raise WebflowConfigurationError(
            f"destination protocol {protocol!r} is not supported; use one of {', '.join(SUPPORTED_SCHEMES)}."
        ) from None


def temporary_sibling(path: ObjectStoragePath) -> ObjectStoragePath:
    """A fresh temporary key beside ``path``, named as the layout names them (hidden, suffixed)."""
    from airflow_webflow_audit.landing.layout import temporary_name  # the layout imports this module

    return path.parent / temporary_name(path.name, uuid.uuid4().hex[:12])


def conflict(path: ObjectStoragePath) -> WebflowLandingConflictError:
    return WebflowLandingConflictError(
        f"{path} exists already: another landing of this window created it first. Nothing of this landing is "
        "visible; run the task again (it lands only what that landing did not)."
    )


@contextlib.contextmanager
def storage_step(what: str, path: ObjectStoragePath) -> Iterator[None]:
    """Turns a storage failure in its block into a :class:`WebflowLandingError` naming what failed."""
    try:
        yield
    except WebflowError:
        raise
    except Exception as exc:
        raise WebflowLandingError(
            f"{what} {path} failed ({type(exc).__name__}: {exc}). Nothing was created at the final key; "
            "the task can be retried once the storage is reachable."
        ) from exc


class _ObjectStoreCreate(ExclusiveCreate):
    """S3 and GCS: the data streams to its final key as fsspec's ``"xb"`` (S3 ``If-None-Match: *``, GCS
    ``ifGenerationMatch=0``), visible only once the upload completes."""

    def __init__(self, path: ObjectStoragePath, arguments: dict[str, Any]) -> None:
        super().__init__(path)
        with storage_step("Writing", path):
            self.raw = path.fs.open(path.path, mode="xb", **arguments)

    def complete(self) -> None:
        try:
            with storage_step("Writing", self.path):
                self.raw.close()  # the exclusive create itself
        except BaseException as exc:
            self.discard(type(exc).__name__)
            if isinstance(exc, WebflowLandingError) and isinstance(exc.__cause__, FileExistsError):
                raise conflict(self.path) from exc.__cause__
            raise

    def discard(self, why: str) -> None:
        try:
            discard = getattr(self.raw, "discard", None)
            if discard is not None:
                discard()  # aborts a multipart (S3) or resumable (GCS) upload; close() would commit it
            self.raw.closed = True  # type: ignore[misc]  # so fsspec's finalizer does not close (commit) it
        except Exception as exc:
            log.warning(
                "Discarding the upload to %s after %s failed (%s: %s).", self.path, why, type(exc).__name__, exc
            )


class _LocalCreate(ExclusiveCreate):
    """A local disk: a hidden temporary file, then a hard link to the final name (atomic, fails if it exists)."""

    def __init__(self, path: ObjectStoragePath) -> None:
        super().__init__(path)
        with storage_step("Writing", path):
            path.parent.mkdir(parents=True, exist_ok=True)
            if os.path.lexists(path.path):
                raise conflict(path)
            self.temporary = temporary_sibling(path)
            self.raw = open_untracked(self.temporary, "wb")

    def complete(self) -> None:
        try:
            with storage_step("Writing", self.path):
                self.raw.close()
                os.link(self.temporary.path, self.path.path)  # fails if the name exists
        except BaseException as exc:
            self.discard(type(exc).__name__)
            if isinstance(exc, WebflowLandingError) and isinstance(exc.__cause__, FileExistsError):
                raise conflict(self.path) from exc.__cause__
            raise
        remove_quietly(self.temporary, "linked")

    def discard(self, why: str) -> None:
        with contextlib.suppress(Exception):
            self.raw.close()
        remove_quietly(self.temporary, why)


class _MemoryCreate(ExclusiveCreate):
    """In memory: the bytes gather in a buffer and appear whole on :meth:`complete`, unless the key exists by
    then (checked and stored under one lock, as an object store's conditional create does)."""

    _lock = threading.Lock()

    def __init__(self, path: ObjectStoragePath) -> None:
        super().__init__(path)
        self.raw = self._buffer = io.BytesIO()

    def complete(self) -> None:
        with self._lock:
            if self.path.fs.exists(self.path.path):
                raise conflict(self.path)
            self.path.fs.pipe_file(self.path.path, self._buffer.getvalue())

    def discard(self, why: str) -> None:
        self._buffer.close()


def remove_quietly(path: ObjectStoragePath, why: str) -> None:
    """Remove a temporary object of this landing's own; a failure is only logged."""
    try:
        if path.exists():
            path.unlink()
    except Exception as exc:
        log.warning(
            "Could not remove the temporary object %s after %s (%s: %s). It is not at the final key and is "
            "safe to delete.",
            path,
            why,
            type(exc).__name__,
            exc,
        )


def _check_object_lock_enabled(destination: ObjectStoragePath, bucket: str) -> None:
    try:
        answer = destination.fs.call_s3("get_object_lock_configuration", Bucket=bucket)
        enabled = answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
    except Exception as exc:  # ObjectLockConfigurationNotFoundError comes back as an OSError from s3fs
        if "ObjectLockConfiguration" not in f"{type(exc).__name__} {exc}":
            raise
        enabled = False
    if not enabled:
        raise WebflowConfigurationError(
            f"object_lock_mode is set, but the bucket {bucket!r} has no S3 Object Lock. Object Lock can only be "
            "turned on for a versioned bucket (aws s3api put-object-lock-configuration, or create the bucket with "
            "--object-lock-enabled-for-bucket), or drop object_lock_mode. Nothing was requested from Webflow."
        )


def _as_utc(value: Any) -> datetime | None:
    """A listing's time (a datetime, an RFC 3339 string, or epoch seconds) in UTC; None if there is none."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return None

"""Writing storage: the only module that does. A landed object is created once and never replaced.

One part of a window is landed in one direction::

    with open_part(object_path, file_format, options) as out:
        for batch in new_events:
            out.write(batch)
        written = out.finish()
        out.commit(manifest)  # signed by then; created beside the object, after it

On S3 and GCS the data streams straight to its final key as an exclusive create (fsspec's ``"xb"``:
S3 ``If-None-Match: *``, GCS ``ifGenerationMatch=0``). The upload becomes visible only when it is
complete; one that fails or is abandoned is discarded (its multipart or resumable upload aborted),
never closed into a partial object. No temporary key, no copy, no delete: what a write-once bucket
(S3 Object Lock, a GCS retention policy) allows. On a local disk the data goes to a hidden temporary
file that is then hard-linked to its final name, which is atomic and fails if the name exists.

A key that exists already raises :class:`~airflow_webflow_audit.exceptions.WebflowLandingConflictError`:
another landing of the window got there first, and nothing of this one is visible.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import IO, Any

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.exceptions import (
    WebflowConfigurationError,
    WebflowError,
    WebflowLandingConflictError,
    WebflowLandingError,
)
from airflow_webflow_audit.jsonlines import EventBatch
from airflow_webflow_audit.landing.formats import ENCODERS, HashingSink, WindowEncoder, validate_file_format
from airflow_webflow_audit.landing.layout import (
    OBJECT_LOCK_S3_ONLY,
    manifest_path_for,
    protocol_of,
    temporary_sibling,
)
from airflow_webflow_audit.landing.manifest import WrittenObject, encode_manifest
from airflow_webflow_audit.lineage import open_untracked, report_written

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObjectLock:
    """S3 Object Lock for every object a landing creates: ``mode`` for ``days`` from the write."""

    mode: str
    days: int

    def retain_until(self, now: datetime | None = None) -> datetime:
        return (now or datetime.now(timezone.utc)) + timedelta(days=self.days)


@dataclass(frozen=True)
class WriteOptions:
    """How landed objects are created at one destination."""

    object_lock: ObjectLock | None = None
    #: Fixed when the options are made, so a window's data object and manifest are retained alike.
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def create_kwargs(self, protocol: str) -> dict[str, Any]:
        """Per-object arguments of an exclusive create on ``protocol``'s filesystem."""
        if self.object_lock is None:
            return {}
        if protocol not in ("s3", "s3a"):
            raise WebflowConfigurationError(f"{OBJECT_LOCK_S3_ONLY} Got a {protocol}:// destination.")
        return {
            "ObjectLockMode": self.object_lock.mode,
            "ObjectLockRetainUntilDate": self.object_lock.retain_until(self.now),
            # S3 refuses a lock without a checksum; older botocore does not send one by itself.
            "ChecksumAlgorithm": "CRC32",
        }


@dataclass(frozen=True)
class LandedPart:
    """What one landing wrote: enough for the XCom, the asset event and the logs."""

    uri: str
    manifest_uri: str
    records: int
    sha256: str
    size_bytes: int
    manifest: dict[str, Any]
    path: ObjectStoragePath


def check_destination_writable(destination: ObjectStoragePath, options: WriteOptions | None = None) -> None:
    """Before any API request: the destination exists (and, for Object Lock, its bucket has it on).

    A local folder is created and takes a probe file. Object storage gets no probe: on a write-once
    bucket a probe could never be removed. A missing write permission shows at the first write, with
    nothing of the window visible.
    """
    options = options or WriteOptions()
    protocol = protocol_of(destination)
    options.create_kwargs(protocol)  # refuses Object Lock off S3
    try:
        if protocol == "file":
            destination.mkdir(parents=True, exist_ok=True)
            probe = destination / f".webflow-audit-write-probe-{uuid.uuid4().hex[:12]}"
            with open_untracked(probe, "wb"):
                pass
            probe.unlink()
            return
        bucket = destination.path.split("/", 1)[0]
        if not destination.fs.exists(bucket):
            raise WebflowLandingError(
                f"The bucket {bucket!r} of destination {destination} does not exist, or these credentials "
                "cannot see it. Create it, or fix the destination or its connection."
            )
        if options.object_lock is not None:
            _check_object_lock_enabled(destination, bucket)
    except WebflowError:
        raise
    except Exception as exc:
        raise WebflowLandingError(
            f"Cannot write to destination {destination} ({type(exc).__name__}: {exc}). Check that it exists and "
            "that the connection may create, read and list objects there. Nothing was requested from Webflow."
        ) from exc


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


class PartWriter:
    """One part's data object being written: ``write`` batches, ``finish`` the data, ``commit`` with its manifest.

    Use it through :func:`open_part`, as a context manager.
    """

    def __init__(self, object_path: ObjectStoragePath, file_format: str, options: WriteOptions) -> None:
        self.object_path = object_path
        self.file_format = validate_file_format(file_format)
        self.manifest_path = manifest_path_for(object_path)
        self.options = options
        self._upload: ExclusiveUpload | None = None
        self._sink: HashingSink | None = None
        self._encoder: WindowEncoder | None = None
        self._written: WrittenObject | None = None
        self._committed = False

    def __enter__(self) -> PartWriter:
        try:
            self._upload = ExclusiveUpload(self.object_path, self.options)
            self._sink = HashingSink(self._upload.raw)
            self._encoder = ENCODERS[self.file_format](self._sink)
        except BaseException as exc:
            self._abandon(type(exc).__name__)
            raise
        return self

    def write(self, batch: EventBatch) -> None:
        """Append a batch of events (in order) to the upload."""
        if self._encoder is None:
            raise RuntimeError("write() inside open_part()'s with block")
        with _storage_step("Writing", self.object_path):
            self._encoder.write(batch)

    def finish(self) -> WrittenObject:
        """End the data and make it visible at its final key (an exclusive create), then say what it holds."""
        if self._encoder is None or self._sink is None or self._upload is None:
            raise RuntimeError("finish() once, inside open_part()'s with block")
        with _storage_step("Writing", self.object_path):
            self._encoder.close()
        upload, self._upload = self._upload, None
        upload.complete()
        report_written(self.object_path)
        self._written = WrittenObject(
            uri=str(self.object_path),
            file_format=self.file_format,
            records=self._encoder.records,
            sha256=self._sink.sha256.hexdigest(),
            size_bytes=self._sink.size,
        )
        return self._written

    def commit(self, manifest: dict[str, Any]) -> LandedPart:
        """Create ``manifest`` beside the finished object."""
        if self._written is None:
            raise RuntimeError("finish() the data before committing it")
        create_object(self.manifest_path, encode_manifest(manifest), self.options)
        self._committed = True
        written = self._written
        return LandedPart(
            uri=written.uri,
            manifest_uri=str(self.manifest_path),
            records=written.records,
            sha256=written.sha256,
            size_bytes=written.size_bytes,
            manifest=manifest,
            path=self.object_path,
        )

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._committed:
            # An error in the pull or the storage, a signal, or a caller that stopped early.
            self._abandon(exc_type.__name__ if exc_type else "no commit")

    def _abandon(self, why: str) -> None:
        if self._upload is not None:
            self._upload.discard(why)
            self._upload = None
        elif self._written is not None:
            log.warning(
                "The data object %s was created but its manifest was not (%s): the next landing of this window "
                "checks it against the API and writes its manifest.",
                self.object_path,
                why,
            )


def open_part(object_path: ObjectStoragePath, file_format: str, options: WriteOptions | None = None) -> PartWriter:
    """A writer for one part's data object at ``object_path`` (see the module's docstring)."""
    return PartWriter(object_path, file_format, options or WriteOptions())


def create_object(path: ObjectStoragePath, body: bytes, options: WriteOptions | None = None) -> None:
    """Create ``path`` with ``body``, whole and once: a key that exists raises WebflowLandingConflictError."""
    upload = ExclusiveUpload(path, options or WriteOptions())
    try:
        with _storage_step("Writing", path):
            upload.raw.write(body)
    except BaseException as exc:
        upload.discard(type(exc).__name__)
        raise
    upload.complete()


def write_object(path: ObjectStoragePath, body: bytes) -> None:
    """Put ``body`` at ``path`` whole, replacing what is there (temporary sibling, then move).

    For bookkeeping that is meant to change, such as the findings baseline; never for landed data,
    which :func:`open_part` and :func:`create_object` create once.
    """
    if protocol_of(path) == "file":
        path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(path)
    try:
        with _storage_step("Writing", temporary), open_untracked(temporary, "wb") as raw:
            raw.write(body)
        with _storage_step("Moving the finished object into place at", path):
            _move(temporary, path)
    except BaseException as exc:  # SIGTERM arrives as an exception too: never leave a part behind
        _remove_quietly(temporary, type(exc).__name__)
        raise


class ExclusiveUpload:
    """A new object's bytes on their way to ``path``, visible there only on :meth:`complete`.

    Write to :attr:`raw`; then :meth:`complete` (the exclusive create: a key that exists raises
    :class:`~airflow_webflow_audit.exceptions.WebflowLandingConflictError`) or :meth:`discard`.
    """

    def __init__(self, path: ObjectStoragePath, options: WriteOptions) -> None:
        self.path = path
        self.local = protocol_of(path) == "file"
        kwargs = options.create_kwargs(protocol_of(path))
        with _storage_step("Writing", path):
            if self.local:
                path.parent.mkdir(parents=True, exist_ok=True)
                if path.exists():
                    raise _conflict(path)
                self.temporary: ObjectStoragePath | None = temporary_sibling(path)
                self.raw: IO[bytes] = open_untracked(self.temporary, "wb")
            else:
                self.temporary = None
                self.raw = path.fs.open(path.path, mode="xb", **kwargs)

    def complete(self) -> None:
        try:
            with _storage_step("Writing", self.path):
                self.raw.close()  # on S3 and GCS: the exclusive create itself
                if self.temporary is not None:
                    os.link(self.temporary.path, self.path.path)  # fails if the name exists
        except BaseException as exc:
            self.discard(type(exc).__name__)
            if isinstance(exc, WebflowLandingError) and isinstance(exc.__cause__, FileExistsError):
                raise _conflict(self.path) from exc.__cause__
            raise
        if self.temporary is not None:
            _remove_quietly(self.temporary, "linked")

    def discard(self, why: str) -> None:
        """Throw the upload away: nothing appears at the final key."""
        if self.temporary is not None:
            with contextlib.suppress(Exception):
                self.raw.close()
            _remove_quietly(self.temporary, why)
            return
        try:
            discard = getattr(self.raw, "discard", None)
            if discard is not None:
                discard()  # aborts a multipart (S3) or resumable (GCS) upload; close() would commit it
            self.raw.closed = True  # type: ignore[misc]  # so fsspec's finalizer does not close (commit) it
        except Exception as exc:
            log.warning(
                "Discarding the upload to %s after %s failed (%s: %s).", self.path, why, type(exc).__name__, exc
            )


def _conflict(path: ObjectStoragePath) -> WebflowLandingConflictError:
    return WebflowLandingConflictError(
        f"{path} exists already: another landing of this window created it first. Nothing of this landing is "
        "visible; run the task again (it lands only what that landing did not)."
    )


@contextlib.contextmanager
def _storage_step(what: str, path: ObjectStoragePath) -> Iterator[None]:
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


def _move(source: ObjectStoragePath, target: ObjectStoragePath) -> None:
    """Put ``source`` at ``target`` whole, replacing what is there, then drop ``source``."""
    if protocol_of(source) == "file":
        source.rename(target)  # os.rename: atomic within one filesystem
        return
    # A server-side copy is atomic at the target. Not fs.mv: gcsfs first tries the moveTo API, which
    # some GCS emulators lack, and retries it for half a minute before copying anyway.
    source.fs.copy(source.path, target.path)
    source.fs.rm(source.path)


def _remove_quietly(path: ObjectStoragePath, why: str) -> None:
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

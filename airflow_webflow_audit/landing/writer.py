"""Writing storage: the only module that does. A landed object is created once and never replaced.

One part of a window is landed in one direction::

    with open_part(object_path, file_format, options) as out:
        for batch in new_events:
            out.write(batch)
        written = out.finish()
        out.commit(manifest)  # signed by then; created beside the object, after it

Each object is an exclusive create (:mod:`.storage` says how, per scheme): on S3 and GCS the data
streams straight to its final key and becomes visible only when the upload is complete; one that
fails or is abandoned is discarded, never closed into a partial object. No temporary key, no copy,
no delete: what a write-once bucket (S3 Object Lock, a GCS retention policy) allows. On a local
disk the data goes to a hidden temporary file that is then hard-linked to its final name.

A key that exists already raises :class:`~airflow_webflow_audit.exceptions.WebflowLandingConflictError`:
another landing of the window got there first, and nothing of this one is visible.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.exceptions import WebflowError, WebflowLandingError
from airflow_webflow_audit.jsonlines import EventBatch
from airflow_webflow_audit.landing.formats import HashingSink, WindowEncoder, encoder_of
from airflow_webflow_audit.landing.layout import manifest_path_for
from airflow_webflow_audit.landing.manifest import WrittenObject, encode_manifest
from airflow_webflow_audit.landing.storage import (
    ExclusiveCreate,
    ObjectLockSettings,
    backend_of,
    open_untracked,
    remove_quietly,
    storage_step,
    temporary_sibling,
)
from airflow_webflow_audit.lineage import report_written

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

    @property
    def lock_settings(self) -> ObjectLockSettings | None:
        if self.object_lock is None:
            return None
        return ObjectLockSettings(self.object_lock.mode, self.object_lock.retain_until(self.now))


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
    backend = backend_of(destination)
    backend.create_arguments(options.lock_settings)  # refuses Object Lock off S3
    try:
        backend.check_writable(destination, options.lock_settings)
    except WebflowError:
        raise
    except Exception as exc:
        raise WebflowLandingError(
            f"Cannot write to destination {destination} ({type(exc).__name__}: {exc}). Check that it exists and "
            "that the connection may create, read and list objects there. Nothing was requested from Webflow."
        ) from exc


class PartWriter:
    """One part's data object being written: ``write`` batches, ``finish`` the data, ``commit`` with its manifest.

    Use it through :func:`open_part`, as a context manager.
    """

    def __init__(self, object_path: ObjectStoragePath, file_format: str, options: WriteOptions) -> None:
        self.object_path = object_path
        self.file_format = file_format
        self.manifest_path = manifest_path_for(object_path)
        self.options = options
        self._upload: ExclusiveCreate | None = None
        self._sink: HashingSink | None = None
        self._encoder: WindowEncoder | None = None
        self._written: WrittenObject | None = None
        self._committed = False

    def __enter__(self) -> PartWriter:
        encoder = encoder_of(self.file_format)  # an unknown format raises before anything is created
        try:
            self._upload = exclusive_create(self.object_path, self.options)
            self._sink = HashingSink(self._upload.raw)
            self._encoder = encoder(self._sink)
        except BaseException as exc:
            self._abandon(type(exc).__name__)
            raise
        return self

    def write(self, batch: EventBatch) -> None:
        """Append a batch of events (in order) to the upload."""
        if self._encoder is None:
            raise RuntimeError("write() inside open_part()'s with block")
        with storage_step("Writing", self.object_path):
            self._encoder.write(batch)

    def finish(self) -> WrittenObject:
        """End the data and make it visible at its final key (an exclusive create), then say what it holds."""
        if self._encoder is None or self._sink is None or self._upload is None:
            raise RuntimeError("finish() once, inside open_part()'s with block")
        with storage_step("Writing", self.object_path):
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


def exclusive_create(path: ObjectStoragePath, options: WriteOptions | None = None) -> ExclusiveCreate:
    """A new object at ``path``, visible only once complete: write to ``raw``, then ``complete()`` or ``discard()``."""
    backend = backend_of(path)
    return backend.open_exclusive(path, backend.create_arguments((options or WriteOptions()).lock_settings))


def create_object(path: ObjectStoragePath, body: bytes, options: WriteOptions | None = None) -> None:
    """Create ``path`` with ``body``, whole and once: a key that exists raises WebflowLandingConflictError."""
    upload = exclusive_create(path, options)
    try:
        with storage_step("Writing", path):
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
    if backend_of(path).local:
        path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(path)
    try:
        with storage_step("Writing", temporary), open_untracked(temporary, "wb") as raw:
            raw.write(body)
        with storage_step("Moving the finished object into place at", path):
            backend_of(path).replace(temporary, path)
    except BaseException as exc:  # SIGTERM arrives as an exception too: never leave a part behind
        remove_quietly(temporary, type(exc).__name__)
        raise

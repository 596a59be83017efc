"""Writing storage: the only module that does. Every object goes to a temporary key, then moves into place.

A window is landed in one direction::

    with open_window(object_path, file_format) as out:
        for batch in pull:
            out.write(batch)
        written = out.finish()
        out.commit(build_manifest(..., written=written))

The data is streamed to a hidden temporary key in the same folder while pages arrive, then moved to
the final key in one step (a rename on a local disk, a server-side copy on S3 and GCS, both atomic
for the reader), so the final key holds either the previous whole object or the new whole object,
never a part. The old manifest is removed before the move and the new one written after it: a
manifest present means the object beside it is the one it describes. Leaving the ``with`` block
without a commit -- an error in the pull or the storage, or a signal -- removes the temporary
object and leaves the final keys as they were.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.exceptions import WebflowError, WebflowLandingError
from airflow_webflow_audit.jsonlines import EventBatch
from airflow_webflow_audit.landing.formats import ENCODERS, HashingSink, WindowEncoder, validate_file_format
from airflow_webflow_audit.landing.layout import manifest_path_for, protocol_of, temporary_sibling
from airflow_webflow_audit.landing.manifest import WrittenObject, encode_manifest
from airflow_webflow_audit.lineage import open_untracked, report_written

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LandedWindow:
    """What one landing wrote: enough for the XCom, the asset event and the logs."""

    uri: str
    manifest_uri: str
    records: int
    sha256: str
    size_bytes: int
    manifest: dict[str, Any]


def check_destination_writable(destination: ObjectStoragePath) -> None:
    """Before any API request: the destination exists and takes a write and a delete.

    Writes and removes a tiny hidden probe object (the landing needs both rights anyway: the move
    into place is a copy and a delete on S3 and GCS), so a missing bucket or a missing permission
    fails the task before it spends the API's rate limit.
    """
    try:
        if protocol_of(destination) == "file":
            destination.mkdir(parents=True, exist_ok=True)
        else:
            bucket = destination.path.split("/", 1)[0]
            if not destination.fs.exists(bucket):
                raise WebflowLandingError(
                    f"The bucket {bucket!r} of destination {destination} does not exist, or these credentials "
                    "cannot see it. Create it, or fix the destination or its connection."
                )
        probe = destination / f".webflow-audit-write-probe-{uuid.uuid4().hex[:12]}"
        with open_untracked(probe, "wb"):
            pass
        probe.unlink()
    except WebflowError:
        raise
    except Exception as exc:
        raise WebflowLandingError(
            f"Cannot write to destination {destination} ({type(exc).__name__}: {exc}). Check that it exists and "
            "that the connection may create, read and delete objects there. Nothing was requested from Webflow."
        ) from exc


class WindowWriter:
    """One window's object being written: ``write`` batches, ``finish`` the data, ``commit`` with its manifest.

    Use it through :func:`open_window`, as a context manager.
    """

    def __init__(self, object_path: ObjectStoragePath, file_format: str) -> None:
        self.object_path = object_path
        self.file_format = validate_file_format(file_format)
        self.manifest_path = manifest_path_for(object_path)
        self._temporary = temporary_sibling(object_path)
        self._raw: IO[bytes] | None = None
        self._sink: HashingSink | None = None
        self._encoder: WindowEncoder | None = None
        self._written: WrittenObject | None = None
        self._committed = False

    def __enter__(self) -> WindowWriter:
        try:
            with _storage_step("Writing", self._temporary):
                if protocol_of(self.object_path) == "file":
                    self.object_path.parent.mkdir(parents=True, exist_ok=True)
                self._raw = open_untracked(self._temporary, "wb")
                self._sink = HashingSink(self._raw)
                self._encoder = ENCODERS[self.file_format](self._sink)
        except BaseException as exc:
            self._abandon(type(exc).__name__)
            raise
        return self

    def write(self, batch: EventBatch) -> None:
        """Append a batch of events (in order) to the temporary object."""
        if self._encoder is None:
            raise RuntimeError("write() inside open_window()'s with block")
        with _storage_step("Writing", self._temporary):
            self._encoder.write(batch)

    def finish(self) -> WrittenObject:
        """Close the data (still at its temporary key) and say what it holds."""
        if self._encoder is None or self._sink is None or self._raw is None:
            raise RuntimeError("finish() once, inside open_window()'s with block")
        with _storage_step("Writing", self._temporary):
            self._encoder.close()
            raw, self._raw = self._raw, None
            raw.close()
        self._written = WrittenObject(
            uri=str(self.object_path),
            file_format=self.file_format,
            records=self._encoder.records,
            sha256=self._sink.sha256.hexdigest(),
            size_bytes=self._sink.size,
        )
        return self._written

    def commit(self, manifest: dict[str, Any]) -> LandedWindow:
        """Move the data into place, then write ``manifest`` beside it."""
        if self._written is None:
            raise RuntimeError("finish() the data before committing it")
        with _storage_step("Moving the finished object into place at", self.object_path):
            # An old manifest must never sit beside a new object: remove it before the move.
            if self.manifest_path.exists():
                self.manifest_path.unlink()
            _move(self._temporary, self.object_path)
        self._committed = True
        report_written(self.object_path)
        write_object(self.manifest_path, encode_manifest(manifest))
        written = self._written
        return LandedWindow(
            uri=written.uri,
            manifest_uri=str(self.manifest_path),
            records=written.records,
            sha256=written.sha256,
            size_bytes=written.size_bytes,
            manifest=manifest,
        )

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._committed:
            # An error in the pull or the storage, a signal, or a caller that stopped early.
            self._abandon(exc_type.__name__ if exc_type else "no commit")

    def _abandon(self, why: str) -> None:
        if self._raw is not None:
            try:
                self._raw.close()
            except Exception as close_error:
                log.debug("Closing the temporary object %s failed: %s", self._temporary, close_error)
            self._raw = None
        _remove_quietly(self._temporary, why)


def open_window(object_path: ObjectStoragePath, file_format: str) -> WindowWriter:
    """A writer for one window's object at ``object_path`` (see the module's docstring)."""
    return WindowWriter(object_path, file_format)


def write_object(path: ObjectStoragePath, body: bytes) -> None:
    """Put ``body`` at ``path`` whole (temporary sibling, then move): readers never see a part."""
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


@contextlib.contextmanager
def _storage_step(what: str, path: ObjectStoragePath) -> Iterator[None]:
    """Turns a storage failure in its block into a :class:`WebflowLandingError` naming what failed."""
    try:
        yield
    except WebflowError:
        raise
    except Exception as exc:
        raise WebflowLandingError(
            f"{what} {path} failed ({type(exc).__name__}: {exc}). Nothing changed at the final key; "
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

"""Landing one window in object storage: the only module that writes storage.

One window becomes one data object at a deterministic key, then a manifest beside it::

    {destination}/workspace={workspace}/dt={YYYY-MM-DD}/audit_logs_{start}_{end}.jsonl.gz
    {destination}/workspace={workspace}/dt={YYYY-MM-DD}/audit_logs_{start}_{end}.jsonl.gz.manifest.json

The data is streamed to a hidden temporary key in the same folder while pages arrive, then moved to
the final key in one step (a rename on a local disk, a server-side copy on S3 and GCS, both atomic
for the reader), so the final key holds either the previous whole object or the new whole object,
never a part. The old manifest is removed before the move and the new one written after it: a
manifest present means the object beside it is the one it describes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Any, Protocol

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.api import parse_timestamp
from airflow_webflow_audit.exceptions import WebflowConfigurationError, WebflowError, WebflowLandingError
from airflow_webflow_audit.hooks._config import validate_workspace
from airflow_webflow_audit.jsonlines import EventBatch

log = logging.getLogger(__name__)

#: URL schemes a destination may use, with what each needs installed.
SUPPORTED_SCHEMES: dict[str, str] = {
    "s3": "apache-airflow-providers-amazon[s3fs] (extra 'amazon')",
    "gs": "apache-airflow-providers-google (extra 'google')",
    "gcs": "apache-airflow-providers-google (extra 'google')",
    "file": "nothing extra",
}
FILE_FORMATS = ("jsonl.gz", "parquet")
MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FORMAT_VERSION = 1
# zlib's own default: most of level 9's ratio at a fraction of its CPU. Fixed, so reruns are byte-identical.
GZIP_LEVEL = 6
PARQUET_ROW_GROUP_EVENTS = 10_000

DESTINATION_EXAMPLES = "s3://<aws_conn_id>@bucket/prefix, gs://bucket/prefix or file:///absolute/path"


def check_destination_url(destination: str) -> tuple[str, str]:
    """``(scheme, location)`` of a destination URL, checked without touching storage or connections.

    ``location`` is the part after ``scheme://`` without any ``conn_id@``, e.g. ``bucket/prefix``.
    """
    text = destination.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise WebflowConfigurationError(
            f"destination={destination!r} has no URL scheme; write it as {DESTINATION_EXAMPLES}."
        )
    scheme = scheme.lower()
    if scheme not in SUPPORTED_SCHEMES:
        raise WebflowConfigurationError(
            f"destination scheme {scheme!r} is not supported; use one of "
            f"{', '.join(s + '://' for s in SUPPORTED_SCHEMES)} (e.g. {DESTINATION_EXAMPLES})."
        )
    if scheme == "file":
        if not rest.startswith("/"):
            raise WebflowConfigurationError(
                f"destination={destination!r} is not an absolute path; write file:///absolute/path (three slashes)."
            )
        return scheme, rest
    netloc, slash, path = rest.partition("/")
    bucket = netloc.rpartition("@")[2]
    if not bucket:
        raise WebflowConfigurationError(
            f"destination={destination!r} names no bucket; write it as {DESTINATION_EXAMPLES}."
        )
    return scheme, bucket + slash + path


def check_destination(destination: object) -> tuple[str, str]:
    """``(scheme, location)`` of a destination URL string or ObjectStoragePath, checked offline."""
    if isinstance(destination, ObjectStoragePath):
        protocol = destination.protocol if isinstance(destination.protocol, str) else destination.protocol[0]
        if protocol not in SUPPORTED_SCHEMES:
            raise WebflowConfigurationError(
                f"destination protocol {protocol!r} is not supported; use one of {', '.join(SUPPORTED_SCHEMES)}."
            )
        return protocol, destination.path
    if isinstance(destination, str) and destination.strip():
        return check_destination_url(destination)
    raise WebflowConfigurationError(
        f"destination must be an ObjectStoragePath or a URL string such as {DESTINATION_EXAMPLES}, got {destination!r}."
    )


def resolve_destination(destination: object) -> ObjectStoragePath:
    """The destination as an ObjectStoragePath (which attaches its filesystem: call it at run time)."""
    check_destination(destination)
    if isinstance(destination, ObjectStoragePath):
        return destination
    return ObjectStoragePath(str(destination).strip())


def check_destination_writable(destination: ObjectStoragePath) -> None:
    """Before any API request: the destination exists and takes a write and a delete.

    Writes and removes a tiny hidden probe object (the landing needs both rights anyway: the move
    into place is a copy and a delete on S3 and GCS), so a missing bucket or a missing permission
    fails the task before it spends the API's rate limit.
    """
    protocol = destination.protocol if isinstance(destination.protocol, str) else destination.protocol[0]
    try:
        if protocol == "file":
            destination.mkdir(parents=True, exist_ok=True)
        else:
            bucket = destination.path.split("/", 1)[0]
            if not destination.fs.exists(bucket):
                raise WebflowLandingError(
                    f"The bucket {bucket!r} of destination {destination} does not exist, or these credentials "
                    "cannot see it. Create it, or fix the destination or its connection."
                )
        probe = destination / f".webflow-audit-write-probe-{uuid.uuid4().hex[:12]}"
        probe.write_bytes(b"")
        probe.unlink()
    except WebflowError:
        raise
    except Exception as exc:
        raise WebflowLandingError(
            f"Cannot write to destination {destination} ({type(exc).__name__}: {exc}). Check that it exists and "
            "that the connection may create, read and delete objects there. Nothing was requested from Webflow."
        ) from exc


class _SourceError(Exception):
    """An exception from the event source, carried through the storage code to be re-raised as it was."""

    def __init__(self, original: Exception) -> None:
        super().__init__(str(original))
        self.original = original


def _from_source(batches: Iterable[EventBatch]) -> Iterator[EventBatch]:
    iterator = iter(batches)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except Exception as exc:  # the pull failed, not the storage
            raise _SourceError(exc) from exc
        yield batch


def _storage_failure(what: str, path: ObjectStoragePath, exc: Exception) -> WebflowLandingError:
    return WebflowLandingError(
        f"{what} {path} failed ({type(exc).__name__}: {exc}). Nothing changed at the final key; the task can be "
        "retried once the storage is reachable."
    )


def validate_file_format(file_format: object) -> str:
    if file_format not in FILE_FORMATS:
        raise WebflowConfigurationError(f"file_format must be one of {', '.join(FILE_FORMATS)}, got {file_format!r}.")
    return file_format  # type: ignore[return-value]


def format_key_time(moment: datetime) -> str:
    """UTC basic ISO 8601 for object keys: ``20261001T000000Z`` (microseconds only when present)."""
    utc = moment.astimezone(timezone.utc)
    fraction = f".{utc.microsecond:06d}" if utc.microsecond else ""
    return utc.strftime("%Y%m%dT%H%M%S") + fraction + "Z"


def window_object_path(
    destination: ObjectStoragePath, *, workspace: str, start: datetime, end: datetime, file_format: str
) -> ObjectStoragePath:
    """The deterministic key of one window's data object."""
    validate_workspace(workspace)
    day = start.astimezone(timezone.utc).strftime("%Y-%m-%d")
    name = f"audit_logs_{format_key_time(start)}_{format_key_time(end)}.{file_format}"
    return destination / f"workspace={workspace}" / f"dt={day}" / name


def manifest_path_for(object_path: ObjectStoragePath) -> ObjectStoragePath:
    return object_path.parent / (object_path.name + MANIFEST_SUFFIX)


def asset_uri(destination: object, workspace: str) -> str:
    """A stable asset URI for one workspace's landed logs: the destination without its connection id."""
    scheme, location = check_destination(destination)
    if scheme == "file":
        return f"file://{location.rstrip('/')}/workspace={workspace}"
    return f"{scheme}://{location.strip('/')}/workspace={workspace}"


# -- encoders ---------------------------------------------------------------------------------------


class _HashingSink:
    """A write-only file object that hashes and counts the bytes it forwards."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.sha256.update(data)
        self.size += len(data)
        self.raw.write(data)
        return len(data)

    def flush(self) -> None:
        self.raw.flush()

    def tell(self) -> int:
        return self.size

    @property
    def closed(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def close(self) -> None:  # the caller closes the underlying file
        pass


class WindowEncoder(Protocol):
    records: int

    def write(self, batch: EventBatch) -> None: ...

    def close(self) -> None: ...


class JsonlGzipEncoder:
    """Gzip JSON Lines, one event per line as the API sent it (compact JSON, keys in the API's order).

    The lines come ready-made from the pull (see :mod:`airflow_webflow_audit.jsonlines`), so nothing is
    serialized twice. The gzip header carries no time and no file name, so the same events always give
    the same bytes.
    """

    def __init__(self, sink: _HashingSink) -> None:
        self._gzip = gzip.GzipFile(filename="", mode="wb", fileobj=sink, compresslevel=GZIP_LEVEL, mtime=0)  # type: ignore[arg-type]
        self.records = 0

    def write(self, batch: EventBatch) -> None:
        if batch.lines:
            self._gzip.write(b"".join(batch.lines))
            self.records += len(batch.lines)

    def close(self) -> None:
        self._gzip.close()


def parquet_schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("event_type", pa.string()),
            pa.field("event_sub_type", pa.string()),
            pa.field("actor_id", pa.string()),
            pa.field("actor_type", pa.string()),
            pa.field("actor_email", pa.string()),
            pa.field("workspace_id", pa.string()),
            pa.field("workspace_slug", pa.string()),
            pa.field("payload", pa.string(), metadata={"format": "json"}),
        ]
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _parquet_row(event: dict[str, Any]) -> dict[str, Any]:
    actor = event.get("actor") if isinstance(event.get("actor"), dict) else {}
    workspace = event.get("workspace") if isinstance(event.get("workspace"), dict) else {}
    payload = event.get("payload")
    return {
        "timestamp": parse_timestamp(event["timestamp"]),
        "event_type": _text(event.get("eventType")),
        "event_sub_type": _text(event.get("eventSubType")),
        "actor_id": _text(actor.get("id")),
        "actor_type": _text(actor.get("type")),
        "actor_email": _text(actor.get("email")),
        "workspace_id": _text(workspace.get("id")),
        "workspace_slug": _text(workspace.get("slug")),
        "payload": None if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
    }


class ParquetEncoder:
    """Parquet with a fixed schema (see :func:`parquet_schema`); ``payload`` stays a JSON string."""

    def __init__(self, sink: _HashingSink) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:  # pragma: no cover - depends on the install
            raise WebflowConfigurationError(
                "file_format='parquet' needs pyarrow: pip install 'airflow-webflow-audit[parquet]'."
            ) from None
        self._pa = pa
        self._schema = parquet_schema()
        self._writer = pq.ParquetWriter(sink, self._schema, compression="zstd")
        self._rows: list[dict[str, Any]] = []
        self.records = 0

    def write(self, batch: EventBatch) -> None:
        self._rows.extend(_parquet_row(event) for event in batch.events)
        self.records += len(batch.events)
        # Row groups of exactly PARQUET_ROW_GROUP_EVENTS, whatever the page sizes: same events, same bytes.
        while len(self._rows) >= PARQUET_ROW_GROUP_EVENTS:
            self._flush(PARQUET_ROW_GROUP_EVENTS)

    def _flush(self, count: int | None = None) -> None:
        rows, self._rows = self._rows[:count], self._rows[len(self._rows) if count is None else count :]
        if rows:
            self._writer.write_table(self._pa.Table.from_pylist(rows, schema=self._schema))

    def close(self) -> None:
        self._flush()
        self._writer.close()


ENCODERS: dict[str, Callable[[_HashingSink], WindowEncoder]] = {
    "jsonl.gz": JsonlGzipEncoder,
    "parquet": ParquetEncoder,
}


# -- landing ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LandedWindow:
    """What one landing wrote: enough for the XCom, the asset event and the logs."""

    uri: str
    manifest_uri: str
    records: int
    sha256: str
    size_bytes: int
    manifest: dict[str, Any]


def _temporary_sibling(path: ObjectStoragePath) -> ObjectStoragePath:
    # Hidden (leading dot) and suffixed, so globbing readers, Hive/Spark/Athena included, skip it.
    return path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.partial"


def _move(source: ObjectStoragePath, target: ObjectStoragePath) -> None:
    """Put ``source`` at ``target`` whole, replacing what is there, then drop ``source``."""
    if source.protocol == "file":
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


def _write_temporary(path: ObjectStoragePath, write: Callable[[IO[bytes]], None]) -> ObjectStoragePath:
    """Write through ``write`` to a temporary sibling of ``path``; on any failure remove it and re-raise."""
    if path.protocol == "file":
        path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_sibling(path)
    try:
        with temporary.open("wb") as raw:
            write(raw)
    except BaseException as exc:  # SIGTERM arrives as an exception too: never leave a part behind
        _remove_quietly(temporary, type(exc).__name__)
        if isinstance(exc, Exception) and not isinstance(exc, (WebflowError, _SourceError)):
            raise _storage_failure("Writing", temporary, exc) from exc
        raise
    return temporary


def _commit(temporary: ObjectStoragePath, path: ObjectStoragePath, before: Callable[[], None] = lambda: None) -> None:
    """Run ``before``, then move ``temporary`` to ``path``; on any failure remove ``temporary`` and re-raise."""
    try:
        before()
        _move(temporary, path)
    except BaseException as exc:
        _remove_quietly(temporary, f"a failed move ({type(exc).__name__})")
        if isinstance(exc, Exception) and not isinstance(exc, WebflowError):
            raise _storage_failure("Moving the finished object into place at", path, exc) from exc
        raise


def land_window(
    object_path: ObjectStoragePath,
    *,
    file_format: str,
    batches: Iterable[EventBatch],
    manifest_fields: Callable[[], dict[str, Any]],
) -> LandedWindow:
    """Stream ``batches`` of events into ``object_path``, move it into place, then write its manifest.

    ``manifest_fields`` is called once the events are exhausted, so it can report what the pull saw.
    Any exception (from the events, the storage or a signal) leaves the final keys as they were, except
    that a failed move may leave the data object without a manifest, which readers must treat as unverified.
    """
    encoder_factory = ENCODERS[validate_file_format(file_format)]
    written: dict[str, Any] = {}

    def write_data(raw: IO[bytes]) -> None:
        sink = _HashingSink(raw)
        encoder = encoder_factory(sink)
        for batch in _from_source(batches):
            encoder.write(batch)
        encoder.close()
        written.update(records=encoder.records, sha256=sink.sha256.hexdigest(), size_bytes=sink.size)

    manifest_path = manifest_path_for(object_path)
    # Pull and write first: until the data is whole, neither final key is touched.
    try:
        data_temporary = _write_temporary(object_path, write_data)
    except _SourceError as failed:
        raise failed.original from None
    try:
        manifest = {
            "manifest_format_version": MANIFEST_FORMAT_VERSION,
            **manifest_fields(),
            "records": written["records"],
            "object": {
                "uri": str(object_path),
                "file_format": file_format,
                "sha256": written["sha256"],
                "size_bytes": written["size_bytes"],
            },
        }
    except BaseException:
        _remove_quietly(data_temporary, "a failed manifest")
        raise

    def remove_old_manifest() -> None:
        # An old manifest must never sit beside a new object: remove it before the move.
        if manifest_path.exists():
            manifest_path.unlink()

    _commit(data_temporary, object_path, remove_old_manifest)
    body = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    _commit(_write_temporary(manifest_path, lambda raw: raw.write(body)), manifest_path)
    return LandedWindow(
        uri=str(object_path),
        manifest_uri=str(manifest_path),
        records=written["records"],
        sha256=written["sha256"],
        size_bytes=written["size_bytes"],
        manifest=manifest,
    )


def write_object(path: ObjectStoragePath, body: bytes) -> None:
    """Put ``body`` at ``path`` whole (temporary sibling, then move): readers never see a part."""
    _commit(_write_temporary(path, lambda raw: raw.write(body)), path)


# -- reading landed windows ---------------------------------------------------------------------------

_LANDED_NAME = re.compile(r"^audit_logs_(\d{8}T\d{6}(?:\.\d{6})?Z)_(\d{8}T\d{6}(?:\.\d{6})?Z)\.jsonl\.gz$")


def parse_key_time(text: str) -> datetime:
    """The inverse of :func:`format_key_time`."""
    layout = "%Y%m%dT%H%M%S.%fZ" if "." in text else "%Y%m%dT%H%M%SZ"
    return datetime.strptime(text, layout).replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class LandedObject:
    """A window's data object found in storage, with its manifest beside it."""

    start: datetime
    end: datetime
    path: ObjectStoragePath

    @property
    def manifest_path(self) -> ObjectStoragePath:
        return manifest_path_for(self.path)


def list_landed_windows(destination: ObjectStoragePath, workspace: str) -> list[LandedObject]:
    """Every gzip JSONL window of ``workspace`` that has a manifest, ordered by start.

    Objects without a manifest are left out: a manifest is written last, so the window is either
    still landing or its landing failed after the move, and either way it is not verified.
    """
    root = destination / f"workspace={validate_workspace(workspace)}"
    if not root.exists():
        return []
    names = {path.rsplit("/", 1)[-1]: path for path in root.fs.find(root.path)}
    found = []
    for name, key in names.items():
        match = _LANDED_NAME.match(name)
        if match and name + MANIFEST_SUFFIX in names:
            start, end = parse_key_time(match[1]), parse_key_time(match[2])
            found.append(LandedObject(start, end, root / key[len(root.path.rstrip("/")) + 1 :]))
    return sorted(found, key=lambda landed: (landed.start, landed.end))


class _HashingReader:
    """A read-only file object that hashes the bytes it passes on."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.sha256.update(data)
        return data

    def readable(self) -> bool:
        return True


def read_landed_events(landed: LandedObject, on_event: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Stream a landed window's events into ``on_event``, then check them against the manifest.

    Returns the manifest. Raises :class:`WebflowLandingError` if the object's sha256 or record count
    disagrees with its manifest: whatever ``on_event`` did with the events must then be thrown away.
    """
    try:
        manifest = json.loads(landed.manifest_path.read_bytes())
        records = 0
        with landed.path.open("rb") as raw:
            reader = _HashingReader(raw)
            with gzip.GzipFile(fileobj=reader, mode="rb") as lines:  # type: ignore[arg-type]
                for line in lines:
                    on_event(json.loads(line))
                    records += 1
            reader.read()  # anything after the gzip stream still counts for the hash
    except (OSError, EOFError, ValueError, zlib.error) as exc:  # gzip truncated or corrupt, JSON broken
        raise WebflowLandingError(
            f"Reading the landed window {landed.path} failed ({type(exc).__name__}: {exc})."
        ) from exc
    expected = manifest.get("object", {}).get("sha256")
    if reader.sha256.hexdigest() != expected or manifest.get("records") != records:
        raise WebflowLandingError(
            f"The landed window {landed.path} does not match its manifest (sha256 {reader.sha256.hexdigest()} vs "
            f"{expected}, {records} vs {manifest.get('records')} records): it was changed after landing. Land the "
            "window again (rerun its landing task), then rerun this task."
        )
    return manifest

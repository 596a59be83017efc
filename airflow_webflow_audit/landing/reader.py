"""Reading landed windows back, checked against their manifests: the one way monitoring, audits and
reconciles see what was landed.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.exceptions import WebflowLandingError
from airflow_webflow_audit.landing.layout import (
    MANIFEST_SUFFIX,
    manifest_path_for,
    parse_object_name,
    workspace_root,
)
from airflow_webflow_audit.lineage import open_untracked, read_untracked, report_read


@dataclass(frozen=True)
class LandedObject:
    """A window's data object found in storage, with its manifest beside it."""

    start: datetime
    end: datetime
    path: ObjectStoragePath
    #: The event-type filter it was landed with; None: every event of the window.
    event_types: tuple[str, ...] | None = None
    file_format: str = "jsonl.gz"

    @property
    def manifest_path(self) -> ObjectStoragePath:
        return manifest_path_for(self.path)


def list_landed_objects(destination: ObjectStoragePath, workspace: str) -> list[LandedObject]:
    """Every data object of ``workspace`` that has a manifest, any format or filter, ordered by start.

    Objects without a manifest are left out: a manifest is written last, so the window is either
    still landing or its landing failed after the move, and either way it is not verified.
    """
    root = workspace_root(destination, workspace)
    if not root.exists():
        return []
    names = {path.rsplit("/", 1)[-1]: path for path in root.fs.find(root.path)}
    found = []
    for name, key in names.items():
        parsed = parse_object_name(name)
        if parsed is not None and name + MANIFEST_SUFFIX in names:
            path = root / key[len(root.path.rstrip("/")) + 1 :]
            found.append(LandedObject(parsed.start, parsed.end, path, parsed.event_types, parsed.file_format))
    return sorted(found, key=lambda landed: (landed.start, landed.end, landed.path.name))


def list_landed_windows(destination: ObjectStoragePath, workspace: str) -> list[LandedObject]:
    """The whole windows (no event-type filter) of ``workspace`` landed as gzip JSONL, with manifests."""
    return [
        landed
        for landed in list_landed_objects(destination, workspace)
        if landed.event_types is None and landed.file_format == "jsonl.gz"
    ]


@dataclass(frozen=True)
class ObjectMeasure:
    """What a landed data object holds, measured from its bytes alone."""

    sha256: str
    size_bytes: int
    records: int
    #: sha256 of the JSON lines (the decompressed gzip JSONL), to compare with a fresh pull; None for Parquet.
    lines_sha256: str | None


def measure_object(path: ObjectStoragePath, file_format: str) -> ObjectMeasure:
    """Hash, size and count a data object in one streamed read; raises WebflowLandingError if it is unreadable."""
    try:
        with open_untracked(path, "rb") as raw:
            reader = _HashingReader(raw)
            if file_format == "parquet":
                import pyarrow as pa
                import pyarrow.parquet as pq

                records = pq.ParquetFile(pa.BufferReader(reader.read())).metadata.num_rows
                lines_sha256 = None
            else:
                lines = hashlib.sha256()
                records = 0
                with gzip.GzipFile(fileobj=reader, mode="rb") as unzipped:
                    while block := unzipped.read(1 << 20):
                        lines.update(block)
                        records += block.count(b"\n")
                reader.read()  # anything after the gzip stream still counts for the hash
                lines_sha256 = lines.hexdigest()
    except FileNotFoundError:
        raise
    except Exception as exc:  # truncated gzip, a broken Parquet footer, storage errors
        raise WebflowLandingError(f"Reading {path} failed ({type(exc).__name__}: {exc}).") from exc
    report_read(path)
    return ObjectMeasure(reader.sha256.hexdigest(), reader.size, records, lines_sha256)


def read_manifest_at(path: ObjectStoragePath) -> dict[str, Any] | None:
    """The manifest at ``path``; None if there is none or it is not a JSON object."""
    try:
        manifest = json.loads(read_untracked(path))
    except (FileNotFoundError, ValueError):
        return None
    except Exception as exc:
        raise WebflowLandingError(
            f"Reading {path} failed ({type(exc).__name__}: {exc}). Nothing changed at the final key; the task can "
            "be retried once the storage is reachable."
        ) from exc
    return manifest if isinstance(manifest, dict) else None


class _HashingReader:
    """A read-only file object that hashes the bytes it passes on."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.sha256.update(data)
        self.size += len(data)
        return data

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, /) -> int:
        # gzip only seeks back to re-read a header it rewinds over, which a forward read never does.
        raise io.UnsupportedOperation("a hashing reader only reads forward")


def read_landed_events(landed: LandedObject, on_event: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Stream a landed window's events into ``on_event``, then check them against the manifest.

    Returns the manifest. Raises :class:`WebflowLandingError` if the object's sha256 or record count
    disagrees with its manifest: whatever ``on_event`` did with the events must then be thrown away.
    """
    try:
        manifest = json.loads(read_untracked(landed.manifest_path))
        records = 0
        with open_untracked(landed.path, "rb") as raw:
            reader = _HashingReader(raw)
            with gzip.GzipFile(fileobj=reader, mode="rb") as lines:
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
    report_read(landed.path)
    return manifest

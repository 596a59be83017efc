"""Reading landed windows back, checked against their manifests: the one way monitoring, audits,
reconciles and the landing itself see what was landed.

A window is a chain of parts (see :mod:`airflow_webflow_audit.landing.layout`); readers see the
union of its parts' events, each once.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.exceptions import WebflowLandingError
from airflow_webflow_audit.landing.formats import line_key, parquet_row_key
from airflow_webflow_audit.landing.layout import (
    FIRST_PART,
    MANIFEST_SUFFIX,
    manifest_path_for,
    parse_object_name,
    workspace_root,
)
from airflow_webflow_audit.landing.storage import open_untracked, read_untracked
from airflow_webflow_audit.lineage import report_read


@dataclass(frozen=True)
class LandedObject:
    """One part of a window: its data object found in storage, with its manifest beside it."""

    start: datetime
    end: datetime
    path: ObjectStoragePath
    #: The event-type filter it was landed with; None: every event of the window.
    event_types: tuple[str, ...] | None = None
    file_format: str = "jsonl.gz"
    part: int = FIRST_PART

    @property
    def manifest_path(self) -> ObjectStoragePath:
        return manifest_path_for(self.path)


@dataclass(frozen=True)
class WindowChain:
    """A landed window: its parts in order, from the first; together they hold each of its events once."""

    parts: tuple[LandedObject, ...]

    @property
    def start(self) -> datetime:
        return self.parts[0].start

    @property
    def end(self) -> datetime:
        return self.parts[0].end

    @property
    def path(self) -> ObjectStoragePath:
        """The first part's data object, which names the window."""
        return self.parts[0].path


def list_landed_objects(destination: ObjectStoragePath, workspace: str) -> list[LandedObject]:
    """Every part of ``workspace``'s windows that has a manifest, any format or filter, by start and part.

    Objects without a manifest are left out: a manifest is written last, so that part is either
    still landing or its landing stopped in between, and either way it is not verified.
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
            found.append(
                LandedObject(parsed.start, parsed.end, path, parsed.event_types, parsed.file_format, parsed.part)
            )
    return sorted(found, key=lambda landed: (landed.start, landed.end, landed.path.name, landed.part))


def list_landed_windows(destination: ObjectStoragePath, workspace: str) -> list[WindowChain]:
    """The whole windows (no event-type filter) of ``workspace`` landed as gzip JSONL, each with its parts.

    A window's parts are those numbered from 1 without a gap; a part after a gap is left out until the
    missing one is back (the audit names the gap).
    """
    chains: dict[tuple[datetime, datetime], list[LandedObject]] = {}
    for landed in list_landed_objects(destination, workspace):
        if landed.event_types is None and landed.file_format == "jsonl.gz":
            chains.setdefault((landed.start, landed.end), []).append(landed)
    windows = []
    for parts in chains.values():
        parts.sort(key=lambda landed: landed.part)
        contiguous = [landed for number, landed in enumerate(parts, start=FIRST_PART) if landed.part == number]
        if contiguous:
            windows.append(WindowChain(tuple(contiguous)))
    return sorted(windows, key=lambda window: (window.start, window.end))


@dataclass(frozen=True)
class PartOnRecord:
    """A part of one window as the landing finds it: its data object, its manifest, either may be missing."""

    number: int
    path: ObjectStoragePath
    has_object: bool
    manifest: dict[str, Any] | None
    manifest_bytes: bytes | None


def window_parts_on_record(first_part: ObjectStoragePath) -> list[PartOnRecord]:
    """Every part of the window whose first part's data object is (or will be) ``first_part``, by number."""
    wanted = parse_object_name(first_part.name)
    if wanted is None:
        raise ValueError(f"{first_part} is not the name of a window's data object")
    folder = first_part.parent
    try:
        names = {path.rsplit("/", 1)[-1] for path in folder.fs.ls(folder.path, detail=False)}
    except FileNotFoundError:
        return []
    except Exception as exc:
        raise WebflowLandingError(f"Listing {folder} failed ({type(exc).__name__}: {exc}).") from exc
    numbers: dict[int, str] = {}
    for name in names:
        object_name = name.removesuffix(MANIFEST_SUFFIX)
        parsed = parse_object_name(object_name)
        if parsed is not None and parsed.window == wanted.window:
            numbers[parsed.part] = object_name
    found = []
    for number in sorted(numbers):
        path = folder / numbers[number]
        manifest_bytes = read_bytes_at(manifest_path_for(path)) if numbers[number] + MANIFEST_SUFFIX in names else None
        manifest = json_object_of(manifest_bytes)
        found.append(PartOnRecord(number, path, numbers[number] in names, manifest, manifest_bytes))
    return found


def json_object_of(data: bytes | None) -> dict[str, Any] | None:
    """``data`` parsed, if it is a JSON object (a manifest); else None."""
    if data is None:
        return None
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def read_bytes_at(path: ObjectStoragePath) -> bytes | None:
    """The bytes at ``path``; None if there is nothing there."""
    try:
        return read_untracked(path)
    except FileNotFoundError:
        return None
    except Exception as exc:
        raise WebflowLandingError(
            f"Reading {path} failed ({type(exc).__name__}: {exc}). Nothing was written; the task can be retried "
            "once the storage is reachable."
        ) from exc


@dataclass(frozen=True)
class ObjectMeasure:
    """What a landed data object holds, measured from its bytes alone."""

    sha256: str
    size_bytes: int
    records: int


def measure_object(path: ObjectStoragePath, file_format: str, keys: Counter[bytes] | None = None) -> ObjectMeasure:
    """Hash, size and count a data object in one streamed read; raises WebflowLandingError if it is unreadable.

    ``keys``, if given, counts each event's identity key (:func:`~airflow_webflow_audit.landing.formats.line_key`
    or :func:`~airflow_webflow_audit.landing.formats.parquet_row_key`).
    """
    try:
        with open_untracked(path, "rb") as raw:
            reader = _HashingReader(raw)
            if file_format == "parquet":
                import pyarrow as pa
                import pyarrow.parquet as pq

                parquet = pq.ParquetFile(pa.BufferReader(reader.read()))
                records = parquet.metadata.num_rows
                if keys is not None:
                    for group in range(parquet.num_row_groups):
                        keys.update(parquet_row_key(row) for row in parquet.read_row_group(group).to_pylist())
            else:
                records = 0
                with gzip.GzipFile(fileobj=reader, mode="rb") as unzipped:
                    if keys is None:
                        while block := unzipped.read(1 << 20):
                            records += block.count(b"\n")
                    else:
                        for line in unzipped:
                            records += 1
                            keys[line_key(line)] += 1
                reader.read()  # anything after the gzip stream still counts for the hash
    except FileNotFoundError:
        raise
    except Exception as exc:  # truncated gzip, a broken Parquet footer, storage errors
        raise WebflowLandingError(f"Reading {path} failed ({type(exc).__name__}: {exc}).") from exc
    report_read(path)
    return ObjectMeasure(reader.sha256.hexdigest(), reader.size, records)


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


def read_landed_events(window: WindowChain, on_event: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    """Stream a landed window's events, part after part, into ``on_event``; check each part against its manifest.

    Returns the parts' manifests, in order. Raises :class:`WebflowLandingError` if a part's sha256 or
    record count disagrees with its manifest: whatever ``on_event`` did with the events must then be
    thrown away.
    """
    manifests = []
    for part in window.parts:
        lines = PartLines(part)
        for line in lines:
            on_event(parse_landed_line(line, part))
        manifests.append(lines.manifest)
    return manifests


def parse_landed_line(line: bytes, landed: LandedObject) -> dict[str, Any]:
    """One landed line as its event; a line that is not JSON raises :class:`WebflowLandingError`."""
    try:
        event = json.loads(line)
    except ValueError as exc:
        raise WebflowLandingError(f"Reading the landed window {landed.path} failed (ValueError: {exc}).") from exc
    if not isinstance(event, dict):
        raise WebflowLandingError(f"The landed window {landed.path} holds a line that is not a JSON object.")
    return event


class PartLines:
    """Iterate one part's landed lines (each with its newline, exactly as landed), checked as they end.

    The manifest is read first; once the last line has been given, the part's sha256 and line count
    are checked against it, and a mismatch raises :class:`WebflowLandingError`: whatever was done with
    the lines must then be thrown away. :attr:`manifest` is the part's manifest.
    """

    def __init__(self, landed: LandedObject) -> None:
        self.landed = landed
        try:
            self.manifest: dict[str, Any] = json.loads(read_untracked(landed.manifest_path))
        except (OSError, ValueError) as exc:
            raise WebflowLandingError(
                f"Reading the manifest of the landed window {landed.path} failed ({type(exc).__name__}: {exc})."
            ) from exc

    def __iter__(self) -> Iterator[bytes]:
        landed = self.landed
        records = 0
        try:
            with open_untracked(landed.path, "rb") as raw:
                reader = _HashingReader(raw)
                with gzip.GzipFile(fileobj=reader, mode="rb") as lines:
                    for line in lines:
                        records += 1
                        yield line
                reader.read()  # anything after the gzip stream still counts for the hash
        except (OSError, EOFError, ValueError, zlib.error) as exc:  # gzip truncated or corrupt
            raise WebflowLandingError(
                f"Reading the landed window {landed.path} failed ({type(exc).__name__}: {exc})."
            ) from exc
        expected = self.manifest.get("object", {}).get("sha256")
        if reader.sha256.hexdigest() != expected or self.manifest.get("records") != records:
            raise WebflowLandingError(
                f"The landed window {landed.path} does not match its manifest (sha256 {reader.sha256.hexdigest()} "
                f"vs {expected}, {records} vs {self.manifest.get('records')} records): it was changed after "
                "landing. Audit the range (python -m airflow_webflow_audit.audit) to see what else changed."
            )
        report_read(landed.path)


def chain_digest(manifests: list[dict[str, Any]]) -> str | None:
    """One value that changes when a window's parts change: its single part's sha256, or a hash of them all."""
    shas = [str((manifest.get("object") or {}).get("sha256")) for manifest in manifests]
    if not shas:
        return None
    if len(shas) == 1:
        return shas[0]  # what baselines written before parts existed hold
    return hashlib.sha256(";".join(shas).encode()).hexdigest()

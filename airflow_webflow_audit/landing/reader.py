"""Reading landed windows back, judged by the chain judge: the one way monitoring, audits, reconciles,
the OCSF conversion and the landing itself see what was landed.

A window is a chain of parts (see :mod:`airflow_webflow_audit.landing.layout`); readers see the
union of its parts' events, each once, and only once :mod:`~airflow_webflow_audit.landing.chain`
found nothing wrong with them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import IO, Any

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.exceptions import WebflowLandingError
from airflow_webflow_audit.landing.chain import (
    CORRUPT,
    MISSING_OBJECT,
    ChainVerdict,
    ObjectMeasure,
    PartFound,
    Place,
    judge_chain,
    object_mismatches,
)
from airflow_webflow_audit.landing.formats import count_records, holds_event_lines
from airflow_webflow_audit.landing.layout import (
    FIRST_PART,
    MANIFEST_SUFFIX,
    PART_MANIFEST,
    PART_OBJECT,
    ObjectName,
    classify_name,
    day_folder_name,
    manifest_path_for,
    parse_day_folder,
    workspace_root,
)
from airflow_webflow_audit.landing.storage import DIRECTORY, FILE, Entry, list_folder, open_untracked, read_if_present
from airflow_webflow_audit.lineage import report_read
from airflow_webflow_audit.signing import SignaturePolicy


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
    """A window the chain judge verified: its parts in order, from the first, each with the manifest it
    verified; together they hold each of its events once. Their bytes are checked as they are read."""

    parts: tuple[LandedObject, ...]
    manifests: tuple[dict[str, Any], ...]

    @classmethod
    def at(cls, destination: ObjectStoragePath, verdict: ChainVerdict) -> WindowChain:
        """The verified parts of ``verdict``, whose window was landed under ``destination``."""
        folder = destination / verdict.place.folder
        name = verdict.place.name
        parts = tuple(
            LandedObject(
                name.start,
                name.end,
                folder / verdict.place.part_name(part.number),
                name.event_types,
                name.file_format,
                part.number,
            )
            for part in verdict.parts
        )
        return cls(parts, tuple(part.manifest for part in verdict.parts))

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


def parts_found(
    folder: ObjectStoragePath, place: Place, entries: Sequence[Entry], *, with_keys: bool = False
) -> list[PartFound]:
    """Every part of the window at ``place`` among ``entries`` (the listing of ``folder``): manifests read,
    data objects measured (``with_keys``: with their events' identity keys)."""
    kinds = {entry.name: entry.kind for entry in entries}
    created = {entry.name: entry.created for entry in entries}
    numbers = set()
    day = place.name.start.astimezone(timezone.utc).date()
    for entry in entries:
        kind, parsed = classify_name(entry.name, day)
        if kind in (PART_OBJECT, PART_MANIFEST) and parsed is not None and parsed.window == place.name.window:
            numbers.add(parsed.part)
    found = []
    for number in sorted(numbers):
        name = place.part_name(number)
        manifest_name = name + MANIFEST_SUFFIX
        manifest_kind = kinds.get(manifest_name)
        manifest = read_if_present(folder / manifest_name) if manifest_kind == FILE else None
        measure, unreadable = None, None
        if kinds.get(name) == FILE:
            try:
                measure = measure_object(folder / name, place.name.file_format, with_keys=with_keys)
            except FileNotFoundError:
                unreadable = (MISSING_OBJECT, f"part {number}'s object vanished while it was read")
            except WebflowLandingError as exc:
                unreadable = (CORRUPT, f"part {number}: {exc}")
        found.append(
            PartFound(number, kinds.get(name), manifest_kind, manifest, created.get(manifest_name), measure, unreadable)
        )
    return found


def read_chain(
    folder: ObjectStoragePath,
    place: Place,
    policy: SignaturePolicy,
    *,
    entries: Sequence[Entry] | None = None,
    stop_at_first: bool = False,
    with_keys: bool = False,
) -> ChainVerdict:
    """The chain judge's verdict on the window at ``place``, whose parts lie in ``folder``.

    ``entries``: the folder's listing, if the caller has it. ``with_keys``: each part is measured with
    its events' identity keys (:meth:`ChainVerdict.event_keys` and the orphan's measure, for comparing
    with a pull).
    """
    if entries is None:
        entries = list_folder(folder)
    found = parts_found(folder, place, entries, with_keys=with_keys)
    return judge_chain(place, found, policy, stop_at_first=stop_at_first)


@dataclass(frozen=True)
class LandedSpan:
    """Where a workspace's whole gzip JSONL windows begin and end, and which filters other windows have."""

    first_start: datetime | None
    last_end: datetime | None
    filters: frozenset[tuple[str, ...]] = frozenset()


def landed_span(destination: ObjectStoragePath, workspace: str) -> LandedSpan:
    """The first whole window's start and the last one's end (gzip JSONL), from the first and last day folders
    that hold one: a few listings, not the whole archive's. With no whole window at all, every folder is
    listed to say which filtered windows there are."""
    root = workspace_root(destination, workspace)
    days = sorted(
        day
        for entry in list_folder(root)
        if entry.kind == DIRECTORY and (day := parse_day_folder(entry.name)) is not None
    )
    filters: set[tuple[str, ...]] = set()

    def whole_in(day: date) -> list[ObjectName]:
        names = []
        for entry in list_folder(root / day_folder_name(day)):
            kind, parsed = classify_name(entry.name, day)
            if kind != PART_OBJECT or parsed is None:
                continue
            if parsed.event_types is not None:
                filters.add(parsed.event_types)
            elif holds_event_lines(parsed.file_format):
                names.append(parsed)
        return names

    first = next((names for day in days if (names := whole_in(day))), [])
    if not first:
        return LandedSpan(None, None, frozenset(filters))
    last = next(names for day in reversed(days) if (names := whole_in(day)))
    return LandedSpan(min(name.start for name in first), max(name.end for name in last), frozenset(filters))


def measure_object(path: ObjectStoragePath, file_format: str, *, with_keys: bool = False) -> ObjectMeasure:
    """Hash, size and count a data object in one streamed read; raises WebflowLandingError if it is unreadable.

    Not reported to lineage: judging a window is not consuming its events (a landing that checks its
    earlier parts would otherwise name its own output as its input). Reading events is (:class:`PartLines`).

    ``with_keys``: count each event's identity key too (:func:`~airflow_webflow_audit.landing.formats.line_key`
    or :func:`~airflow_webflow_audit.landing.formats.parquet_row_key`).
    """
    keys: Counter[bytes] | None = Counter() if with_keys else None
    try:
        with open_untracked(path, "rb") as raw:
            reader = _HashingReader(raw)
            records = count_records(reader, file_format, keys)  # type: ignore[arg-type]
    except FileNotFoundError:
        raise
    except Exception as exc:  # truncated gzip, a broken Parquet footer, storage errors
        raise WebflowLandingError(f"Reading {path} failed ({type(exc).__name__}: {exc}).") from exc
    return ObjectMeasure(reader.sha256.hexdigest(), reader.size, records, keys)


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
    for part, manifest in zip(window.parts, window.manifests, strict=True):
        for line in PartLines(part, manifest):
            on_event(parse_landed_line(line, part))
    return list(window.manifests)


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

    ``manifest`` is the part's manifest as the chain judge verified it; once the last line has been
    given, the part's bytes are checked against it by the judge's own rule
    (:func:`~airflow_webflow_audit.landing.chain.object_mismatches`), and a mismatch raises
    :class:`WebflowLandingError`: whatever was done with the lines must then be thrown away.
    """

    def __init__(self, landed: LandedObject, manifest: dict[str, Any]) -> None:
        self.landed = landed
        self.manifest = manifest

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
        mismatches = object_mismatches(self.manifest, ObjectMeasure(reader.sha256.hexdigest(), reader.size, records))
        if mismatches:
            raise WebflowLandingError(
                f"The landed window {landed.path} does not match its manifest ({'; '.join(mismatches)}): it was "
                "changed after landing. Audit the range (python -m airflow_webflow_audit.audit) to see what else "
                "changed."
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

"""Landed windows -> OCSF Parquet files in Security Lake's layout: streamed, each file created once.

One direction: the landed parts are read through the reader (each checked against its manifest as it
ends), each event is mapped (:mod:`~airflow_webflow_audit.ocsf.mapping`), and its row goes to the
file of its OCSF class and UTC day (:mod:`~airflow_webflow_audit.ocsf.lake`). A window's parts are
merged by time, and windows come in order, so every file's rows are sorted by time without holding
a window in memory: memory is one buffered row group per open file, whatever the window's size.

Each file records, in its Parquet footer, the landed parts it covers (key and sha256). A run skips
the events of parts a file of their class and day already covers, so a rerun writes nothing, a run
after a late part writes files holding only that part's events, and a run stopped half-way writes
only what it had not finished. Files are exclusive creates
(:func:`~airflow_webflow_audit.landing.writer.exclusive_create`): visible only once complete, never replaced.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.exceptions import WebflowLandingConflictError, WebflowLandingError
from airflow_webflow_audit.landing.reader import LandedObject, PartLines, WindowChain, parse_landed_line
from airflow_webflow_audit.landing.storage import ExclusiveCreate, list_folder, open_untracked
from airflow_webflow_audit.landing.writer import exclusive_create
from airflow_webflow_audit.lineage import report_written
from airflow_webflow_audit.ocsf.lake import FILE_SUFFIX, day_folder, file_name, file_prefix
from airflow_webflow_audit.ocsf.mapping import CLASSES_BY_UID, OCSF_VERSION, OcsfEvent, to_ocsf
from airflow_webflow_audit.ocsf.schema import class_schema, to_row

log = logging.getLogger(__name__)

#: Footer metadata of every file: the landed parts it covers, the workspace, the OCSF version.
PARTS_METADATA_KEY = "webflow_audit.parts"
WORKSPACE_METADATA_KEY = "webflow_audit.workspace"
OCSF_VERSION_METADATA_KEY = "webflow_audit.ocsf_version"
#: Rows buffered per file before they are written as one row group.
ROW_GROUP_ROWS = 10_000
#: pyarrow ends a data page once it passes this size, checking every WRITE_BATCH_ROWS rows, so pages
#: stay under Security Lake's 1 MB unless one value alone is near that size.
DATA_PAGE_BYTES = 512 * 1024
WRITE_BATCH_ROWS = 64


@dataclass(frozen=True)
class LakeTarget:
    """Where the OCSF files go: the lake's root and its partition values, and the source of each class."""

    destination: ObjectStoragePath
    region: str
    account_id: str
    sources: dict[int, str]

    def folder(self, class_uid: int, day: date) -> ObjectStoragePath:
        return day_folder(self.destination, self.sources[class_uid], self.region, self.account_id, day)


@dataclass(frozen=True)
class PartRef:
    """A landed part as a lake file records it: its key under the landing destination, and its sha256."""

    key: str
    sha256: str


@dataclass(frozen=True)
class LakeFile:
    """One file this run made (or found made by a run racing it, ``created`` False)."""

    uri: str
    class_uid: int
    source: str
    day: date
    rows: int
    created: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "class_uid": self.class_uid,
            "source": self.source,
            "event_day": f"{self.day:%Y%m%d}",
            "rows": self.rows,
        }


@dataclass
class Conversion:
    """What one run converted."""

    windows: int = 0
    parts: int = 0
    #: Events read from the landed parts.
    events: int = 0
    files: list[LakeFile] = field(default_factory=list)
    #: Rows written, per OCSF class uid.
    rows_by_class: Counter[int] = field(default_factory=Counter)
    #: Events a file written by an earlier run already holds.
    already_in_lake: int = 0
    #: ``eventType.eventSubType`` of events that went to the fallback class, with their counts.
    unmapped: Counter[str] = field(default_factory=Counter)

    def add(self, other: Conversion) -> None:
        """Count ``other`` (another range of the same run) in too."""
        self.windows += other.windows
        self.parts += other.parts
        self.events += other.events
        self.files.extend(other.files)
        self.rows_by_class.update(other.rows_by_class)
        self.already_in_lake += other.already_in_lake
        self.unmapped.update(other.unmapped)


def convert_windows(
    windows: Sequence[WindowChain],
    *,
    source: ObjectStoragePath,
    workspace: str,
    start: datetime,
    end: datetime,
    target: LakeTarget,
) -> Conversion:
    """Convert ``windows`` (in order, landed under ``source``) of the run over ``[start, end)`` into ``target``."""
    result = Conversion(windows=len(windows))
    parts = [
        [_part_stream(part, manifest, source) for part, manifest in zip(window.parts, window.manifests, strict=True)]
        for window in windows
    ]
    refs = [ref for window_parts in parts for _, ref in window_parts]
    result.parts = len(refs)
    if not windows:
        return result
    covered = _covered_parts(target, workspace, _days(windows), {ref.key: ref for ref in refs})
    open_files: dict[tuple[int, date], _LakeFileWriter] = {}
    try:
        for window, window_parts in zip(windows, parts, strict=True):
            _finish_before(open_files, window.start.astimezone(timezone.utc).date(), result)
            read_before = result.events
            for converted, ref in _merged(window_parts):
                result.events += 1
                if not converted.mapped:
                    result.unmapped[converted.event["metadata"]["event_code"]] += 1
                day = datetime.fromtimestamp(converted.time_ms / 1000, timezone.utc).date()
                slot = (converted.ocsf_class.uid, day)
                if ref.key in covered.get(slot, {}):
                    result.already_in_lake += 1
                    continue
                writer = open_files.get(slot)
                if writer is None:
                    todo = [
                        part_ref
                        for window_parts_of_day in _windows_on(day, windows, parts)
                        for _, part_ref in window_parts_of_day
                        if part_ref.key not in covered.get(slot, {})
                    ]
                    writer = open_files[slot] = _LakeFileWriter(
                        target, workspace, start, end, converted.ocsf_class.uid, day, todo
                    )
                writer.add(converted)
            log.info(
                "Converted [%s, %s): %d events in %d part(s).",
                window.start.isoformat(),
                window.end.isoformat(),
                result.events - read_before,
                len(window.parts),
            )
        _finish_before(open_files, date.max, result)
    except BaseException as exc:
        for writer in open_files.values():
            writer.abandon(type(exc).__name__)
        raise
    return result


def _part_stream(
    landed: LandedObject, manifest: dict[str, Any], source: ObjectStoragePath
) -> tuple[PartLines, PartRef]:
    """A landed part's lines (checked against its verified manifest), and the reference a lake file records."""
    lines = PartLines(landed, manifest)
    return lines, PartRef(_relative(landed.path, source), str(lines.manifest.get("object", {}).get("sha256")))


def _merged(window_parts: list[tuple[PartLines, PartRef]]) -> Iterator[tuple[OcsfEvent, PartRef]]:
    """A window's events, all parts merged by time (each part is in time order), each once."""
    streams = [_converted(lines, ref, number) for number, (lines, ref) in enumerate(window_parts)]
    for _, _, _, converted, ref in heapq.merge(*streams):
        yield converted, ref


def _converted(lines: PartLines, ref: PartRef, number: int) -> Iterator[tuple[int, int, int, OcsfEvent, PartRef]]:
    previous = None
    for index, line in enumerate(lines):
        converted = to_ocsf(line, parse_landed_line(line, lines.landed))
        if previous is not None and converted.time_ms < previous:
            raise WebflowLandingError(
                f"The landed part {lines.landed.path} is not in time order (line {index + 1}); every part this "
                "provider lands is. It cannot be converted without sorting it whole; land the window again."
            )
        previous = converted.time_ms
        # (time, part, line): a total order, so the merge never compares two events.
        yield converted.time_ms, number, index, converted, ref


def _finish_before(open_files: dict[tuple[int, date], _LakeFileWriter], day: date, result: Conversion) -> None:
    """Complete the files of days before ``day``: no later window has events on them."""
    for slot in sorted(slot for slot in open_files if slot[1] < day):
        written = open_files[slot].finish()  # still listed if it fails: the caller abandons it
        del open_files[slot]
        result.files.append(written)
        result.rows_by_class[written.class_uid] += written.rows


def _days(windows: Sequence[WindowChain]) -> list[date]:
    days: set[date] = set()
    for window in windows:
        day = window.start.astimezone(timezone.utc).date()
        last = (window.end - timedelta(microseconds=1)).astimezone(timezone.utc).date()
        while day <= last:
            days.add(day)
            day += timedelta(days=1)
    return sorted(days)


def _windows_on(
    day: date, windows: Sequence[WindowChain], parts: list[list[tuple[PartLines, PartRef]]]
) -> Iterator[list[tuple[PartLines, PartRef]]]:
    """The parts of the windows that reach into ``day`` (UTC)."""
    day_start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    for window, window_parts in zip(windows, parts, strict=True):
        if window.start < day_start + timedelta(days=1) and window.end > day_start:
            yield window_parts


def _relative(path: ObjectStoragePath, root: ObjectStoragePath) -> str:
    return str(path.path)[len(str(root.path).rstrip("/")) + 1 :]


def _covered_parts(
    target: LakeTarget, workspace: str, days: list[date], current: dict[str, PartRef]
) -> dict[tuple[int, date], dict[str, str]]:
    """For each class and day, the landed parts (key -> sha256) the lake's files of ``workspace`` already cover."""
    covered: dict[tuple[int, date], dict[str, str]] = {}
    for class_uid in target.sources:
        for day in days:
            folder = target.folder(class_uid, day)
            for path in _lake_files(folder, workspace):
                for key, sha256 in _parts_of(path).items():
                    now = current.get(key)
                    if now is not None and now.sha256 != sha256:
                        raise WebflowLandingError(
                            f"{path} holds the landed part {key} with sha256 {sha256}, but that part's sha256 is now "
                            f"{now.sha256}: the landed archive changed after it was converted. Audit the range "
                            "(python -m airflow_webflow_audit.audit)."
                        )
                    covered.setdefault((class_uid, day), {})[key] = sha256
    return covered


def _lake_files(folder: ObjectStoragePath, workspace: str) -> list[ObjectStoragePath]:
    names = [entry.name for entry in list_folder(folder)]
    prefix = file_prefix(workspace)
    return [folder / name for name in sorted(names) if name.startswith(prefix) and name.endswith(FILE_SUFFIX)]


def _parts_of(path: ObjectStoragePath) -> dict[str, str]:
    """The landed parts (key -> sha256) the footer of the lake file at ``path`` says it covers."""
    import pyarrow.parquet as pq

    try:
        with open_untracked(path, "rb") as raw:
            metadata = pq.read_schema(raw).metadata or {}
        parts = json.loads(metadata[PARTS_METADATA_KEY.encode()])
        return {str(part["key"]): str(part["sha256"]) for part in parts}
    except FileNotFoundError:
        return {}
    except Exception as exc:
        raise WebflowLandingError(
            f"{path} is not a file this provider wrote, or it is damaged ({type(exc).__name__}: {exc}): its "
            f"footer has no readable {PARTS_METADATA_KEY}. Move it out of the source's folder (files of another "
            "workspace have another name prefix), then run again."
        ) from exc


class _LakeFileWriter:
    """One lake file being written: rows in time order, buffered into row groups, created once at finish."""

    def __init__(
        self,
        target: LakeTarget,
        workspace: str,
        start: datetime,
        end: datetime,
        class_uid: int,
        day: date,
        parts: list[PartRef],
    ) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa = pa
        self.class_uid = class_uid
        self.day = day
        self.source = target.sources[class_uid]
        self.parts = sorted(parts, key=lambda ref: ref.key)
        digest = hashlib.sha256("\n".join(f"{ref.key} {ref.sha256}" for ref in self.parts).encode()).hexdigest()
        self.path = target.folder(class_uid, day) / file_name(workspace, start, end, digest)
        self.schema = class_schema(class_uid).with_metadata(
            {
                PARTS_METADATA_KEY: json.dumps([{"key": ref.key, "sha256": ref.sha256} for ref in self.parts]),
                WORKSPACE_METADATA_KEY: workspace,
                OCSF_VERSION_METADATA_KEY: OCSF_VERSION,
            }
        )
        self.rows = 0
        self._buffer: list[dict[str, Any]] = []
        self._upload: ExclusiveCreate | None = exclusive_create(self.path)
        try:
            self._writer = pq.ParquetWriter(
                self._upload.raw,
                self.schema,
                compression="zstd",
                data_page_size=DATA_PAGE_BYTES,
                dictionary_pagesize_limit=DATA_PAGE_BYTES,
                write_batch_size=WRITE_BATCH_ROWS,
            )
        except BaseException as exc:
            self._upload.discard(type(exc).__name__)
            raise
        log.info("Writing %s rows of %s to %s.", CLASSES_BY_UID[class_uid].name, f"{day:%Y-%m-%d}", self.path)

    def add(self, converted: OcsfEvent) -> None:
        """Append a row; rows come in time order (each part is checked as read, parts are merged by
        time, and windows come in order without overlap, which the audit before the run proved)."""
        self._buffer.append(to_row(self.class_uid, converted.event))
        if len(self._buffer) >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._writer.write_table(self._pa.Table.from_pylist(self._buffer, schema=self.schema))
            self.rows += len(self._buffer)
            self._buffer = []

    def finish(self) -> LakeFile:
        """Write what is buffered, close the file and create it at its key."""
        upload = self._upload
        if upload is None:
            raise RuntimeError("finish() once")
        try:
            self._flush()
            self._writer.close()
        except BaseException as exc:
            self.abandon(type(exc).__name__)
            raise
        self._upload = None
        try:
            upload.complete()
        except WebflowLandingConflictError:
            if _parts_of(self.path) != {ref.key: ref.sha256 for ref in self.parts}:
                raise
            log.info("%s was created by another run converting the same parts at the same time.", self.path)
            return LakeFile(str(self.path), self.class_uid, self.source, self.day, self.rows, created=False)
        report_written(self.path)
        return LakeFile(str(self.path), self.class_uid, self.source, self.day, self.rows)

    def abandon(self, why: str) -> None:
        if self._upload is None:
            return
        with contextlib.suppress(Exception):  # the upload is thrown away either way
            self._writer.close()  # before the discard: pyarrow's finalizer would write to the upload later
        self._upload.discard(why)
        self._upload = None

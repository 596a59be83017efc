"""Landing one window: the hook's pull -> what the window's landed parts lack -> a new part, or nothing.

The one way a window reaches storage, for the landing operator and for reconcile. A window is never
replaced: the first landing writes part 1 with every event; a later one (a rerun, a reconcile)
compares its pull with the parts already landed and writes a new part holding only the events they
lack, or nothing at all. Each part's manifest names the parts before it and its place (workspace,
window, filter, part, object), and is signed when a signing key is configured. Before building on
the parts on record, the landing asks the chain judge (:mod:`.chain`) about them, with the same
signature policy every reader uses, and refuses on the first flaw: it never adds to a window it
cannot trust.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import IO, Any

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit import metrics
from airflow_webflow_audit.exceptions import (
    WebflowArchiveTamperedError,
    WebflowLandingConflictError,
    WebflowPagingError,
    WebflowWindowChangedError,
)
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.jsonlines import EventBatch, loads
from airflow_webflow_audit.landing.formats import encodes_parsed_events, event_key, validate_file_format
from airflow_webflow_audit.landing.horizon import COVERAGE_BEFORE, COVERAGE_COMPLETE, RetentionHorizon, coverage_of
from airflow_webflow_audit.landing.layout import FIRST_PART, Place, manifest_path_for, parse_object_name
from airflow_webflow_audit.landing.manifest import (
    PreviousPart,
    PullRecord,
    WrittenObject,
    build_manifest,
    encode_manifest,
)
from airflow_webflow_audit.landing.reader import read_chain
from airflow_webflow_audit.landing.writer import LandedPart, WriteOptions, create_object, open_part
from airflow_webflow_audit.logs import Log
from airflow_webflow_audit.signing import SignaturePolicy, Signer
from airflow_webflow_audit.windows import WindowQuery

#: Events handed to the writer at a time when a new part is written from the spooled pull.
WRITE_BATCH_EVENTS = 1000
#: Bytes copied at a time from the pull's spool.
SPOOL_BLOCK_BYTES = 1 << 20
#: How often a landing that lost a race to create a part compares its pull with the winner's part again.
MAX_CONFLICT_RETRIES = 2


@dataclass(frozen=True)
class LandingPlan:
    """What to land and how: the window query, where, in which format, and the manifest's context."""

    query: WindowQuery
    #: The window's first part; later parts go beside it.
    object_path: ObjectStoragePath
    file_format: str
    settle: timedelta
    max_window_attempts: int
    #: The retention look, shared with the task's other windows.
    horizon: RetentionHorizon
    task_instance: object | None = None
    options: WriteOptions = field(default_factory=WriteOptions)
    signer: Signer | None = None
    #: How the parts on record are judged: the same policy every reader of the window applies.
    policy: SignaturePolicy = field(default_factory=SignaturePolicy)

    def __post_init__(self) -> None:
        validate_file_format(self.file_format)  # before any request

    @property
    def place(self) -> Place:
        name = parse_object_name(self.object_path.name)
        if name is None:
            raise ValueError(f"{self.object_path} is not the name of a window's data object")
        return Place(self.query.workspace, name)


@dataclass(frozen=True)
class LandingResult:
    """What a landing found and wrote: the part it wrote, if any, and the window's parts after it."""

    #: The part this landing wrote; None when the window's parts already held every event pulled.
    written: LandedPart | None
    #: The window's newest part after this landing (the one written, or the newest on record).
    part: int
    #: Events in all of the window's parts after this landing.
    window_records: int
    #: The newest part's data object and manifest.
    uri: str
    manifest_uri: str
    manifest: dict[str, Any]

    @property
    def new_records(self) -> int:
        return 0 if self.written is None else self.written.records


@dataclass(frozen=True)
class _Orphan:
    """The newest part's data object whose landing stopped before its manifest: where, and what it holds."""

    path: ObjectStoragePath
    written: WrittenObject
    keys: Counter[bytes]


@dataclass(frozen=True)
class _OnRecord:
    """The window's parts on record, verified by the chain judge: what the next part builds on."""

    place: Place
    #: How the next part's manifest names each verified part, in order.
    links: tuple[PreviousPart, ...] = ()
    #: The verified parts' events' identity keys, counted.
    keys: Counter[bytes] = field(default_factory=Counter)
    #: The newest verified part: its data object's and manifest's URIs, and its manifest.
    newest: tuple[str, str, dict[str, Any]] | None = None
    orphan: _Orphan | None = None

    @property
    def empty(self) -> bool:
        return not self.links and self.orphan is None

    @property
    def next_part(self) -> int:
        return len(self.links) + FIRST_PART

    @property
    def records(self) -> int:
        return sum(link.records for link in self.links)

    def with_part(self, link: PreviousPart, newest: tuple[str, str, dict[str, Any]]) -> _OnRecord:
        """These parts and one more (an adopted orphan) after them."""
        return _OnRecord(self.place, (*self.links, link), self.keys, newest)


@dataclass(frozen=True)
class _Pulled:
    """What the window's pull found, as the manifest of the part that lands it records it."""

    pulls: list[PullRecord]
    records: int
    pulled_at: datetime
    earliest_available: datetime | None
    #: Whether the window lies where the API still serves events (the manifest's ``coverage``).
    coverage: str


class _Pull:
    """The window's events, one pull per event type asked for (one in all without a filter).

    Iterate it for the batches; then :meth:`finish` looks at the retention horizon and says what was found.
    """

    def __init__(self, hook: WebflowHook, plan: LandingPlan) -> None:
        self.hook = hook
        self.plan = plan
        self.pulls: list[PullRecord] = []
        self.records = 0

    def __iter__(self) -> Iterator[EventBatch]:
        query = self.plan.query
        for event_type in list(query.event_types) if query.event_types else [None]:
            batches = self.hook.iter_audit_log_batches(query.workspace, query.start, query.end, event_type)
            self.pulls.append(PullRecord(event_type, batches.progress))
            for batch in batches:
                self.records += len(batch.lines)
                yield batch

    def finish(self) -> _Pulled:
        """What was pulled, with the retention horizon after the pull (a horizon that moved meanwhile only
        makes the claim more cautious)."""
        query = self.plan.query
        earliest_available = self.plan.horizon.after_pull(query.start, self.records)
        coverage = coverage_of(query.start, query.end, earliest_available)
        return _Pulled(self.pulls, self.records, datetime.now(timezone.utc), earliest_available, coverage)


@dataclass(frozen=True)
class _NewEvents:
    """The pull against the parts on record: what they lack, and what they hold that the pull did not find."""

    #: Pulled events no part (nor the orphan, when it is adopted) holds: the next part's events.
    records: int
    #: Events pulled.
    pulled: int
    #: Events in the verified parts that the pull did not find.
    gone: int
    #: Events in the orphan that the pull did not find among those the parts lack: it is not ours if any.
    unexplained: int = 0


def land_window(hook: WebflowHook, plan: LandingPlan, log: Log) -> LandingResult:
    """Pull the window and land what its parts lack; pull it whole again if late events land mid-pull, or
    if another landing of the window created the part this one was writing (then this one compares its
    pull with that part, and usually finds nothing left to write)."""
    attempt = conflicts = 1
    began = time.monotonic()
    while True:
        try:
            result = _land_once(hook, plan, log)
        except WebflowWindowChangedError as exc:
            if attempt >= plan.max_window_attempts:
                raise
            attempt += 1
            log.warning(
                "%s Nothing was written to %s; pulling the whole window again (attempt %d of %d).",
                exc,
                plan.object_path,
                attempt,
                plan.max_window_attempts,
            )
        except WebflowLandingConflictError as exc:
            if conflicts > MAX_CONFLICT_RETRIES:
                raise
            conflicts += 1
            log.warning("%s Another landing of this window got there first; comparing with what it landed.", exc)
        else:
            _count_landed(plan.query, result, time.monotonic() - began)
            return result


def _count_landed(query: WindowQuery, result: LandingResult, seconds: float) -> None:
    """The landing's metrics: the window, its new events and bytes, how long it took and how late it came."""
    workspace = query.workspace
    written = result.written
    metrics.count(metrics.WINDOWS_LANDED, workspace=workspace, outcome="unchanged" if written is None else "written")
    if written is not None:
        metrics.count(metrics.EVENTS_LANDED, written.records, workspace=workspace)
        metrics.count(metrics.BYTES_WRITTEN, written.size_bytes, workspace=workspace)
    metrics.time_taken(metrics.WINDOW_PULL, seconds)
    metrics.time_taken(metrics.LANDING_LAG, (datetime.now(timezone.utc) - query.end).total_seconds())


def _land_once(hook: WebflowHook, plan: LandingPlan, log: Log) -> LandingResult:
    """One landing, in phases that hand values on: read and judge the parts on record, pull, compare, write.

    With nothing on record the pull streams straight into part 1 (nothing to compare it with).
    """
    on_record = _read_on_record(plan, log)
    if on_record.empty:
        return _land_first_part(hook, plan, on_record.place, log)
    with tempfile.TemporaryFile(prefix="webflow-audit-pull-") as spool, tempfile.TemporaryFile() as fresh:
        pull = _Pull(hook, plan)
        for batch in pull:
            spool.write(b"".join(batch.lines))
        pulled = pull.finish()
        new = _new_events(spool, fresh, on_record, plan.file_format)
        if on_record.orphan is not None:
            on_record = _adopt_orphan(on_record, on_record.orphan, new, plan, pulled, log)
        _warn_about_retention(pulled, new.pulled, log)
        if new.gone:
            log.warning(
                "%d of the %d events already landed for this window are no longer served by Webflow (retention, "
                "or a change on its side). They stay in the landed parts: an audit log only grows.",
                new.gone,
                on_record.records,
            )
        if new.records == 0:
            return _nothing_new(on_record, new.pulled, log)
        return _land_next_part(fresh, on_record, new, plan, pulled, log)


def _read_on_record(plan: LandingPlan, log: Log) -> _OnRecord:
    """The window's parts on record, judged by the chain judge; the landing refuses on the first flaw."""
    place = plan.place
    folder = plan.object_path.parent
    verdict = read_chain(folder, place, plan.policy, stop_at_first=True, with_keys=True)
    keys = verdict.event_keys()
    for warning in verdict.warnings:
        log.warning("%s", warning)
    if verdict.flaws and verdict.orphan is None:
        flaw = verdict.flaws[0]
        metrics.count(metrics.EVIDENCE_REFUSED, kind=flaw.kind)
        raise WebflowArchiveTamperedError(
            f"The window at {plan.object_path} cannot be built on: {flaw.kind}: {flaw.detail}. Nothing was written; "
            "audit the range (python -m airflow_webflow_audit.audit) to see what else changed."
        )
    links = tuple(part.link() for part in verdict.parts)
    newest = None
    if links:
        path = folder / links[-1].key
        newest = (str(path), str(manifest_path_for(path)), verdict.parts[-1].manifest)
    orphan = None
    if verdict.orphan is not None and (measure := verdict.orphan_measure) is not None:
        path = folder / place.part_name(verdict.orphan)
        written = WrittenObject(str(path), plan.file_format, measure.records, measure.sha256, measure.size_bytes)
        orphan = _Orphan(path, written, measure.keys or Counter())
    return _OnRecord(place, links, keys, newest, orphan)


def _land_first_part(hook: WebflowHook, plan: LandingPlan, place: Place, log: Log) -> LandingResult:
    """No part on record: the pull streams straight into part 1.

    The part is still an exclusive create, visible only once whole: a landing that raced this one to
    it makes this one fail with a conflict, and its retry compares with that part.
    """
    pull = _Pull(hook, plan)
    with open_part(plan.object_path, plan.file_format, plan.options) as out:
        for batch in pull:
            out.write(batch)
        # Before the data object is made visible: a look that fails leaves nothing at the final key.
        pulled = pull.finish()
        written = out.finish()
        landed = out.commit(_part_manifest(plan, place, (), pulled, written, FIRST_PART))
    _warn_about_retention(pulled, written.records, log)
    log.info("Part 1 of the window holds the %d events pulled.", landed.records)
    return _landing_result(landed, FIRST_PART, landed.records)


def _new_events(spool: IO[bytes], fresh: IO[bytes], on_record: _OnRecord, file_format: str) -> _NewEvents:
    """Copy to ``fresh`` the spooled events that neither the parts on record nor their orphan hold.

    The orphan's events are left out only if every one of them is among the events the parts lack (then
    this pull vouches for it); otherwise ``unexplained`` counts those that are not.
    """
    unseen = on_record.keys.copy()
    records, pulled = _keep_unseen(spool, fresh, unseen, file_format)
    gone = sum(unseen.values())
    orphan = on_record.orphan
    if orphan is None:
        return _NewEvents(records, pulled, gone)
    in_orphan = orphan.keys.copy()
    with tempfile.TemporaryFile() as rest:
        _keep_unseen(fresh, rest, in_orphan, file_format)
        unexplained = sum(in_orphan.values())
        if unexplained:
            return _NewEvents(records, pulled, gone, unexplained)
        fresh.seek(0)
        fresh.truncate()
        rest.seek(0)
        while block := rest.read(SPOOL_BLOCK_BYTES):
            fresh.write(block)
    return _NewEvents(records - orphan.written.records, pulled, gone)


def _keep_unseen(pulled: IO[bytes], fresh: IO[bytes], unseen: Counter[bytes], file_format: str) -> tuple[int, int]:
    """Copy the pulled events the parts do not hold to ``fresh``, using up ``unseen``; (copied, pulled)."""
    pulled.seek(0)
    if not +unseen:  # nothing to leave out: every event is new, so copy, don't hash
        total = 0
        while block := pulled.read(SPOOL_BLOCK_BYTES):
            fresh.write(block)
            total += block.count(b"\n")
        return total, total
    kept = total = 0
    keep: list[bytes] = []
    for line in pulled:
        total += 1
        event = loads(line)[0] if encodes_parsed_events(file_format) else None
        key = event_key(file_format, event or {}, line)
        if unseen[key] > 0:
            unseen[key] -= 1
            continue
        keep.append(line)
        if len(keep) >= WRITE_BATCH_EVENTS:
            fresh.write(b"".join(keep))
            kept += len(keep)
            keep = []
    fresh.write(b"".join(keep))
    return kept + len(keep), total


def _adopt_orphan(
    on_record: _OnRecord, orphan: _Orphan, new: _NewEvents, plan: LandingPlan, pulled: _Pulled, log: Log
) -> _OnRecord:
    """Write the manifest of a data object whose landing stopped before it, if the pull vouches for it.

    Every event in it must be one this pull found and no earlier part holds; then it becomes the next
    part. Anything else means somebody else wrote that object.
    """
    if new.unexplained:
        raise WebflowArchiveTamperedError(
            f"{orphan.path} has no manifest, and {new.unexplained} of its {orphan.written.records} events are not "
            "among the events Webflow serves for this window that earlier parts lack: no landing of this provider "
            "wrote it. Nothing was written; inspect it, and remove it if the bucket allows."
        )
    part = on_record.next_part
    manifest = _part_manifest(plan, on_record.place, on_record.links, pulled, orphan.written, part, adopted=True)
    body = encode_manifest(manifest)
    manifest_path = manifest_path_for(orphan.path)
    create_object(manifest_path, body, plan.options)
    log.warning(
        "%s had no manifest (its landing stopped in between); its %d events are all in this pull and in no earlier "
        "part, so its manifest is written now (part %d, adopted).",
        orphan.path,
        orphan.written.records,
        part,
    )
    written = orphan.written
    link = PreviousPart(orphan.path.name, written.sha256, written.records, hashlib.sha256(body).hexdigest())
    return on_record.with_part(link, (str(orphan.path), str(manifest_path), manifest))


def _land_next_part(
    fresh: IO[bytes], on_record: _OnRecord, new: _NewEvents, plan: LandingPlan, pulled: _Pulled, log: Log
) -> LandingResult:
    """Land the events the parts on record lack (spooled in ``fresh``) as the next part."""
    part = on_record.next_part
    path = plan.object_path.parent / on_record.place.part_name(part)
    with open_part(path, plan.file_format, plan.options) as out:
        for batch in _batches(fresh, plan.file_format):
            out.write(batch)
        written = out.finish()
        landed = out.commit(_part_manifest(plan, on_record.place, on_record.links, pulled, written, part))
    log.info(
        "Part %d of the window holds the %d events its %d earlier part(s) lacked (of %d pulled).",
        part,
        landed.records,
        len(on_record.links),
        new.pulled,
    )
    return _landing_result(landed, part, on_record.records + landed.records)


def _part_manifest(
    plan: LandingPlan,
    place: Place,
    links: tuple[PreviousPart, ...],
    pulled: _Pulled,
    written: WrittenObject,
    part: int,
    adopted: bool = False,
) -> dict[str, Any]:
    """The manifest of one part, signed when there is a signing key."""
    query = plan.query
    manifest = build_manifest(
        workspace=query.workspace,
        workspace_identity=_workspace_identity(pulled.pulls),
        object_key=place.key(part),
        start=query.start,
        end=query.end,
        event_types=query.event_types,
        pulls=pulled.pulls,
        written=written,
        task_instance=plan.task_instance,
        pulled_at=pulled.pulled_at,
        earliest_available=pulled.earliest_available,
        coverage=pulled.coverage,
        settle=plan.settle,
        part=part,
        previous=list(links),
        adopted=adopted,
    )
    return plan.signer.sign(manifest) if plan.signer is not None else manifest


def _workspace_identity(pulls: list[PullRecord]) -> dict[str, Any] | None:
    """The workspace the pulled events name (each pull checked its own events against the one asked for)."""
    named = [pull.progress.workspace for pull in pulls if pull.progress.workspace is not None]
    if any(identity != named[0] for identity in named[1:]):
        raise WebflowPagingError(f"The pulls of one window name different workspaces ({named}); nothing was written.")
    return named[0] if named else None


def _batches(fresh: IO[bytes], file_format: str) -> Iterator[EventBatch]:
    """The spooled events in batches; parsed only for a format that encodes events (gzip JSONL takes the lines)."""
    fresh.seek(0)
    parse = encodes_parsed_events(file_format)
    events: list[dict[str, Any]] = []
    lines: list[bytes] = []
    for line in fresh:
        if parse:
            events.append(loads(line)[0])
        lines.append(line)
        if len(lines) >= WRITE_BATCH_EVENTS:
            yield EventBatch(events, lines)
            events, lines = [], []
    if lines:
        yield EventBatch(events, lines)


def _landing_result(landed: LandedPart, part: int, window_records: int) -> LandingResult:
    return LandingResult(
        written=landed,
        part=part,
        window_records=window_records,
        uri=landed.uri,
        manifest_uri=landed.manifest_uri,
        manifest=landed.manifest,
    )


def _nothing_new(on_record: _OnRecord, pulled: int, log: Log) -> LandingResult:
    uri, manifest_uri, manifest = on_record.newest or ("", "", {})
    log.info(
        "The window's %d landed part(s) already hold every one of the %d events pulled: nothing was written.",
        len(on_record.links),
        pulled,
    )
    return LandingResult(
        written=None,
        part=len(on_record.links),
        window_records=on_record.records,
        uri=uri,
        manifest_uri=manifest_uri,
        manifest=manifest,
    )


def _warn_about_retention(pulled: _Pulled, records: int, log: Log) -> None:
    coverage, earliest_available = pulled.coverage, pulled.earliest_available
    if coverage == COVERAGE_COMPLETE:
        return
    where = "ends at or before" if coverage == COVERAGE_BEFORE else "starts before"
    log.warning(
        "The window %s the oldest event Webflow still serves for this workspace (%s): events older than "
        "the API's retention are gone from it, so %d events cannot be shown to be all there were. The "
        "manifest says coverage=%s; use an earlier landing of this window, if there is one, as the record.",
        where,
        None if earliest_available is None else earliest_available.isoformat(),
        records,
        coverage,
    )

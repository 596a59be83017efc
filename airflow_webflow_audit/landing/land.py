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
from airflow_webflow_audit.landing.chain import Flaw, Place
from airflow_webflow_audit.landing.formats import encodes_parsed_events, event_key, validate_file_format
from airflow_webflow_audit.landing.horizon import RetentionHorizon
from airflow_webflow_audit.landing.layout import FIRST_PART, manifest_path_for, parse_object_name
from airflow_webflow_audit.landing.manifest import (
    COVERAGE_BEFORE,
    COVERAGE_COMPLETE,
    PreviousPart,
    PullRecord,
    WrittenObject,
    build_manifest,
    coverage_of,
    encode_manifest,
)
from airflow_webflow_audit.landing.reader import measure_object, read_chain
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
    task_instance: object | None = None
    options: WriteOptions = field(default_factory=WriteOptions)
    signer: Signer | None = None
    #: How the parts on record are judged: the same policy every reader of the window applies.
    policy: SignaturePolicy = field(default_factory=SignaturePolicy)
    #: The retention look shared with the task's other windows; None: this window looks itself.
    horizon: RetentionHorizon | None = None

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


@dataclass
class _Chain:
    """The window's parts on record, checked: their links for the next part, their events' keys."""

    first: ObjectStoragePath
    place: Place
    links: list[PreviousPart] = field(default_factory=list)
    keys: Counter[bytes] = field(default_factory=Counter)
    #: A data object after the last part whose landing stopped before its manifest, with its measure.
    orphan: tuple[ObjectStoragePath, WrittenObject, Counter[bytes]] | None = None
    newest: tuple[str, str, dict[str, Any]] | None = None

    @property
    def next_part(self) -> int:
        return len(self.links) + FIRST_PART

    @property
    def records(self) -> int:
        return sum(link.records for link in self.links)


def land_window(hook: WebflowHook, plan: LandingPlan, log: Log) -> LandingResult:
    """Pull the window and land what its parts lack; pull it whole again if late events land mid-pull, or
    if another landing of the window created the part this one was writing (then this one compares its
    pull with that part, and usually finds nothing left to write)."""
    validate_file_format(plan.file_format)
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
            _count_landed(plan, result, time.monotonic() - began)
            return result


def _count_landed(plan: LandingPlan, result: LandingResult, seconds: float) -> None:
    """The landing's metrics: the window, its new events and bytes, how long it took and how late it came."""
    workspace = plan.query.workspace
    written = result.written
    metrics.count(metrics.WINDOWS_LANDED, workspace=workspace, outcome="unchanged" if written is None else "written")
    if written is not None:
        metrics.count(metrics.EVENTS_LANDED, written.records, workspace=workspace)
        metrics.count(metrics.BYTES_WRITTEN, written.size_bytes, workspace=workspace)
    metrics.time_taken(metrics.WINDOW_PULL, seconds)
    metrics.time_taken(metrics.LANDING_LAG, (datetime.now(timezone.utc) - plan.query.end).total_seconds())


def _land_once(hook: WebflowHook, plan: LandingPlan, log: Log) -> LandingResult:
    """Pull the window and land what the parts on record lack as the next part (the first, if none)."""
    chain = _read_chain(plan, log)
    if not chain.links and chain.orphan is None:
        return _land_first_part(hook, plan, chain, log)
    return _land_next_part(hook, plan, chain, log)


def _land_first_part(hook: WebflowHook, plan: LandingPlan, chain: _Chain, log: Log) -> LandingResult:
    """No part on record: the pull streams straight into part 1, as there is nothing to compare it with.

    The part is still an exclusive create, visible only once whole: a landing that raced this one to
    it makes this one fail with a conflict, and its retry compares with that part.
    """
    query = plan.query
    pulls: list[PullRecord] = []
    with open_part(chain.first, plan.file_format, plan.options) as out:
        pulled = 0
        for batch in _pull(hook, query, pulls):
            out.write(batch)
            pulled += len(batch.lines)
        # Before the data object is made visible: a look that fails leaves nothing at the final key.
        earliest_available = _earliest_available(hook, plan, pulled)
        pulled_at = datetime.now(timezone.utc)
        written = out.finish()
        landed = out.commit(_part_manifest(plan, chain, pulls, pulled_at, earliest_available, written, FIRST_PART))
    _warn_about_retention(
        coverage_of(query.start, query.end, earliest_available), earliest_available, written.records, log
    )
    log.info("Part 1 of the window holds the %d events pulled.", landed.records)
    return LandingResult(
        written=landed,
        part=FIRST_PART,
        window_records=landed.records,
        uri=landed.uri,
        manifest_uri=landed.manifest_uri,
        manifest=landed.manifest,
    )


def _land_next_part(hook: WebflowHook, plan: LandingPlan, chain: _Chain, log: Log) -> LandingResult:
    """Pull into a local spool, keep the events the parts on record lack, and land them as the next part."""
    query = plan.query
    with tempfile.TemporaryFile(prefix="webflow-audit-pull-") as pulled, tempfile.TemporaryFile() as fresh:
        pulls: list[PullRecord] = []
        pulled_records = 0
        for batch in _pull(hook, query, pulls):
            pulled.write(b"".join(batch.lines))
            pulled_records += len(batch.lines)
        earliest_available = _earliest_available(hook, plan, pulled_records)
        pulled_at = datetime.now(timezone.utc)

        def manifest_for(written: WrittenObject, part: int, adopted: bool = False) -> dict[str, Any]:
            return _part_manifest(plan, chain, pulls, pulled_at, earliest_available, written, part, adopted)

        unseen = chain.keys.copy()
        new_records, total = _keep_unseen(pulled, fresh, unseen, plan.file_format)
        gone = sum(unseen.values())
        if chain.orphan is not None:
            new_records -= _adopt_orphan(chain, fresh, plan, manifest_for, log)
        _warn_about_retention(coverage_of(query.start, query.end, earliest_available), earliest_available, total, log)
        if gone:
            log.warning(
                "%d of the %d events already landed for this window are no longer served by Webflow (retention, "
                "or a change on its side). They stay in the landed parts: an audit log only grows.",
                gone,
                chain.records,
            )
        if new_records == 0 and chain.links:
            return _nothing_new(chain, total, log)
        part_path = chain.first.parent / chain.place.part_name(chain.next_part)
        with open_part(part_path, plan.file_format, plan.options) as out:
            for batch in _batches(fresh, plan.file_format):
                out.write(batch)
            written = out.finish()
            landed = out.commit(manifest_for(written, chain.next_part))
    log.info(
        "Part %d of the window holds the %d events its %d earlier part(s) lacked (of %d pulled).",
        chain.next_part,
        landed.records,
        len(chain.links),
        total,
    )
    return LandingResult(
        written=landed,
        part=chain.next_part,
        window_records=chain.records + landed.records,
        uri=landed.uri,
        manifest_uri=landed.manifest_uri,
        manifest=landed.manifest,
    )


def _pull(hook: WebflowHook, query: WindowQuery, pulls: list[PullRecord]) -> Iterator[EventBatch]:
    """The window's events, one pull per event type asked for (one in all without a filter); each
    pull's record is appended to ``pulls`` as it starts, its progress filled in as it goes."""
    for event_type in list(query.event_types) if query.event_types else [None]:
        batches = hook.iter_audit_log_batches(query.workspace, query.start, query.end, event_type)
        pulls.append(PullRecord(event_type, batches.progress))
        yield from batches


def _earliest_available(hook: WebflowHook, plan: LandingPlan, pulled: int) -> datetime | None:
    """The retention horizon after the pull: a horizon that moved meanwhile only makes the claim more cautious."""
    if plan.horizon is not None:
        return plan.horizon.after_pull(plan.query.start, pulled)
    return hook.get_earliest_available(plan.query.workspace)


def _part_manifest(
    plan: LandingPlan,
    chain: _Chain,
    pulls: list[PullRecord],
    pulled_at: datetime,
    earliest_available: datetime | None,
    written: WrittenObject,
    part: int,
    adopted: bool = False,
) -> dict[str, Any]:
    """The manifest of one part, signed when there is a signing key."""
    query = plan.query
    manifest = build_manifest(
        workspace=query.workspace,
        workspace_identity=_workspace_identity(pulls),
        object_key=chain.place.key(part),
        start=query.start,
        end=query.end,
        event_types=query.event_types,
        pulls=pulls,
        written=written,
        task_instance=plan.task_instance,
        pulled_at=pulled_at,
        earliest_available=earliest_available,
        settle=plan.settle,
        part=part,
        previous=list(chain.links),
        adopted=adopted,
    )
    return plan.signer.sign(manifest) if plan.signer is not None else manifest


def _workspace_identity(pulls: list[PullRecord]) -> dict[str, Any] | None:
    """The workspace the pulled events name (each pull checked its own events against the one asked for)."""
    named = [pull.progress.workspace for pull in pulls if pull.progress.workspace is not None]
    if any(identity != named[0] for identity in named[1:]):
        raise WebflowPagingError(f"The pulls of one window name different workspaces ({named}); nothing was written.")
    return named[0] if named else None


def _read_chain(plan: LandingPlan, log: Log) -> _Chain:
    """The window's parts on record, judged by the chain judge; the landing refuses on the first flaw."""
    place = plan.place
    chain = _Chain(plan.object_path, place)
    folder = plan.object_path.parent
    verdict = read_chain(folder, place, plan.policy, stop_at_first=True, keys=chain.keys)
    for warning in verdict.warnings:
        log.warning("%s", warning)
    orphan = verdict.orphan
    if verdict.flaws and orphan is None:
        raise WebflowArchiveTamperedError(_refusal(plan, verdict.flaws[0]))
    for part in verdict.parts:
        chain.links.append(part.link())
        path = folder / place.part_name(part.number)
        chain.newest = (str(path), str(manifest_path_for(path)), part.manifest)
    if orphan is not None:
        path = folder / place.part_name(orphan)
        orphan_keys: Counter[bytes] = Counter()
        measure = measure_object(path, plan.file_format, orphan_keys)
        written = WrittenObject(str(path), plan.file_format, measure.records, measure.sha256, measure.size_bytes)
        chain.orphan = (path, written, orphan_keys)
    return chain


def _refusal(plan: LandingPlan, flaw: Flaw) -> str:
    metrics.count(metrics.EVIDENCE_REFUSED, kind=flaw.kind)
    return (
        f"The window at {plan.object_path} cannot be built on: {flaw.kind}: {flaw.detail}. Nothing was written; "
        "audit the range (python -m airflow_webflow_audit.audit) to see what else changed."
    )


def _keep_unseen(pulled: IO[bytes], fresh: IO[bytes], unseen: Counter[bytes], file_format: str) -> tuple[int, int]:
    """Copy the pulled events the parts do not hold to ``fresh``, using up ``unseen``; (copied, pulled)."""
    pulled.seek(0)
    if not +unseen:  # no earlier part (a first landing): every event is new, so copy, don't hash
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


def _adopt_orphan(chain: _Chain, fresh: IO[bytes], plan: LandingPlan, manifest_for: Any, log: Log) -> int:
    """Write the manifest of a data object whose landing stopped before it, if the pull vouches for it.

    Every event in it must be one this pull found and no earlier part holds; then it becomes the next
    part, and its events leave ``fresh``. Anything else means somebody else wrote that object.
    """
    if chain.orphan is None:
        return 0
    path, written, keys = chain.orphan
    remaining = keys.copy()
    with tempfile.TemporaryFile() as rest:
        _keep_unseen(fresh, rest, remaining, plan.file_format)
        if not sum(remaining.values()):
            fresh.seek(0)
            fresh.truncate()
            rest.seek(0)
            while block := rest.read(1 << 20):
                fresh.write(block)
    if sum(remaining.values()):
        raise WebflowArchiveTamperedError(
            f"{path} has no manifest, and {sum(remaining.values())} of its {written.records} events are not among "
            "the events Webflow serves for this window that earlier parts lack: no landing of this provider wrote "
            "it. Nothing was written; inspect it, and remove it if the bucket allows."
        )
    manifest = manifest_for(written, chain.next_part, adopted=True)
    body = encode_manifest(manifest)
    create_object(manifest_path_for(path), body, plan.options)
    log.warning(
        "%s had no manifest (its landing stopped in between); its %d events are all in this pull and in no earlier "
        "part, so its manifest is written now (part %d, adopted).",
        path,
        written.records,
        chain.next_part,
    )
    chain.links.append(PreviousPart(path.name, written.sha256, written.records, hashlib.sha256(body).hexdigest()))
    chain.newest = (str(path), str(manifest_path_for(path)), manifest)
    chain.orphan = None
    return written.records


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


def _nothing_new(chain: _Chain, total: int, log: Log) -> LandingResult:
    uri, manifest_uri, manifest = chain.newest or ("", "", {})
    log.info(
        "The window's %d landed part(s) already hold every one of the %d events pulled: nothing was written.",
        len(chain.links),
        total,
    )
    return LandingResult(
        written=None,
        part=len(chain.links),
        window_records=chain.records,
        uri=uri,
        manifest_uri=manifest_uri,
        manifest=manifest,
    )


def _warn_about_retention(coverage: str, earliest_available: datetime | None, pulled: int, log: Log) -> None:
    if coverage == COVERAGE_COMPLETE:
        return
    where = "ends at or before" if coverage == COVERAGE_BEFORE else "starts before"
    log.warning(
        "The window %s the oldest event Webflow still serves for this workspace (%s): events older than "
        "the API's retention are gone from it, so %d events cannot be shown to be all there were. The "
        "manifest says coverage=%s; use an earlier landing of this window, if there is one, as the record.",
        where,
        None if earliest_available is None else earliest_available.isoformat(),
        pulled,
        coverage,
    )

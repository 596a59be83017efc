"""Landing one window: the hook's pull -> what the window's landed parts lack -> a new part, or nothing.

The one way a window reaches storage, for the landing operator and for reconcile. A window is never
replaced: the first landing writes part 1 with every event; a later one (a rerun, a reconcile)
compares its pull with the parts already landed and writes a new part holding only the events they
lack, or nothing at all. Each part's manifest names the parts before it and is signed when a signing
key is configured. Before building on the parts on record, the landing checks each against its
manifest and their chain: it never adds to a window it cannot trust.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import IO, Any

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.exceptions import WebflowArchiveTamperedError, WebflowWindowChangedError
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.jsonlines import EventBatch, loads
from airflow_webflow_audit.landing.formats import event_key, validate_file_format
from airflow_webflow_audit.landing.layout import FIRST_PART, manifest_path_for, parse_object_name, part_sibling
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
from airflow_webflow_audit.landing.reader import PartOnRecord, measure_object, window_parts_on_record
from airflow_webflow_audit.landing.writer import LandedPart, WriteOptions, create_object, open_part
from airflow_webflow_audit.logs import Log
from airflow_webflow_audit.signing import INVALID, UNKNOWN_KEY, UNSIGNED, ManifestSigner, ManifestVerifier
from airflow_webflow_audit.windows import WindowQuery

#: Events handed to the writer at a time when a new part is written from the spooled pull.
WRITE_BATCH_EVENTS = 1000
#: Bytes copied at a time from the pull's spool.
SPOOL_BLOCK_BYTES = 1 << 20


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
    signer: ManifestSigner | None = None


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
    """Pull the window and land what its parts lack; pull it whole again if late events land mid-pull."""
    validate_file_format(plan.file_format)
    attempt = 1
    while True:
        try:
            return _land_once(hook, plan, log)
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
        for batch in _pull(hook, query, pulls):
            out.write(batch)
        # After the pull: a horizon that moved meanwhile only makes the claim more cautious.
        earliest_available = hook.get_earliest_available(query.workspace)
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
        for batch in _pull(hook, query, pulls):
            pulled.write(b"".join(batch.lines))
        # After the pull: a horizon that moved meanwhile only makes the claim more cautious.
        earliest_available = hook.get_earliest_available(query.workspace)
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
        part_path = chain.first if chain.next_part == FIRST_PART else _part_path(chain.first, chain.next_part)
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


def _read_chain(plan: LandingPlan, log: Log) -> _Chain:
    """The window's parts on record, each checked against its manifest and the links before it."""
    chain = _Chain(plan.object_path)
    verifier = ManifestVerifier([plan.signer.private_key.public_key()]) if plan.signer is not None else None
    records = window_parts_on_record(plan.object_path)
    for position, part in enumerate(records, start=FIRST_PART):
        if part.number != position:
            raise WebflowArchiveTamperedError(
                f"Part {position} of the window at {plan.object_path} is missing while part {part.number} exists: "
                "a landed part was deleted. Nothing was written."
            )
        if part.manifest is None and part.manifest_bytes is not None:
            raise WebflowArchiveTamperedError(
                f"The manifest of {part.path} is not a JSON object: the archive was changed. Nothing was written."
            )
        if part.manifest is None:
            if part is not records[-1] or not part.has_object:
                raise WebflowArchiveTamperedError(
                    f"{part.path} has no manifest (or an unreadable one), but later parts exist. Nothing was written."
                )
            keys: Counter[bytes] = Counter()
            measure = measure_object(part.path, plan.file_format, keys)
            written = WrittenObject(
                str(part.path), plan.file_format, measure.records, measure.sha256, measure.size_bytes
            )
            chain.orphan = (part.path, written, keys)
            continue
        chain.keys.update(_checked_part_keys(part, chain, plan))
        _check_signature(verifier, part, log)
        manifest_sha256 = hashlib.sha256(part.manifest_bytes or b"").hexdigest()
        chain.links.append(
            PreviousPart(part.path.name, part.manifest["object"]["sha256"], part.manifest["records"], manifest_sha256)
        )
        chain.newest = (str(part.path), str(manifest_path_for(part.path)), part.manifest)
    return chain


def _checked_part_keys(part: PartOnRecord, chain: _Chain, plan: LandingPlan) -> Counter[bytes]:
    manifest = part.manifest or {}
    if not part.has_object:
        raise WebflowArchiveTamperedError(
            f"The data object of {part.path} is gone but its manifest is there: the archive was changed. "
            "Nothing was written."
        )
    claimed = [PreviousPart(**link) for link in (manifest.get("part") or {}).get("previous", [])]
    if manifest.get("manifest_format_version", 0) >= 3 and claimed != chain.links:
        raise WebflowArchiveTamperedError(
            f"The manifest of {part.path} names other parts before it than those on record: the archive was "
            "changed. Nothing was written."
        )
    keys: Counter[bytes] = Counter()
    measure = measure_object(part.path, plan.file_format, keys)
    expected = manifest.get("object") or {}
    if measure.sha256 != expected.get("sha256") or measure.records != manifest.get("records"):
        raise WebflowArchiveTamperedError(
            f"{part.path} does not match its manifest (sha256 {measure.sha256} vs {expected.get('sha256')}, "
            f"{measure.records} vs {manifest.get('records')} events): it was changed after landing. Nothing was "
            "written; audit the range to see what else changed."
        )
    return keys


def _check_signature(verifier: ManifestVerifier | None, part: PartOnRecord, log: Log) -> None:
    if verifier is None or part.manifest is None:
        return
    verdict = verifier.verify(part.manifest)
    if verdict.status == INVALID:
        raise WebflowArchiveTamperedError(f"The manifest of {part.path}: {verdict.detail}. Nothing was written.")
    if verdict.status in (UNSIGNED, UNKNOWN_KEY):
        log.warning("The manifest of %s: %s; the audit decides whether that is allowed.", part.path, verdict.detail)


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
        event = loads(line)[0] if file_format != "jsonl.gz" else None
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
    parse = file_format != "jsonl.gz"
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


def _part_path(first: ObjectStoragePath, number: int) -> ObjectStoragePath:
    name = parse_object_name(first.name)
    if name is None:
        raise ValueError(f"{first} is not the name of a window's data object")
    return part_sibling(first, name, number)


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

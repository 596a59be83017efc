"""Auditing a date range from the bucket alone: every window's parts against their manifests, the chain
the parts form, their signatures, and the windows against the range (no gap, no overlap, no stale
leftovers). Never writes to the destination.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.audit.report import (
    BAD_SIGNATURE,
    BROKEN_CHAIN,
    CORRUPT,
    GAP,
    MISSING_MANIFEST,
    MISSING_OBJECT,
    MISSING_PART,
    OK,
    OVERLAP,
    PARTIAL_LEFTOVER,
    UNSIGNED,
    AuditReport,
    Problem,
    WindowReport,
)
from airflow_webflow_audit.exceptions import WebflowLandingError
from airflow_webflow_audit.jsonlines import json_object
from airflow_webflow_audit.landing.layout import (
    FIRST_PART,
    MANIFEST_SUFFIX,
    ObjectName,
    object_name,
    parse_object_name,
    workspace_root,
)
from airflow_webflow_audit.landing.manifest import COVERAGE_COMPLETE
from airflow_webflow_audit.landing.reader import json_object_of, measure_object, read_bytes_at
from airflow_webflow_audit.signing import INVALID, UNKNOWN_KEY, VALID, ManifestVerifier

log = logging.getLogger(__name__)

#: A hidden ``.partial`` object older than this is a leftover of a killed landing, not one in progress.
PARTIAL_LEFTOVER_AGE = timedelta(hours=1)
#: Day folders before the range's first day that are listed too, for windows that start before the
#: range and reach into it (a window lives in the folder of its start day).
LOOKBEHIND_DAYS = 1


@dataclass(frozen=True)
class SignaturePolicy:
    """How an audit treats manifest signatures."""

    #: The public keys signatures are checked with; None: signatures are not checked (a warning says so).
    verifier: ManifestVerifier | None = None
    #: Windows ending at or before this may be unsigned (landed before signing was turned on): warnings.
    unsigned_before: datetime | None = None
    #: An unsigned part after ``unsigned_before`` is a problem (True) or a warning (False).
    required: bool = True


@dataclass
class _Found:
    """The keys of one window's parts found in a day folder, by part number (either key may be missing)."""

    name: ObjectName
    objects: dict[int, str] = field(default_factory=dict)
    manifests: dict[int, str] = field(default_factory=dict)

    @property
    def numbers(self) -> list[int]:
        return sorted(set(self.objects) | set(self.manifests))


def audit_bucket(
    destination: ObjectStoragePath,
    workspace: str,
    start: datetime,
    end: datetime,
    *,
    strict: bool = False,
    now: datetime | None = None,
    signatures: SignaturePolicy | None = None,
) -> AuditReport:
    """Check every landed window of ``workspace`` that meets ``[start, end)``, and the range's tiling."""
    report = AuditReport(str(destination), workspace, start, end, strict=strict)
    policy = signatures or SignaturePolicy()
    report.signatures_checked = policy.verifier is not None
    now = now or datetime.now(timezone.utc)
    root = workspace_root(destination, workspace)
    for folder in _day_folders(root, start, end):
        for found in _windows_in(folder, root, report, now):
            if found.name.end <= start or found.name.start >= end:
                continue
            report.windows.append(_check_window(root, found, report, policy))
    report.windows.sort(key=lambda w: (w.start, w.end, w.key))
    _check_tiling(report)
    if policy.verifier is None and report.windows:
        report.warnings.append(
            "signatures not checked: no public key was given (--public-key) and no signing connection was found."
        )
    return report


def _day_folders(root: ObjectStoragePath, start: datetime, end: datetime) -> Iterator[ObjectStoragePath]:
    day = start.date() - timedelta(days=LOOKBEHIND_DAYS)
    last = (end - timedelta(microseconds=1)).date()
    while day <= last:
        yield root / f"dt={day.isoformat()}"
        day += timedelta(days=1)


def _list(folder: ObjectStoragePath) -> list[str]:
    try:
        return [path.rsplit("/", 1)[-1] for path in folder.fs.ls(folder.path, detail=False)]
    except FileNotFoundError:
        return []
    except Exception as exc:
        raise WebflowLandingError(f"Listing {folder} failed ({type(exc).__name__}: {exc}).") from exc


def _windows_in(
    folder: ObjectStoragePath, root: ObjectStoragePath, report: AuditReport, now: datetime
) -> Iterator[_Found]:
    prefix = _relative(folder, root)
    windows: dict[tuple[Any, ...], _Found] = {}
    for name in sorted(set(_list(folder))):
        if name.startswith(".") and name.endswith(".partial"):
            _check_partial(folder / name, f"{prefix}/{name}", report, now)
            continue
        is_manifest = name.endswith(MANIFEST_SUFFIX)
        parsed = parse_object_name(name.removesuffix(MANIFEST_SUFFIX))
        if parsed is None:
            continue
        found = windows.setdefault(parsed.window, _Found(parsed._replace(part=FIRST_PART)))
        (found.manifests if is_manifest else found.objects)[parsed.part] = f"{prefix}/{name}"
    yield from windows.values()


def _relative(path: ObjectStoragePath, root: ObjectStoragePath) -> str:
    # Keys are shown from the workspace folder's parent: workspace=<ws>/dt=<day>/<name>.
    return f"{root.name}/{path.path[len(root.path.rstrip('/')) + 1 :]}"


def _check_partial(path: ObjectStoragePath, key: str, report: AuditReport, now: datetime) -> None:
    try:
        modified = path.fs.modified(path.path)
    except Exception as exc:
        raise WebflowLandingError(f"Reading the age of {path} failed ({type(exc).__name__}: {exc}).") from exc
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=timezone.utc)
    age = now - modified
    if age < PARTIAL_LEFTOVER_AGE:
        return  # a landing in progress
    inner = parse_object_name(key.rsplit("/", 1)[-1][1:].rsplit(".", 2)[0])
    report.problems.append(
        Problem(
            PARTIAL_LEFTOVER,
            inner.start if inner else None,
            inner.end if inner else None,
            key,
            f"a temporary object {age.total_seconds() / 3600:.1f} h old: a landing was killed here. Delete it "
            "(it was never the window's object), and land the window again if it has no object.",
        )
    )


def _check_window(root: ObjectStoragePath, found: _Found, report: AuditReport, policy: SignaturePolicy) -> WindowReport:
    name = found.name
    folder_key = (found.objects.get(FIRST_PART) or found.manifests.get(FIRST_PART) or "").rsplit("/", 1)[0]
    if not folder_key:
        any_key = next(iter(found.objects.values()), None) or next(iter(found.manifests.values()))
        folder_key = any_key.rsplit("/", 1)[0]
    key = f"{folder_key}/{object_name(name.start, name.end, name.file_format, name.event_types)}"
    window = WindowReport(name.start, name.end, key, None, event_types=name.event_types, file_format=name.file_format)
    window.line_keys = Counter()
    records = 0
    links: list[dict[str, Any]] = []
    newest: dict[str, Any] | None = None
    numbers = found.numbers
    window.parts = numbers[-1]
    for number in range(FIRST_PART, numbers[-1] + 1):
        object_key, manifest_key = found.objects.get(number), found.manifests.get(number)
        part_key = object_key or (manifest_key or "").removesuffix(MANIFEST_SUFFIX)
        if object_key is None and manifest_key is None:
            report.flag(
                window, MISSING_PART, f"part {number} of {numbers[-1]} is gone: both its object and its manifest"
            )
            return _unverified(window)
        if manifest_key is None:
            later = " (later parts exist)" if number < numbers[-1] else ": its landing never finished"
            report.flag(window, MISSING_MANIFEST, f"part {number} ({part_key}) has no manifest{later}")
            return _unverified(window)
        manifest_bytes = read_bytes_at(root.parent / manifest_key)
        manifest = json_object_of(manifest_bytes)
        if manifest is None:
            report.flag(window, CORRUPT, f"the manifest of part {number} is not readable JSON")
            return _unverified(window)
        if object_key is None:
            report.flag(
                window,
                MISSING_OBJECT,
                f"the manifest of part {number} claims {manifest.get('records')} events, but its object is gone",
            )
            return _unverified(window)
        problem = _check_part(root, part_key, number, name, manifest, links, window)
        if problem is not None:
            report.flag(window, *problem)
            return _unverified(window)
        _check_signature(window, number, manifest, report, policy)
        records += manifest["records"]
        links.append(
            {
                "key": part_key.rsplit("/", 1)[-1],
                "sha256": json_object(manifest.get("object")).get("sha256"),
                "records": manifest["records"],
                "manifest_sha256": hashlib.sha256(manifest_bytes or b"").hexdigest(),
            }
        )
        newest = manifest
    newest = newest or {}
    window.records = records
    window.coverage = newest.get("coverage", COVERAGE_COMPLETE)
    window.api_total = newest.get("api_total") if isinstance(newest.get("api_total"), int) else None
    if name.event_types:
        report.warnings.append(
            f"{key}: filtered by event type ({','.join(name.event_types)}); listed, not counted toward the range."
        )
    if window.coverage != COVERAGE_COMPLETE:
        report.warnings.append(
            f"{key}: coverage {window.coverage} (oldest event the API served: {newest.get('earliest_available')}); "
            "not proof that the window is complete, so its time counts as a gap."
        )
    return window


def _check_part(
    root: ObjectStoragePath,
    part_key: str,
    number: int,
    name: ObjectName,
    manifest: dict[str, Any],
    links: list[dict[str, Any]],
    window: WindowReport,
) -> tuple[str, str] | None:
    """``(status, detail)`` of what is wrong with one part, or None; its events' keys join the window's."""
    keys: Counter[bytes] = Counter()
    try:
        measured = measure_object(root.parent / part_key, name.file_format, keys)
    except WebflowLandingError as exc:
        return CORRUPT, f"part {number}: {exc}"
    expected = json_object(manifest.get("object"))
    mismatches = [
        f"{what} {actual} vs {wanted} in the manifest"
        for what, actual, wanted in (
            ("records", measured.records, manifest.get("records")),
            ("size_bytes", measured.size_bytes, expected.get("size_bytes")),
            ("sha256", measured.sha256, expected.get("sha256")),
        )
        if actual != wanted
    ]
    window_claim = json_object(manifest.get("window"))
    if window_claim.get("start") != name.start.isoformat() or window_claim.get("end") != name.end.isoformat():
        mismatches.append(
            f"the manifest describes another window ({window_claim.get('start')}, {window_claim.get('end')})"
        )
    if mismatches:
        return CORRUPT, f"part {number}: " + "; ".join(mismatches) + ": changed after landing"
    claim = json_object(manifest.get("part"))
    if manifest.get("manifest_format_version", 0) >= 3:
        if claim.get("number") != number:
            return BROKEN_CHAIN, f"part {number}'s manifest says it is part {claim.get('number')}"
        if claim.get("previous") != links:
            return BROKEN_CHAIN, (
                f"part {number}'s manifest names other parts before it than those in the bucket: a part before it "
                "was replaced or its manifest changed"
            )
    elif number != FIRST_PART:
        return BROKEN_CHAIN, f"part {number} has a manifest of format {manifest.get('manifest_format_version')}"
    if window.line_keys is not None:
        window.line_keys.update(keys)
    return None


def _check_signature(
    window: WindowReport, number: int, manifest: dict[str, Any], report: AuditReport, policy: SignaturePolicy
) -> None:
    if policy.verifier is None:
        return
    verdict = policy.verifier.verify(manifest)
    if verdict.status == VALID:
        window.signed_parts += 1
        return
    if verdict.status in (INVALID, UNKNOWN_KEY):
        report.flag(window, BAD_SIGNATURE, f"part {number}: {verdict.detail}")
        return
    cutoff = policy.unsigned_before
    if cutoff is not None and window.end <= cutoff:
        report.warnings.append(
            f"{window.key}: part {number} is unsigned (accepted: the window ends by --unsigned-before "
            f"{cutoff.isoformat()})"
        )
        return
    if not policy.required:
        report.warnings.append(f"{window.key}: part {number} is unsigned")
        return
    report.flag(
        window,
        UNSIGNED,
        f"part {number} is unsigned, where a signature is required (a stripped signature looks like this; windows "
        "landed before signing was turned on need --unsigned-before)",
    )


def _unverified(window: WindowReport) -> WindowReport:
    window.line_keys = None  # not a verified window: nothing to recount
    return window


def _check_tiling(report: AuditReport) -> None:
    """Whole windows must cover ``[start, end)`` once: report the time none covers, and overlaps."""
    covered_until = report.start
    previous_end: datetime | None = None
    for window in report.windows:
        if window.event_types is not None or window.coverage not in (None, COVERAGE_COMPLETE):
            continue
        if previous_end is not None and window.start < previous_end:
            if window.status == OK:
                report.flag(window, OVERLAP, f"overlaps the window before it, which reaches {previous_end.isoformat()}")
        elif window.start > covered_until:
            _gap(report, covered_until, window.start)
        covered_until = max(covered_until, window.end)
        previous_end = window.end if previous_end is None else max(previous_end, window.end)
    if covered_until < report.end:
        _gap(report, covered_until, report.end)


def _gap(report: AuditReport, start: datetime, end: datetime) -> None:
    report.problems.append(
        Problem(GAP, start, end, None, "no whole window with a complete coverage is landed for this time")
    )

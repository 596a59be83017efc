"""Auditing a date range from the bucket alone: every window's object against its manifest, and the
windows against the range (no gap, no overlap, no stale leftovers). Never writes to the destination.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.audit.report import (
    CORRUPT,
    GAP,
    MISSING_MANIFEST,
    MISSING_OBJECT,
    OK,
    OVERLAP,
    PARTIAL_LEFTOVER,
    AuditReport,
    Problem,
    WindowReport,
)
from airflow_webflow_audit.exceptions import WebflowLandingError
from airflow_webflow_audit.jsonlines import json_object
from airflow_webflow_audit.landing.layout import MANIFEST_SUFFIX, ObjectName, parse_object_name, workspace_root
from airflow_webflow_audit.landing.manifest import COVERAGE_COMPLETE
from airflow_webflow_audit.landing.reader import measure_object, read_manifest_at

log = logging.getLogger(__name__)

#: A hidden ``.partial`` object older than this is a leftover of a killed landing, not one in progress.
PARTIAL_LEFTOVER_AGE = timedelta(hours=1)
#: Day folders before the range's first day that are listed too, for windows that start before the
#: range and reach into it (a window lives in the folder of its start day).
LOOKBEHIND_DAYS = 1


@dataclass(frozen=True)
class _Found:
    """The keys of one window found in a day folder (either may be missing)."""

    name: ObjectName
    object_key: str | None
    manifest_key: str | None


def audit_bucket(
    destination: ObjectStoragePath,
    workspace: str,
    start: datetime,
    end: datetime,
    *,
    strict: bool = False,
    now: datetime | None = None,
) -> AuditReport:
    """Check every landed window of ``workspace`` that meets ``[start, end)``, and the range's tiling."""
    report = AuditReport(str(destination), workspace, start, end, strict=strict)
    now = now or datetime.now(timezone.utc)
    root = workspace_root(destination, workspace)
    for folder in _day_folders(root, start, end):
        for found in _windows_in(folder, root, report, now):
            if found.name.end <= start or found.name.start >= end:
                continue
            report.windows.append(_check_window(root, found, report))
    report.windows.sort(key=lambda w: (w.start, w.end, w.key))
    _check_tiling(report)
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
    names = set(_list(folder))
    prefix = _relative(folder, root)
    windows: dict[str, _Found] = {}
    for name in sorted(names):
        if name.startswith(".") and name.endswith(".partial"):
            _check_partial(folder / name, f"{prefix}/{name}", report, now)
            continue
        object_name = name.removesuffix(MANIFEST_SUFFIX)
        parsed = parse_object_name(object_name)
        if parsed is None or object_name in windows:
            continue
        windows[object_name] = _Found(
            parsed,
            f"{prefix}/{object_name}" if object_name in names else None,
            f"{prefix}/{object_name}{MANIFEST_SUFFIX}" if object_name + MANIFEST_SUFFIX in names else None,
        )
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


def _check_window(root: ObjectStoragePath, found: _Found, report: AuditReport) -> WindowReport:
    name = found.name
    key = found.object_key or (found.manifest_key or "").removesuffix(MANIFEST_SUFFIX)
    window = WindowReport(name.start, name.end, key, None, event_types=name.event_types, file_format=name.file_format)
    if found.manifest_key is None:
        return report.flag(window, MISSING_MANIFEST, "the object has no manifest: its landing never finished")
    manifest = read_manifest_at(root.parent / found.manifest_key)
    if manifest is None:
        return report.flag(window, CORRUPT, "the manifest is not readable JSON")
    window.coverage = manifest.get("coverage", COVERAGE_COMPLETE)
    window.api_total = manifest.get("api_total") if isinstance(manifest.get("api_total"), int) else None
    claimed = manifest.get("records")
    window.records = claimed if isinstance(claimed, int) else None
    if found.object_key is None:
        return report.flag(window, MISSING_OBJECT, f"the manifest claims {claimed} events, but the object is gone")
    try:
        measured = measure_object(root.parent / found.object_key, name.file_format)
    except WebflowLandingError as exc:
        return report.flag(window, CORRUPT, str(exc))
    window.records = measured.records
    window.lines_sha256 = measured.lines_sha256
    expected = json_object(manifest.get("object"))
    mismatches = [
        f"{what} {actual} vs {wanted} in the manifest"
        for what, actual, wanted in (
            ("records", measured.records, claimed),
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
        return report.flag(window, CORRUPT, "; ".join(mismatches) + ": changed after landing")
    if name.event_types:
        report.warnings.append(
            f"{key}: filtered by event type ({','.join(name.event_types)}); listed, not counted toward the range."
        )
    if window.coverage != COVERAGE_COMPLETE:
        report.warnings.append(
            f"{key}: coverage {window.coverage} (oldest event the API served: {manifest.get('earliest_available')}); "
            "not proof that the window is complete, so its time counts as a gap."
        )
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

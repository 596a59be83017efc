"""Auditing a date range from the bucket alone: every window that meets the range judged by the chain
judge (parts, links, objects, signatures, and what binds each manifest to its place), anything under
the workspace's folder that the layout does not own, and the windows against the range (no gap, no
overlap, no stale leftovers). Never writes to the destination.

Windows live in the folder of their start day, so a window that reaches into the range from before
it lies in an earlier folder, however long ago it starts. One listing of the workspace's folder says
which day folders exist; those of the range are read, and every earlier one is listed (a listing, no
reads, unless one of its windows reaches into the range: then it is judged, and what the layout does
not own beside it is named). Windows that meet the range must not overlap any other whole window
either, inside the range or out, so the folders after the range are listed up to the latest end of
a window that meets it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit import __version__
from airflow_webflow_audit.audit.report import (
    GAP,
    OK,
    OVERLAP,
    PARTIAL_LEFTOVER,
    UNEXPECTED_OBJECT,
    AuditReport,
    Problem,
    WindowReport,
)
from airflow_webflow_audit.landing.horizon import COVERAGE_COMPLETE
from airflow_webflow_audit.landing.layout import (
    FINDINGS_FILE,
    FIRST_PART,
    MANIFEST_SUFFIX,
    MONITORING_FOLDER,
    TEMPORARY,
    UNKNOWN,
    ObjectName,
    Place,
    classify_name,
    day_folder_name,
    parse_day_folder,
    parse_object_name,
    read_object_name,
    workspace_root,
)
from airflow_webflow_audit.landing.reader import read_chain
from airflow_webflow_audit.landing.storage import DIRECTORY, Entry, backend_of, list_folder
from airflow_webflow_audit.signing import SignaturePolicy

log = logging.getLogger(__name__)

#: A hidden ``.partial`` object older than this is a leftover of a killed landing, not one in progress.
PARTIAL_LEFTOVER_AGE = timedelta(hours=1)


def audit_bucket(
    destination: ObjectStoragePath,
    workspace: str,
    start: datetime,
    end: datetime,
    *,
    strict: bool = False,
    now: datetime | None = None,
    signatures: SignaturePolicy | None = None,
    keep_event_keys: bool = False,
) -> AuditReport:
    """Check every landed window of ``workspace`` that meets ``[start, end)``, and the range's tiling.

    ``keep_event_keys``: keep each verified window's event keys, for a recount to compare with the API
    (memory grows with the range's events); a reader of the windows needs only the verdicts.
    """
    report = AuditReport(str(destination), workspace, start, end, strict=strict)
    report.audited_at = (now or datetime.now(timezone.utc)).replace(microsecond=0)
    report.package_version = __version__
    policy = signatures or SignaturePolicy()
    report.signatures_checked = policy.verifier is not None
    report.keys = [
        {
            "name": key.name,
            "fingerprint": key.fingerprint,
            "algorithm": key.algorithm,
            "not_after": None if key.not_after is None else key.not_after.isoformat(),
        }
        for key in (policy.verifier.keys if policy.verifier is not None else [])
    ]
    scan = _Scan(workspace_root(destination, workspace), workspace, report, policy, now, keep_event_keys)
    days = scan.day_folders()
    first, last = _utc_day(start), _utc_day(end - timedelta(microseconds=1))
    for day in sorted(d for d in days if d <= last):
        scan.folder(day, in_range=day >= first)
    # Windows that reach past the range's end overlap any window landed before they end.
    reach = max((w.end for w in report.windows), default=end)
    for day in sorted(d for d in days if last < d and datetime.combine(d, time(), timezone.utc) < reach):
        scan.folder(day, in_range=False)
    report.windows.sort(key=lambda w: (w.start, w.end, w.key))
    _check_tiling(report)
    _check_neighbours(report, scan.neighbours)
    # Warnings about how windows were judged belong to those windows too, so the calendar's cells say what the
    # verdict says (under --strict, a warning is a problem).
    if scan.unbound:
        _warn_windows(
            report,
            f"{len(scan.unbound)} part manifest(s) were written by earlier versions and cannot state all of their "
            f"place ({scan.unbound[0]}); they are bound by what they do state (workspace, window, filter, part, "
            "object name).",
            [w for w in report.windows if w.chain is not None and w.chain.unbound],
        )
    if policy.verifier is None and report.windows:
        _warn_windows(
            report,
            "signatures not checked: no public key was given (--public-key) and no signing connection was found.",
            report.windows,
        )
    retired = policy.verifier is not None and any(key.not_after for key in policy.verifier.keys)
    if retired and report.windows and not backend_of(destination).trusted_creation_time:
        _warn_windows(
            report,
            "retired keys are checked against the files' modification times, which anyone who can write this "
            "folder can set: on a local folder the retirement check is only as strong as its permissions.",
            report.windows,
        )
    return report


def _warn_windows(report: AuditReport, text: str, windows: Sequence[WindowReport]) -> None:
    """One warning of the range that holds for each of ``windows``: listed once, and on each window."""
    report.warnings.append(text)
    for window in windows:
        window.warnings.append(text)


class _Scan:
    """One audit's walk through the workspace's folder."""

    def __init__(
        self,
        root: ObjectStoragePath,
        workspace: str,
        report: AuditReport,
        policy: SignaturePolicy,
        now: datetime | None,
        keep_event_keys: bool,
    ) -> None:
        self.root = root
        self.workspace = workspace
        self.report = report
        self.policy = policy
        self.now = now or datetime.now(timezone.utc)
        self.unbound: list[str] = []
        self.keep_event_keys = keep_event_keys
        #: Whole windows outside the range (by name, not judged) in the folders read: ``(name, key)``.
        self.neighbours: list[tuple[ObjectName, str]] = []

    def day_folders(self) -> set[date]:
        """The days that have a folder; anything else in the workspace's folder is a problem."""
        days = set()
        for entry in list_folder(self.root):
            day = parse_day_folder(entry.name) if entry.kind == DIRECTORY else None
            if day is not None:
                days.add(day)
            elif not (entry.kind == DIRECTORY and entry.name == MONITORING_FOLDER):
                self.report.problems.append(
                    Problem(
                        UNEXPECTED_OBJECT,
                        None,
                        None,
                        f"{self.root.name}/{entry.name}",
                        "not a name this provider writes in a workspace's folder (only dt=YYYY-MM-DD/ day folders "
                        f"and {MONITORING_FOLDER}/): readers that glob the folder would count what it holds. Move it "
                        "out of the archive.",
                    )
                )
        return days

    def folder(self, day: date, *, in_range: bool) -> None:
        """Judge the windows of one day folder that meet the range, and name what the layout does not own there
        when the folder's day is in the range or one of its windows reaches into it. The folder's other whole
        windows are kept as neighbours: a window that meets the range must not overlap them either."""
        folder = self.root / day_folder_name(day)
        entries = list_folder(folder)
        windows: dict[tuple[object, ...], ObjectName] = {}
        strays = []
        for entry in entries:
            kind, parsed = classify_name(entry.name, day)
            key = f"{self.root.name}/{day_folder_name(day)}/{entry.name}"
            if kind == UNKNOWN:
                strays.append((entry, key))
            elif kind == TEMPORARY and parsed is not None:
                self._check_partial(entry, key, parsed)
            elif kind != FINDINGS_FILE and parsed is not None:
                windows.setdefault(parsed.window, parsed._replace(part=FIRST_PART))
        report = self.report
        meeting = [name for name in windows.values() if name.end > report.start and name.start < report.end]
        if in_range or meeting:
            for entry, key in strays:
                self._unexpected(entry, key, day)
        for name in meeting:
            report.windows.append(self._check_window(folder, entries, Place(self.workspace, name)))
        self.neighbours.extend(
            (name, Place(self.workspace, name).key(FIRST_PART))
            for name in windows.values()
            if name not in meeting and name.event_types is None
        )

    def _unexpected(self, entry: Entry, key: str, day: date) -> None:
        base = entry.name.removesuffix(MANIFEST_SUFFIX)
        parsed = parse_object_name(base)
        imitated = read_object_name(base)
        if parsed is not None:
            why = (
                f"named like a part of a window that starts on {_utc_day(parsed.start)}, but it lies in the folder "
                f"of {day}"
            )
        elif imitated is not None:
            spelled = imitated.spelled() + entry.name[len(base) :]
            why = f"another spelling of {spelled}, which is the only name the layout gives that part"
        elif entry.kind == DIRECTORY:
            why = "a folder inside a day folder, which holds no folders"
        else:
            why = "not a name this provider writes"
        start = datetime.combine(day, time(), timezone.utc)
        self.report.problems.append(
            Problem(
                UNEXPECTED_OBJECT,
                start,
                start + timedelta(days=1),
                key,
                f"{why}: readers that glob the folder would count it. Move it out of the archive.",
            )
        )

    def _check_partial(self, entry: Entry, key: str, inner: ObjectName) -> None:
        report = self.report
        if inner.end <= report.start or inner.start >= report.end:
            return
        modified = entry.modified or entry.created
        age = self.now - modified if modified is not None else PARTIAL_LEFTOVER_AGE
        if age < PARTIAL_LEFTOVER_AGE:
            return  # a landing in progress
        report.problems.append(
            Problem(
                PARTIAL_LEFTOVER,
                inner.start,
                inner.end,
                key,
                f"a temporary object {age.total_seconds() / 3600:.1f} h old: a landing was killed here. Delete it "
                "(it was never the window's object), and land the window again if it has no object.",
            )
        )

    def _check_window(self, folder: ObjectStoragePath, entries: Sequence[Entry], place: Place) -> WindowReport:
        report = self.report
        name = place.name
        verdict = read_chain(folder, place, self.policy, entries=entries, with_keys=self.keep_event_keys)
        key = place.key(FIRST_PART)
        window = WindowReport(
            name.start, name.end, key, None, event_types=name.event_types, file_format=name.file_format
        )
        window.chain = verdict
        window.parts = verdict.newest_number
        for warning in verdict.warnings:
            report.warn(warning, window)
        self.unbound.extend(verdict.unbound)
        for flaw in verdict.flaws:
            report.flag(window, flaw.kind, flaw.detail)
        if verdict.flaws:
            return window  # not verified: nothing to count or recount
        newest = verdict.parts[-1].manifest
        window.records = verdict.records
        window.signed_parts = verdict.signed_parts
        window.coverage = newest.get("coverage", COVERAGE_COMPLETE)
        window.api_total = newest.get("api_total") if isinstance(newest.get("api_total"), int) else None
        window.line_keys = verdict.event_keys() if self.keep_event_keys else None
        if name.event_types:
            report.warn(
                f"{key}: filtered by event type ({','.join(name.event_types)}); listed, not counted toward the range.",
                window,
            )
        if window.coverage != COVERAGE_COMPLETE:
            report.warn(
                f"{key}: coverage {window.coverage} (oldest event the API served: {newest.get('earliest_available')});"
                " not proof that the window is complete, so its time counts as a gap.",
                window,
            )
        return window


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(timezone.utc).date()


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


def _check_neighbours(report: AuditReport, neighbours: Sequence[tuple[ObjectName, str]]) -> None:
    """A whole window meeting the range must not overlap a whole window outside it either: a reader of the
    archive would count their shared time's events twice."""
    for window in report.windows:
        if window.event_types is not None or window.status != OK:
            continue
        for name, key in neighbours:
            if name.start < window.end and window.start < name.end:
                report.flag(
                    window,
                    OVERLAP,
                    f"overlaps {key} ([{name.start.isoformat()}, {name.end.isoformat()})), outside the range; "
                    "readers of the archive would count the time they share twice",
                )
                break


def _gap(report: AuditReport, start: datetime, end: datetime) -> None:
    report.problems.append(
        Problem(GAP, start, end, None, "no whole window with a complete coverage is landed for this time")
    )

"""Landed windows -> findings and a baseline, both kept beside the data.

Layout, under the same destination as the landed logs::

    workspace={workspace}/_monitoring/baseline.json                     the baseline (per-actor history)
    workspace={workspace}/dt=.../audit_logs_{start}_{end}.findings.jsonl  one line per finding

The baseline learns windows strictly in order and records how far it has read (``applied_through``):
the next window it learns must start exactly there. A run catches up on every landed window after
that point, in order, and stops at the first gap (a window not landed yet, as happens while a
backfill lands windows out of order); the run after the missing window lands continues from there.
Before anything is learned, the span it reads is audited by the range audit's own rules (the chain
judge, with the signing connection's policy): a window the audit would refuse (changed, misplaced,
unsigned, overlapping, or an object the layout does not own) refuses the run, and nothing is
written. A window is learned whole or not at all: its parts' bytes are checked again against their
verified manifests as they are read, findings are written, then the baseline -- each through a
temporary key, so a crash between the two only means the window is read again. Windows already
learned are never learned twice.

A window learned in the last :data:`RELEARN_LOOKBACK` and landed again since (its object's sha256
changed: the reconcile operator re-landed it with late events) is read again, and only the events
not seen before are judged, so each is reported once, in its own window's findings file. What was
seen is kept beside the baseline, one small file per window::

    workspace={workspace}/_monitoring/seen/{start}_{end}.json   the object's sha256, its events' digests
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.api import parse_timestamp
from airflow_webflow_audit.audit.bucket import audit_bucket
from airflow_webflow_audit.audit.report import refuse_wrong_evidence
from airflow_webflow_audit.exceptions import WebflowConfigurationError, WebflowLandingError
from airflow_webflow_audit.jsonlines import dump_line
from airflow_webflow_audit.landing.layout import findings_name, format_key_time, monitoring_folder
from airflow_webflow_audit.landing.reader import (
    WindowChain,
    chain_digest,
    landed_span,
    read_landed_events,
)
from airflow_webflow_audit.landing.storage import read_untracked
from airflow_webflow_audit.landing.writer import write_object
from airflow_webflow_audit.monitoring.rules import Baseline, Finding, RuleSettings, WindowScan
from airflow_webflow_audit.signing import SignaturePolicy

log = logging.getLogger(__name__)

#: Windows learned this long before ``applied_through`` are checked for re-landings on every run (one
#: manifest read each): the reconcile operator's default lookback.
RELEARN_LOOKBACK = timedelta(days=7)


def baseline_path(destination: ObjectStoragePath, workspace: str) -> ObjectStoragePath:
    return monitoring_folder(destination, workspace) / "baseline.json"


def findings_path_for(object_path: ObjectStoragePath) -> ObjectStoragePath:
    return object_path.parent / findings_name(object_path.name)


def load_baseline(path: ObjectStoragePath, workspace: str) -> Baseline:
    if not path.exists():
        return Baseline(workspace=workspace)
    try:
        baseline = Baseline.from_json(json.loads(read_untracked(path)))
    except (ValueError, KeyError, TypeError) as exc:
        raise WebflowLandingError(
            f"The monitoring baseline {path} cannot be read ({type(exc).__name__}: {exc}). Delete it to rebuild it "
            "from the first landed window (or from baseline_start)."
        ) from exc
    if baseline.workspace != workspace:
        raise WebflowLandingError(
            f"The baseline {path} belongs to workspace {baseline.workspace!r}, not {workspace!r}."
        )
    return baseline


@dataclass
class WindowFindings:
    start: datetime
    end: datetime
    records: int
    findings: list[Finding]
    findings_uri: str
    #: Read again after a re-landing: ``records`` and ``findings`` are those of the events not seen before.
    relearned: bool = False


@dataclass
class CatchUp:
    """What one run learned: the windows in order, and where it stopped."""

    baseline_uri: str
    applied_through: datetime | None
    windows: list[WindowFindings] = field(default_factory=list)
    #: The first window not landed yet, as ``[start, end)`` of the gap, if a gap stopped the run.
    waiting_for: tuple[datetime, datetime] | None = None

    @property
    def findings(self) -> list[Finding]:
        return [finding for window in self.windows for finding in window.findings]


def catch_up(
    destination: ObjectStoragePath,
    workspace: str,
    settings: RuleSettings,
    *,
    baseline_start: datetime | None = None,
    through: datetime | None = None,
    policy: SignaturePolicy | None = None,
) -> CatchUp:
    """Learn every landed window after the baseline's point, in order, up to ``through`` or the first gap."""
    path = baseline_path(destination, workspace)
    baseline = load_baseline(path, workspace)
    result = CatchUp(baseline_uri=str(path), applied_through=baseline.applied_through)
    span = landed_span(destination, workspace)
    if span.first_start is None or span.last_end is None:
        _refuse_filtered_only(destination, workspace, span.filters)
        log.warning(
            "No gzip JSONL window with a manifest under %s for workspace %s yet (windows landed as Parquet are "
            "not read by the monitoring rules).",
            destination,
            workspace,
        )
        return result
    cursor = baseline.applied_through or baseline_start or span.first_start
    # What is read: the windows learned lately (re-read if they gained a part), and those after the cursor.
    low = min(cursor, baseline.applied_through - RELEARN_LOOKBACK) if baseline.applied_through else cursor
    high = max(through if through is not None else span.last_end, cursor)
    landed = _audited_windows(destination, workspace, low, high, policy) if low < high else []
    baseline = _relearn_changed(baseline, landed, settings, path, result)
    for window in landed:
        if through is not None and window.start >= through:
            break
        if window.end <= cursor:
            continue  # learned already, or before the baseline's start
        if window.start < cursor:
            log.warning(
                "Skipping %s: it overlaps windows the baseline has learned (up to %s); windows of one schedule "
                "never overlap, so this one comes from another DAG writing to the same destination.",
                window.path,
                cursor.isoformat(),
            )
            continue
        if window.start > cursor:
            result.waiting_for = (cursor, window.start)
            break
        baseline, learned = _learn_window(baseline, window, settings, path)
        result.windows.append(learned)
        result.applied_through = cursor = window.end
    return result


def _audited_windows(
    destination: ObjectStoragePath, workspace: str, start: datetime, end: datetime, policy: SignaturePolicy | None
) -> list[WindowChain]:
    """The verified whole gzip JSONL windows meeting ``[start, end)``, in order, once the range audit found
    nothing wrong with the evidence there (gaps are expected: learning stops at the first)."""
    report = audit_bucket(destination, workspace, start, end, signatures=policy)
    refuse_wrong_evidence(report, "learning")
    return [WindowChain.at(destination, verdict) for verdict in report.verified_chains()]


def _refuse_filtered_only(destination: ObjectStoragePath, workspace: str, filters: frozenset[tuple[str, ...]]) -> None:
    """A destination holding only event-type-filtered windows would look like a quiet log: refuse it."""
    if filters:
        kinds = "; ".join(",".join(types) for types in sorted(filters))
        raise WebflowConfigurationError(
            f"Only windows filtered by event type ({kinds}) are landed under {destination} for workspace "
            f"{workspace}. The monitoring rules judge the whole log, so they read only windows landed without "
            "event_types: add a WebflowAuditLogsOperator without event_types for the same destination, land "
            "its windows, then run this task again."
        )


def _learn_window(
    baseline: Baseline, window: WindowChain, settings: RuleSettings, path: ObjectStoragePath
) -> tuple[Baseline, WindowFindings]:
    # A copy learns the window; it replaces the baseline only once the object proved whole.
    candidate = Baseline.from_json(baseline.to_json())
    scan = WindowScan(candidate, settings)
    digests: list[str] = []
    manifests = read_landed_events(window, _digesting(scan.add, digests))
    findings = scan.finish()
    candidate.applied_through = window.end
    findings_path = findings_path_for(window.path)
    write_object(findings_path, b"".join(dump_line(asdict(finding)) for finding in findings))
    _remember(candidate, window, manifests, digests, path)
    log.info(
        "Learned [%s, %s): %d events in %d part(s), %d findings (%s).",
        window.start.isoformat(),
        window.end.isoformat(),
        len(digests),
        len(manifests),
        len(findings),
        findings_path,
    )
    return candidate, WindowFindings(window.start, window.end, len(digests), findings, str(findings_path))


def _relearn_changed(
    baseline: Baseline, landed: list[WindowChain], settings: RuleSettings, path: ObjectStoragePath, result: CatchUp
) -> Baseline:
    """Read again the recently learned windows that gained a part since, for the events not seen before."""
    for window in landed:
        learned_digest = baseline.learned.get(_window_key(window))
        if learned_digest is None:
            continue
        digest = chain_digest(list(window.manifests))
        if digest in (None, learned_digest):
            continue
        baseline, found = _learn_late_events(baseline, window, settings, path)
        result.windows.append(found)
    return baseline


def _learn_late_events(
    baseline: Baseline, window: WindowChain, settings: RuleSettings, path: ObjectStoragePath
) -> tuple[Baseline, WindowFindings]:
    seen_path = _seen_path(path, window)
    try:
        unseen = Counter(json.loads(read_untracked(seen_path))["digests"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        unseen = Counter()  # written before each baseline that lists the window; gone only if deleted
    candidate = Baseline.from_json(baseline.to_json())
    scan = WindowScan(candidate, settings)
    new_events = 0

    def judge_if_new(event: dict[str, Any], digest: str) -> None:
        nonlocal new_events
        if unseen[digest] > 0:
            unseen[digest] -= 1
            return
        new_events += 1
        scan.add(event)

    digests: list[str] = []
    manifests = read_landed_events(window, _digesting(judge_if_new, digests, pass_digest=True))
    findings = scan.finish()
    findings_path = findings_path_for(window.path)
    earlier = read_untracked(findings_path) if findings_path.exists() else b""
    write_object(findings_path, earlier + b"".join(dump_line(asdict(finding)) for finding in findings))
    _remember(candidate, window, manifests, digests, path)
    log.warning(
        "[%s, %s) gained a part since it was learned (now %d parts); %d events in it were not seen before: "
        "%d findings, appended to %s.",
        window.start.isoformat(),
        window.end.isoformat(),
        len(manifests),
        new_events,
        len(findings),
        findings_path,
    )
    found = WindowFindings(window.start, window.end, new_events, findings, str(findings_path), relearned=True)
    return candidate, found


def _digesting(
    on_event: Callable[..., None], digests: list[str], *, pass_digest: bool = False
) -> Callable[[dict[str, Any]], None]:
    """``on_event`` that also keeps each event's digest (the sha256 of its JSON line, shortened)."""

    def wrapped(event: dict[str, Any]) -> None:
        digest = hashlib.sha256(dump_line(event)).hexdigest()[:16]
        digests.append(digest)
        if pass_digest:
            on_event(event, digest)
        else:
            on_event(event)

    return wrapped


def _window_key(window: WindowChain) -> str:
    return f"{window.start.isoformat()}/{window.end.isoformat()}"


def _seen_path(baseline_file: ObjectStoragePath, window: WindowChain) -> ObjectStoragePath:
    return baseline_file.parent / "seen" / f"{format_key_time(window.start)}_{format_key_time(window.end)}.json"


def _remember(
    baseline: Baseline,
    window: WindowChain,
    manifests: list[dict[str, Any]],
    digests: list[str],
    path: ObjectStoragePath,
) -> None:
    """Record what the window held (seen file first, then the baseline), forgetting windows too old to re-check."""
    sha256 = chain_digest(manifests)
    seen = {"sha256": sha256, "digests": sorted(digests)}
    write_object(_seen_path(path, window), (json.dumps(seen, separators=(",", ":")) + "\n").encode())
    baseline.learned[_window_key(window)] = sha256 or ""
    horizon = (baseline.applied_through or window.end) - RELEARN_LOOKBACK
    for key in [key for key in baseline.learned if parse_timestamp(key.split("/")[1]) < horizon]:
        del baseline.learned[key]
    # Not sort_keys: an actor's addresses are kept in the order last seen, which decides what is forgotten.
    body = (json.dumps(baseline.to_json(), indent=1, ensure_ascii=False) + "\n").encode()
    write_object(path, body)


def count_by(findings: list[Finding], attribute: str) -> dict[str, int]:
    """Findings per value of ``attribute`` (``rule`` or ``severity``), sorted by value."""
    return dict(sorted(Counter(getattr(finding, attribute) for finding in findings).items()))


def summarize(result: CatchUp, *, workspace: str, max_listed: int) -> dict[str, Any]:
    """The operator's XCom: counts, where things are, and the first findings in short."""
    findings = result.findings
    return {
        "workspace": workspace,
        "findings": len(findings),
        "by_rule": count_by(findings, "rule"),
        "by_severity": count_by(findings, "severity"),
        "windows": [
            {
                "start": window.start.isoformat(),
                "end": window.end.isoformat(),
                "records": window.records,
                "findings": len(window.findings),
                "findings_uri": window.findings_uri,
                "relearned": window.relearned,
            }
            for window in result.windows
        ],
        "applied_through": None if result.applied_through is None else result.applied_through.isoformat(),
        "waiting_for": None if result.waiting_for is None else [moment.isoformat() for moment in result.waiting_for],
        "baseline_uri": result.baseline_uri,
        "first_findings": [
            {"rule": f.rule, "severity": f.severity, "timestamp": f.timestamp, "summary": f.summary}
            for f in findings[:max_listed]
        ],
    }

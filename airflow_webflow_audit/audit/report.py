"""What a range audit found, and how it is shown: a table and a verdict, or the same as JSON."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_webflow_audit.landing.chain import FLAW_KINDS, UNSIGNED_PART
from airflow_webflow_audit.landing.formats import DEFAULT_FILE_FORMAT

if TYPE_CHECKING:
    from airflow_webflow_audit.landing.chain import ChainVerdict

#: A window's status, best first; the chain judge's flaws (:mod:`airflow_webflow_audit.landing.chain`) are
#: statuses too.
OK = "ok"
STALE = "stale"
OVERLAP = "overlap"
UNSIGNED = UNSIGNED_PART
#: Problem kinds beyond the window statuses.
GAP = "gap"
PARTIAL_LEFTOVER = "partial_leftover"
#: An object under the workspace's folder that is neither a part, a manifest nor a known leftover.
UNEXPECTED_OBJECT = "unexpected_object"
#: Every kind of problem, for the docs and for consumers that sort them: the chain judge's flaws (a new one is
#: added there, and only there) and the range's own.
PROBLEM_KINDS = (GAP, STALE, OVERLAP, *FLAW_KINDS, UNEXPECTED_OBJECT, PARTIAL_LEFTOVER)
#: Problems that say the evidence itself is wrong (missing, changed, misplaced, unexplained), as opposed to
#: time not landed yet (a gap), a window that gained events since (stale), or a killed landing's leftover.
EVIDENCE_PROBLEMS = frozenset(PROBLEM_KINDS) - {GAP, STALE, PARTIAL_LEFTOVER}
#: Time whose events the archive does not hold (yet): what each reader does about it is its own job.
MISSING_TIME = frozenset({GAP, STALE})


def refuse_wrong_evidence(report: AuditReport, doing: str) -> None:
    """The one refusal every reader of landed windows makes (reconcile, findings, OCSF): raise
    :class:`~airflow_webflow_audit.exceptions.WebflowRangeIncompleteError` if the audit found the evidence
    wrong (:data:`EVIDENCE_PROBLEMS`), before anything is written, and count each refused kind.

    A killed landing's leftover temporary object is never wrong evidence (it was never a window's object, and
    readers that glob skip hidden names): it is reported, not refused. Missing time (:data:`MISSING_TIME`) is
    each reader's own job: reconcile lands it, findings stop learning at it, OCSF refuses to convert it.
    """
    from airflow_webflow_audit import metrics
    from airflow_webflow_audit.exceptions import WebflowRangeIncompleteError

    wrong = [problem for problem in report.problems if problem.kind in EVIDENCE_PROBLEMS]
    if not wrong:
        return
    for kind, number in Counter(problem.kind for problem in wrong).items():
        metrics.count(metrics.EVIDENCE_REFUSED, number, kind=kind)
    listed = "; ".join(f"{problem.label()}: {problem.detail}" for problem in wrong[:MAX_PROBLEMS_NAMED])
    more = f"; and {len(wrong) - MAX_PROBLEMS_NAMED} more" if len(wrong) > MAX_PROBLEMS_NAMED else ""
    raise WebflowRangeIncompleteError(
        f"Not {doing} [{report.start.isoformat()}, {report.end.isoformat()}) of {report.workspace}: the landed "
        f"evidence is wrong ({listed}{more}). Nothing was written. Audit the range (python -m "
        "airflow_webflow_audit.audit) and investigate what it names before landing or reading anything there."
    )


#: How many problems an error message names; the audit lists them all.
MAX_PROBLEMS_NAMED = 10


@dataclass
class WindowReport:
    """One landed window of the range: its key (relative to the destination), count and status."""

    start: datetime
    end: datetime
    key: str
    records: int | None
    status: str = OK
    detail: str = ""
    #: Filtered by event type: listed, but not part of the range's tiling.
    event_types: tuple[str, ...] | None = None
    coverage: str | None = None
    file_format: str = DEFAULT_FILE_FORMAT
    #: From the newest part's manifest, for a recount: the padded window's ``pagination.total`` then.
    api_total: int | None = None
    #: Each landed event's identity key, all parts together, for a recount; None if not verified.
    line_keys: Counter[bytes] | None = None
    #: Parts the window has (its newest part's number), and how many carry a verified signature.
    parts: int = 1
    signed_parts: int = 0
    #: The chain judge's verdict (its verified parts are what consumers read).
    chain: ChainVerdict | None = field(default=None, repr=False)
    #: Warnings about this window (also in the report's list).
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Problem:
    kind: str
    start: datetime | None
    end: datetime | None
    key: str | None
    detail: str

    def label(self) -> str:
        """``kind [start, end) key``: how an error message names the problem."""
        where = f"[{self.start.isoformat() if self.start else '?'}, {self.end.isoformat() if self.end else '?'})"
        return f"{self.kind} {where}" + (f" {self.key}" if self.key else "")


@dataclass
class AuditReport:
    """The audit of one workspace's landed windows over ``[start, end)``."""

    destination: str
    workspace: str
    start: datetime
    end: datetime
    windows: list[WindowReport] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    strict: bool = False
    #: API requests a recount spent (0 without ``--recount``).
    requests: int = 0
    #: Whether manifest signatures were checked (a public key was there).
    signatures_checked: bool = False
    #: The keys signatures were checked with: ``{"name", "fingerprint", "algorithm", "not_after"}``.
    keys: list[dict[str, Any]] = field(default_factory=list)
    #: When the audit ran (UTC), and by which version of this package.
    audited_at: datetime | None = None
    package_version: str | None = None

    def warn(self, text: str, window: WindowReport | None = None) -> None:
        """Add a warning, of the range or of one window."""
        self.warnings.append(text)
        if window is not None:
            window.warnings.append(text)

    def flag(self, window: WindowReport, status: str, detail: str) -> WindowReport:
        """List a problem of ``window``; its status and detail are those of its first problem."""
        if window.status == OK:
            window.status, window.detail = status, detail
        self.problems.append(Problem(status, window.start, window.end, window.key, detail))
        return window

    def verified_chains(self, *, file_format: str = DEFAULT_FILE_FORMAT) -> list[ChainVerdict]:
        """The chain judge's verdicts on the whole windows (no event-type filter) in ``file_format`` that it
        verified, in window order: what a consumer of the range reads."""
        return [
            window.chain
            for window in self.windows
            if window.chain is not None
            and window.chain.verified
            and window.event_types is None
            and window.file_format == file_format
        ]

    @property
    def complete(self) -> bool:
        return not self.problems and not (self.strict and self.warnings)

    @property
    def verdict(self) -> str:
        return "complete" if self.complete else "incomplete"

    @property
    def exit_code(self) -> int:
        """What the audit command line exits with for this report: 0 complete, 1 incomplete."""
        return 0 if self.complete else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "strict": self.strict,
            "range": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "workspace": self.workspace,
            "destination": self.destination,
            "audited_at": None if self.audited_at is None else self.audited_at.isoformat(timespec="seconds"),
            "package_version": self.package_version,
            "keys": self.keys,
            "windows": [
                {
                    "start": w.start.isoformat(),
                    "end": w.end.isoformat(),
                    "key": w.key,
                    "records": w.records,
                    "parts": w.parts,
                    **({"signed_parts": w.signed_parts} if self.signatures_checked else {}),
                    "status": w.status,
                    **({"detail": w.detail} if w.detail else {}),
                    **({"event_types": list(w.event_types)} if w.event_types else {}),
                    **({"coverage": w.coverage} if w.coverage else {}),
                    **({"warnings": w.warnings} if w.warnings else {}),
                }
                for w in self.windows
            ],
            "problems": [
                {
                    "kind": p.kind,
                    "start": p.start.isoformat() if p.start else None,
                    "end": p.end.isoformat() if p.end else None,
                    "key": p.key,
                    "detail": p.detail,
                }
                for p in self.problems
            ],
            "warnings": self.warnings,
            "recount_requests": self.requests,
            "signatures_checked": self.signatures_checked,
        }

    def render(self) -> str:
        """The table (window, records, status), problems and warnings, and a one-line verdict."""
        rows = [("window (UTC)", "records", "status", "key")]
        for w in self.windows:
            status = w.status + (f" (event_types={','.join(w.event_types)})" if w.event_types else "")
            records = "-" if w.records is None else str(w.records)
            rows.append((f"[{w.start.isoformat()}, {w.end.isoformat()})", records, status, w.key))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [
            f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}".rstrip() for row in rows
        ]
        for problem in self.problems:
            where = f"[{problem.start.isoformat()}, {problem.end.isoformat()})" if problem.start and problem.end else ""
            lines.append(f"problem: {problem.kind} {where} {problem.key or ''} {problem.detail}".replace("  ", " "))
        lines.extend(f"warning: {warning}" for warning in self.warnings)
        lines.append(self.summary())
        return "\n".join(lines)

    def summary(self) -> str:
        whole = [w for w in self.windows if w.event_types is None]
        events = sum(w.records or 0 for w in whole)
        span = f"[{self.start.isoformat()}, {self.end.isoformat()})"
        if self.complete:
            checked = " and recounted against the API" if self.requests else ""
            parts = sum(w.parts for w in whole)
            signed = sum(w.signed_parts for w in whole)
            signatures = (
                f"; {signed} of {parts} part manifests carry a verified signature"
                if self.signatures_checked
                else "; signatures not checked"
            )
            return (
                f"verdict: complete -- {span} of {self.workspace} is tiled by {len(whole)} verified windows "
                f"({events} events in {parts} parts){checked}, with no gap or overlap{signatures}."
            )
        issues = len(self.problems) + (len(self.warnings) if self.strict else 0)
        return f"verdict: incomplete -- {issues} problem(s) in {span} of {self.workspace}; see above."

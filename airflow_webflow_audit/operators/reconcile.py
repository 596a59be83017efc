"""WebflowAuditLogsReconcileOperator: recount landed windows against the API, re-land the stale ones, and
(with ``window_size``) land the windows missing from the range's gaps."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath

from airflow_webflow_audit.audit.bucket import audit_bucket
from airflow_webflow_audit.audit.recount import recount
from airflow_webflow_audit.audit.report import (
    EVIDENCE_PROBLEMS,
    GAP,
    STALE,
    AuditReport,
    WindowReport,
    refuse_wrong_evidence,
)
from airflow_webflow_audit.exceptions import WebflowConfigurationError, WebflowRangeIncompleteError
from airflow_webflow_audit.hooks.connection import check_hook_params
from airflow_webflow_audit.hooks.retry import DEFAULT_MAX_WINDOW_ATTEMPTS
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.landing.batch import land_windows, raise_for_windows_not_landed
from airflow_webflow_audit.landing.formats import validate_file_format
from airflow_webflow_audit.landing.horizon import RetentionHorizon
from airflow_webflow_audit.landing.land import LandingPlan, LandingResult
from airflow_webflow_audit.landing.layout import (
    FIRST_PART,
    check_destination,
    check_object_lock_destination,
    resolve_destination,
    window_object_path,
)
from airflow_webflow_audit.landing.writer import ObjectLock, WriteOptions, check_destination_writable
from airflow_webflow_audit.signing import signing_for_writer
from airflow_webflow_audit.validation import (
    DEFAULT_SETTLE,
    MAX_SETTLE,
    check_window_order,
    is_resolved_later,
    validate_datetime,
    validate_duration,
    validate_object_lock,
    validate_optional_datetime,
    validate_window_size,
    validate_workspace,
)
from airflow_webflow_audit.windows import NO_DATA_INTERVAL_HINT, WindowQuery, split_window

if TYPE_CHECKING:
    from airflow.sdk import Context

#: How far back a reconcile looks by default: late events older than this are not looked for.
DEFAULT_LOOKBACK = timedelta(days=7)
#: The longest lookback accepted: a longer recount belongs to the audit command line.
MAX_LOOKBACK = timedelta(days=366)


class WebflowAuditLogsReconcileOperator(BaseOperator):
    """Find landed windows that gained events after they were landed, and land them again.

    Audits ``[start, end)`` from the bucket (every part against its manifest, the parts' chains,
    signatures when the signing key is there, the windows against the range), recounts each verified
    window against the API (one ``limit=1`` request per window when nothing changed), and lands every
    stale one again with the landing operator's own landing: a new part holding only the events the
    window's parts lack, whose manifest names the parts before it. Nothing is replaced or deleted.
    The audit judges signatures by the signing connection's policy, as the audit command line does.
    When the evidence is wrong anywhere in the range (a part missing, changed, misplaced, unsigned,
    overlapping, or an object the layout does not own), it refuses before writing anything, naming the
    windows: a new part would hide the trace. Gaps (windows not landed yet) fail the task after the
    stale windows are landed, unless ``window_size`` says what a window is: then each window of that
    size in a gap, where no landed window lies, is landed as the landing operator would land it.
    Stale and missing windows land several at once, on one token budget and one retention look.

    :param workspace: Webflow workspace id or slug; omitted or empty, the connection's default. (templated)
    :param destination: the landing operator's destination. (templated)
    :param start: range start; default ``data_interval_start - lookback``. (templated)
    :param end: range end; default ``data_interval_start``, so the window the landing DAG is pulling
        right now is not counted missing. (templated)
    :param lookback: how far back from the data interval's start to reconcile: a ``timedelta`` or
        seconds, default 7 days. (templated)
    :param landing_start: the landing DAG's first window start: the default range never starts before
        it, so the weeks before the first landing are not reported as gaps. (templated)
    :param settle: windows that ended less than this long ago are not recounted yet (they may still be
        landing): a ``timedelta`` or seconds, default 5 minutes as for the landing operator. (templated)
    :param webflow_conn_id: the Webflow connection. (templated)
    :param hook_params: this task's overrides of the connection's ``max_retries``, ``timeout``,
        ``max_concurrency`` and ``rate_limit_per_minute`` (same ranges as the extras).
    :param signing_conn_id: as on the landing operator: the key new parts are signed with, and the policy
        (keys, ``unsigned_before``) the audit before them judges by. (templated)
    :param require_signing: as on the landing operator: no signing key fails the task before any request.
    :param object_lock_mode: as on the landing operator: S3 Object Lock on the parts it adds.
    :param object_lock_days: as on the landing operator.
    :param window_size: the landing DAG's window (a ``timedelta``, seconds, ``"1:00:00"`` or ``"PT1H"``):
        the range is split into windows of that size from its start (a range that is not a whole number
        of them is refused before any request), and those in a gap are landed. None (default): gaps
        are reported, not filled. (templated)
    :param file_format: the format gap windows land in, as on the landing operator.

    Returns (XCom) ``{"range", "checked", "relanded": [{"start", "end", "key", "records_before",
    "records_after", "part"}], "landed": [{"start", "end", "key", "records", "part"}], "missing": [...],
    "problems": [...], "warnings": [...], "requests"}``.
    """

    template_fields: Sequence[str] = (
        "workspace",
        "destination",
        "start",
        "end",
        "lookback",
        "landing_start",
        "settle",
        "webflow_conn_id",
        "signing_conn_id",
        "window_size",
    )
    ui_color = "#4353ff"

    def __init__(
        self,
        *,
        workspace: str | None = None,
        destination: str | ObjectStoragePath,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        lookback: timedelta | float | str = DEFAULT_LOOKBACK,
        landing_start: datetime | str | None = None,
        settle: timedelta | float | str = DEFAULT_SETTLE,
        webflow_conn_id: str = WebflowHook.default_conn_name,
        hook_params: dict[str, Any] | None = None,
        signing_conn_id: str | None = None,
        require_signing: bool | None = None,
        object_lock_mode: str | None = None,
        object_lock_days: int | None = None,
        window_size: timedelta | float | str | None = None,
        file_format: str = "jsonl.gz",
        **kwargs: Any,
    ) -> None:
        if require_signing is not None and not isinstance(require_signing, bool):
            raise WebflowConfigurationError(f"require_signing must be True, False or None, got {require_signing!r}.")
        lock = validate_object_lock(object_lock_mode, object_lock_days)
        if lock is not None and not is_resolved_later(destination):
            check_object_lock_destination(destination)
        if not is_resolved_later(destination):
            check_destination(destination)
        if workspace not in (None, "") and not is_resolved_later(workspace):
            validate_workspace(workspace)
        if not is_resolved_later(lookback):
            validate_duration(lookback, "lookback", maximum=MAX_LOOKBACK)
        if not is_resolved_later(landing_start):
            validate_optional_datetime(landing_start, "landing_start")
        if not is_resolved_later(settle):
            validate_duration(settle, "settle", maximum=MAX_SETTLE)
        if not is_resolved_later(window_size):
            validate_window_size(window_size)
        validate_file_format(file_format)
        super().__init__(**kwargs)
        self.workspace = workspace
        self.destination = destination
        self.start = start
        self.end = end
        self.lookback = lookback
        self.landing_start = landing_start
        self.settle = settle
        self.webflow_conn_id = webflow_conn_id
        self.hook_params = check_hook_params(hook_params)
        self.signing_conn_id = signing_conn_id
        self.require_signing = require_signing
        self.object_lock = None if lock is None else ObjectLock(*lock)
        self.window_size = window_size
        self.file_format = file_format

    @functools.cached_property
    def hook(self) -> WebflowHook:
        return WebflowHook(webflow_conn_id=self.webflow_conn_id, hook_params=self.hook_params)

    def execute(self, context: Context) -> dict[str, Any]:
        start, end = self._range(context)
        window_size = validate_window_size(self.window_size)
        grid = split_window(start, end, window_size) if window_size is not None else []
        workspace = self.hook.resolve_workspace(self.workspace)
        settle = validate_duration(self.settle, "settle", maximum=MAX_SETTLE)
        destination = resolve_destination(self.destination)
        _ = self.hook.config  # the connection, checked before anything is read or written
        require = self.hook.config.require_signing if self.require_signing is None else self.require_signing
        signing = signing_for_writer(self.signing_conn_id, require_signing=require)
        options = WriteOptions(object_lock=self.object_lock)
        check_destination_writable(destination, options)
        self.log.info("Reconciling the landed windows of %s for [%s, %s).", workspace, start, end)
        report = audit_bucket(destination, workspace, start, end, signatures=signing.policy, keep_event_keys=True)
        self._refuse_wrong_evidence(report)
        settled_before = datetime.now(timezone.utc) - settle
        stale = recount(report, self.hook, settled_before=settled_before)
        missing = [window for window in _gap_windows(report, grid) if window[1] <= settled_before]
        horizon = RetentionHorizon(self.hook, workspace)

        # What every landing of this task shares; each window adds its query, key, format and settle.
        plan = functools.partial(
            LandingPlan,
            max_window_attempts=DEFAULT_MAX_WINDOW_ATTEMPTS,
            task_instance=context.get("ti"),
            options=options,
            signer=signing.signer,
            policy=signing.policy,
            horizon=horizon,
        )
        plans = [
            plan(
                query=WindowQuery(workspace, window.start, window.end, None),
                object_path=destination / window.key,
                file_format=window.file_format,
                settle=_landed_settle(window),
            )
            for window in stale
        ]
        plans += [
            plan(
                query=WindowQuery(workspace, window_start, window_end, None),
                object_path=window_object_path(
                    destination, workspace=workspace, start=window_start, end=window_end, file_format=self.file_format
                ),
                file_format=self.file_format,
                settle=settle,
            )
            for window_start, window_end in missing
        ]
        if missing:
            self.log.info("Landing %d missing window(s) of %s in the range's gaps.", len(missing), window_size)
        outcome = land_windows(self.hook, plans, self.log, workers=self.hook.config.max_concurrency)
        relanded = [
            self._relanded(window, outcome.results[i]) for i, window in enumerate(stale) if i in outcome.results
        ]
        landed = [_landed(plans[i], outcome.results[i]) for i in range(len(stale), len(plans)) if i in outcome.results]
        raise_for_windows_not_landed(
            outcome, "The task's retry audits the range again and lands what is still stale or missing."
        )
        return self._summary(report, relanded, landed)

    def _refuse_wrong_evidence(self, report: AuditReport) -> None:
        if any(problem.kind in EVIDENCE_PROBLEMS for problem in report.problems):
            for warning in report.warnings:
                self.log.warning("%s", warning)
        # A new part would hide the trace.
        refuse_wrong_evidence(report, "reconciling")

    def _range(self, context: Context) -> tuple[datetime, datetime]:
        lookback = validate_duration(self.lookback, "lookback", maximum=MAX_LOOKBACK)
        interval_start = context.get("data_interval_start")
        if (self.start in (None, "") or self.end in (None, "")) and interval_start is None:
            raise WebflowConfigurationError(NO_DATA_INTERVAL_HINT)
        end = validate_datetime(interval_start if self.end in (None, "") else self.end, "end")
        if self.start in (None, ""):
            start = validate_datetime(interval_start, "data_interval_start") - lookback
            landing_start = validate_optional_datetime(self.landing_start, "landing_start")
            if landing_start is not None:
                start = min(max(start, landing_start), end)
        else:
            start = validate_datetime(self.start, "start")
        if start == end:
            raise WebflowConfigurationError(
                f"Nothing to reconcile: the range is empty at {start.isoformat()} (the data interval starts at or "
                "before landing_start)."
            )
        return check_window_order(start, end)

    def _relanded(self, window: WindowReport, landed: LandingResult) -> dict[str, Any]:
        self.log.warning(
            "Landed [%s, %s) again: %s -> %d events, the %d new ones in part %d (%s).",
            window.start.isoformat(),
            window.end.isoformat(),
            window.records,
            landed.window_records,
            landed.new_records,
            landed.part,
            landed.uri,
        )
        return {
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "key": window.key,
            "records_before": window.records,
            "records_after": landed.window_records,
            "part": landed.part,
        }

    def _summary(
        self, report: AuditReport, relanded: list[dict[str, Any]], landed: list[dict[str, Any]]
    ) -> dict[str, Any]:
        filled = [(window["start"], window["end"]) for window in landed]
        # Stale windows were re-landed; a gap is left only where no window of it was landed.
        remaining = [p for p in report.problems if p.kind != STALE and not _filled(p, filled)]
        as_json = report.to_json()
        summary = {
            "range": as_json["range"],
            "checked": len(report.windows),
            "relanded": relanded,
            "landed": landed,
            "missing": [
                p
                for p, problem in zip(as_json["problems"], report.problems, strict=True)
                if p["kind"] in ("gap", "missing_object", "missing_manifest") and problem in remaining
            ],
            "problems": [
                p for p, problem in zip(as_json["problems"], report.problems, strict=True) if problem in remaining
            ],
            "warnings": report.warnings,
            "requests": report.requests,
        }
        for warning in report.warnings:
            self.log.warning("%s", warning)
        self.log.info(
            "Checked %d windows with %d requests; landed %d again as a new part and %d missing one(s); %d "
            "problem(s) left.",
            len(report.windows),
            report.requests,
            len(relanded),
            len(landed),
            len(remaining),
        )
        if remaining:
            listed = "; ".join(p.label() for p in remaining)
            raise WebflowRangeIncompleteError(
                f"The range [{report.start.isoformat()}, {report.end.isoformat()}) is not complete after "
                f"reconciling: {listed}. Land the missing windows (a backfill of the landing DAG) or rerun their "
                "landing tasks; a killed landing's temporary object can be deleted."
            )
        return summary


def _gap_windows(report: AuditReport, grid: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """The windows of ``grid`` inside the report's gaps that no landed whole-log window meets (one that
    does, a window cut by retention say, is left alone: a new window there would overlap it)."""
    gaps = [(p.start, p.end) for p in report.problems if p.kind == GAP and p.start is not None and p.end is not None]
    landed = [(w.start, w.end) for w in report.windows if w.event_types is None]
    return [
        (start, end)
        for start, end in grid
        if any(gap_start <= start and end <= gap_end for gap_start, gap_end in gaps)
        and not any(start < other_end and other_start < end for other_start, other_end in landed)
    ]


def _filled(problem: Any, filled: list[tuple[str, str]]) -> bool:
    """Whether the windows landed now tile this gap whole."""
    if problem.kind != GAP or problem.start is None or problem.end is None:
        return False
    covered = problem.start
    for start, end in sorted((datetime.fromisoformat(s), datetime.fromisoformat(e)) for s, e in filled):
        if start <= covered < end:
            covered = end
    return covered >= problem.end


def _landed(plan: LandingPlan, result: LandingResult) -> dict[str, Any]:
    return {
        "start": plan.query.start.isoformat(),
        "end": plan.query.end.isoformat(),
        "key": plan.place.key(FIRST_PART),
        "records": result.window_records,
        "part": result.part,
    }


def _landed_settle(window: WindowReport) -> timedelta:
    """The settle delay the window's first landing waited, which a re-landing's manifest repeats."""
    first = window.chain.parts[0].manifest if window.chain is not None and window.chain.parts else {}
    return timedelta(seconds=first.get("settle_seconds") or 0)

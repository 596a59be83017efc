"""WebflowAuditLogsReconcileOperator: recount landed windows against the API, re-land the stale ones."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath

from airflow_webflow_audit.audit.bucket import audit_bucket
from airflow_webflow_audit.audit.recount import recount
from airflow_webflow_audit.audit.report import EVIDENCE_PROBLEMS, STALE, AuditReport, WindowReport
from airflow_webflow_audit.exceptions import WebflowConfigurationError, WebflowRangeIncompleteError
from airflow_webflow_audit.hooks.connection import check_hook_params
from airflow_webflow_audit.hooks.retry import DEFAULT_MAX_WINDOW_ATTEMPTS
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.landing.land import LandingPlan, land_window
from airflow_webflow_audit.landing.layout import (
    check_destination,
    check_object_lock_destination,
    resolve_destination,
)
from airflow_webflow_audit.landing.writer import ObjectLock, WriteOptions, check_destination_writable
from airflow_webflow_audit.signing import Signing, signing_for_writer
from airflow_webflow_audit.validation import (
    DEFAULT_SETTLE,
    MAX_SETTLE,
    check_window_order,
    is_resolved_later,
    validate_datetime,
    validate_duration,
    validate_object_lock,
    validate_optional_datetime,
    validate_workspace,
)
from airflow_webflow_audit.windows import NO_DATA_INTERVAL_HINT, WindowQuery

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
    stale windows are landed.

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

    Returns (XCom) ``{"range", "checked", "relanded": [{"start", "end", "key", "records_before",
    "records_after", "part"}], "missing": [...], "problems": [...], "warnings": [...], "requests"}``.
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

    @functools.cached_property
    def hook(self) -> WebflowHook:
        return WebflowHook(webflow_conn_id=self.webflow_conn_id, hook_params=self.hook_params)

    def execute(self, context: Context) -> dict[str, Any]:
        start, end = self._range(context)
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
        stale = recount(report, self.hook, settled_before=datetime.now(timezone.utc) - settle)
        relanded = [self._reland(context, destination, report, window, options, signing) for window in stale]
        return self._summary(report, relanded)

    def _refuse_wrong_evidence(self, report: AuditReport) -> None:
        wrong = [p for p in report.problems if p.kind in EVIDENCE_PROBLEMS]
        if not wrong:
            return
        for warning in report.warnings:
            self.log.warning("%s", warning)
        listed = "; ".join(f"{p.label()}: {p.detail}" for p in wrong)
        raise WebflowRangeIncompleteError(
            f"Not reconciling [{report.start.isoformat()}, {report.end.isoformat()}) of {report.workspace}: the "
            f"landed evidence is wrong ({listed}). Nothing was written, since a new part would hide the trace. "
            "Audit the range (python -m airflow_webflow_audit.audit) and investigate before landing anything."
        )

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

    def _reland(
        self,
        context: Context,
        destination: ObjectStoragePath,
        report: AuditReport,
        window: WindowReport,
        options: WriteOptions,
        signing: Signing,
    ) -> dict[str, Any]:
        object_path = destination / window.key
        first = window.chain.parts[0].manifest if window.chain is not None and window.chain.parts else {}
        plan = LandingPlan(
            query=WindowQuery(report.workspace, window.start, window.end, None),
            object_path=object_path,
            file_format=window.file_format,
            settle=timedelta(seconds=first.get("settle_seconds") or 0),
            max_window_attempts=DEFAULT_MAX_WINDOW_ATTEMPTS,
            task_instance=context.get("ti"),
            options=options,
            signer=signing.signer,
            policy=signing.policy,
        )
        landed = land_window(self.hook, plan, self.log)
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

    def _summary(self, report: AuditReport, relanded: list[dict[str, Any]]) -> dict[str, Any]:
        remaining = [p for p in report.problems if p.kind != STALE]  # stale ones were re-landed
        as_json = report.to_json()
        summary = {
            "range": as_json["range"],
            "checked": len(report.windows),
            "relanded": relanded,
            "missing": [p for p in as_json["problems"] if p["kind"] in ("gap", "missing_object", "missing_manifest")],
            "problems": [p for p in as_json["problems"] if p["kind"] != STALE],
            "warnings": report.warnings,
            "requests": report.requests,
        }
        for warning in report.warnings:
            self.log.warning("%s", warning)
        self.log.info(
            "Checked %d windows with %d requests; landed %d again as a new part; %d problem(s) left.",
            len(report.windows),
            report.requests,
            len(relanded),
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

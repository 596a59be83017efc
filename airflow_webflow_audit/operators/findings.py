"""WebflowAuditFindingsOperator: landed windows -> findings beside them, a baseline, notifications."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath

from airflow_webflow_audit.compat import BaseNotifier
from airflow_webflow_audit.exceptions import WebflowBaselineBehindError, WebflowConfigurationError
from airflow_webflow_audit.landing.layout import check_destination, resolve_destination
from airflow_webflow_audit.monitoring.findings import catch_up, summarize
from airflow_webflow_audit.monitoring.rules import RuleSettings
from airflow_webflow_audit.notifications.findings import WebflowFindingsLogNotifier, send_findings
from airflow_webflow_audit.signing import DEFAULT_SIGNING_CONN_ID, signing_from_connection
from airflow_webflow_audit.validation import is_resolved_later, validate_optional_datetime, validate_workspace

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Findings listed in short in the XCom; all of them are in the findings files.
MAX_FINDINGS_IN_XCOM = 20


class WebflowAuditFindingsOperator(BaseOperator):
    """
    Run the monitoring rules over landed audit-log windows and keep a baseline beside them.

    Reads what :class:`~airflow_webflow_audit.operators.audit_logs.WebflowAuditLogsOperator` landed
    (gzip JSONL) under ``destination``, learns every window after the baseline's point in order --
    checking each object against its manifest -- and writes ``….findings.jsonl`` beside each window and
    ``workspace=…/_monitoring/baseline.json``. Nothing depends on Airflow's metadata database, so a
    backfill (or a new deployment) rebuilds the same baseline from the same windows.

    :param workspace: Workspace id or slug the windows were landed for.
    :param destination: The landing operator's destination (``s3://conn@bucket/prefix``, ``gs://…``,
        ``file:///…`` or an ObjectStoragePath).
    :param baseline_start: Where the baseline starts (the landing DAG's first window). Without it the
        first landed window is the start, which is wrong when a backfill lands a later window first.
    :param through: Learn up to this instant and fail (retryably) if the windows up to it are not all
        landed yet: for a task right after the landing task, ``"{{ data_interval_end }}"``. None (the
        default, for asset-scheduled DAGs) learns whatever is landed, up to the first gap.
    :param rule_settings: Overrides of :class:`~airflow_webflow_audit.monitoring.rules.RuleSettings`:
        ``rules``, ``min_history``, ``travel_time`` (seconds or timedelta), ``burst_logins``,
        ``elevated_roles``.
    :param notifiers: Called when there are findings, with the context plus ``webflow_findings`` and
        ``webflow_findings_summary``; default: :class:`WebflowFindingsLogNotifier`.
    :param signing_conn_id: The connection whose keys (and ``unsigned_before`` cut-over) the landed manifests
        are judged by, as the audit judges them (default ``webflow_audit_signing``, when it exists). A span
        the audit would refuse is refused, naming the windows, and nothing is written. (templated)
    """

    template_fields: Sequence[str] = ("workspace", "destination", "baseline_start", "through", "signing_conn_id")
    ui_color = "#ffcc4d"

    def __init__(
        self,
        *,
        workspace: str,
        destination: str | ObjectStoragePath,
        baseline_start: datetime | str | None = None,
        through: datetime | str | None = None,
        rule_settings: dict[str, Any] | None = None,
        notifiers: Sequence[BaseNotifier] | None = None,
        signing_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not is_resolved_later(destination):
            check_destination(destination)
        if not is_resolved_later(workspace):
            validate_workspace(workspace)
        for name, value in (("baseline_start", baseline_start), ("through", through)):
            if not is_resolved_later(value):
                validate_optional_datetime(value, name)
        self.settings = RuleSettings.from_mapping(rule_settings)
        notifiers = [WebflowFindingsLogNotifier()] if notifiers is None else list(notifiers)
        for notifier in notifiers:
            if not isinstance(notifier, BaseNotifier):
                raise WebflowConfigurationError(
                    f"notifiers must be Airflow notifiers (BaseNotifier), got {notifier!r}."
                )
        super().__init__(**kwargs)
        self.workspace = workspace
        self.destination = destination
        self.baseline_start = baseline_start
        self.through = through
        self.notifiers = notifiers
        self.signing_conn_id = signing_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        workspace = validate_workspace(self.workspace)
        destination = resolve_destination(self.destination)
        baseline_start = validate_optional_datetime(self.baseline_start, "baseline_start")
        through = validate_optional_datetime(self.through, "through")
        policy = signing_from_connection(
            self.signing_conn_id or DEFAULT_SIGNING_CONN_ID, required=bool(self.signing_conn_id), to_sign=False
        ).policy
        result = catch_up(
            destination, workspace, self.settings, baseline_start=baseline_start, through=through, policy=policy
        )
        summary = summarize(result, workspace=workspace, max_listed=MAX_FINDINGS_IN_XCOM)
        self.log.info(
            "Learned %d windows, %d findings (%s); the baseline now reaches %s.",
            len(result.windows),
            summary["findings"],
            ", ".join(f"{rule}: {count}" for rule, count in summary["by_rule"].items()) or "none",
            summary["applied_through"],
        )
        if result.findings:
            send_findings(self.notifiers, context, result.findings, summary)
        if result.waiting_for is not None:
            gap_start, gap_end = result.waiting_for
            self.log.info(
                "Stopped at a gap: nothing is landed for [%s, %s) yet; the run after it lands continues from there.",
                gap_start.isoformat(),
                gap_end.isoformat(),
            )
        reached = result.applied_through
        if through is not None and (reached is None or reached < through):
            missing = result.waiting_for or (reached or baseline_start, through)
            raise WebflowBaselineBehindError(
                f"The baseline of {workspace} reaches {reached.isoformat() if reached else 'nothing yet'}, not "
                f"{through.isoformat()}: no window is landed for [{missing[0]}, {missing[1]}). Land it first (a "
                "backfill lands windows in any order); this task can then be retried, or use depends_on_past."
            )
        return summary

"""A notifier for monitoring findings that writes them to the task log: the default, and a template."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from airflow_webflow_audit.compat import BaseNotifier

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_webflow_audit.monitoring.rules import Finding


def send_findings(
    notifiers: Sequence[BaseNotifier], context: Context, findings: list[Finding], summary: dict[str, Any]
) -> None:
    """Call each notifier with the context plus ``webflow_findings`` and ``webflow_findings_summary``."""
    notified: dict[str, Any] = {**context, "webflow_findings": [asdict(f) for f in findings]}
    notified["webflow_findings_summary"] = summary
    for notifier in notifiers:
        notifier(notified)


class WebflowFindingsLogNotifier(BaseNotifier):
    """
    Log each finding of a :class:`~airflow_webflow_audit.operators.findings.WebflowAuditFindingsOperator` run.

    The operator calls its notifiers with the task's context plus ``webflow_findings`` (a list of
    finding dicts) and ``webflow_findings_summary`` (its XCom), so any Airflow notifier can be used
    instead, its templates reading those keys, e.g. the Slack provider's
    ``SlackNotifier(text="{{ webflow_findings_summary.findings }} Webflow findings")``.

    :param min_severity: Leave out findings below this: ``low``, ``medium`` or ``high``.
    """

    template_fields = ("min_severity",)

    def __init__(self, *, min_severity: str = "low") -> None:
        super().__init__()
        self.min_severity = min_severity

    def notify(self, context: Context) -> None:
        from airflow_webflow_audit.monitoring.rules import SEVERITIES

        if self.min_severity not in SEVERITIES:
            raise ValueError(f"min_severity must be one of {', '.join(SEVERITIES)}, got {self.min_severity!r}.")
        floor = SEVERITIES.index(self.min_severity)
        given = context.get("webflow_findings", [])
        findings: list[dict[str, Any]] = given if isinstance(given, list) else []
        shown = [f for f in findings if SEVERITIES.index(f["severity"]) >= floor]
        self.log.warning("%d Webflow audit findings (%d at %s or above):", len(findings), len(shown), self.min_severity)
        for finding in shown:
            self.log.warning(
                "[%s] %s %s: %s", finding["severity"], finding["timestamp"], finding["rule"], finding["summary"]
            )

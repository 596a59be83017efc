"""Apache Airflow provider for Webflow workspace audit logs."""

from __future__ import annotations

__version__ = "0.1.0"

HOOK_CLASS = "airflow_webflow_audit.hooks.webflow.WebflowHook"


def get_provider_info() -> dict:
    """Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""
    # Imported here, and free of Airflow imports: Airflow calls this while its own import is under way.
    from airflow_webflow_audit.connection_fields import UI_FIELD_BEHAVIOUR, conn_fields

    return {
        "package-name": "airflow-webflow-audit",
        "name": "Webflow Audit Logs",
        "description": "Pull Webflow workspace audit logs into object storage, one data-interval window at a time.",
        "integrations": [
            {
                "integration-name": "Webflow",
                "external-doc-url": "https://developers.webflow.com/data/reference/enterprise/workspace-audit-logs",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {"integration-name": "Webflow", "python-modules": ["airflow_webflow_audit.hooks.webflow"]},
        ],
        "operators": [
            {
                "integration-name": "Webflow",
                "python-modules": [
                    "airflow_webflow_audit.operators.audit_logs",
                    "airflow_webflow_audit.operators.findings",
                    "airflow_webflow_audit.operators.reconcile",
                    "airflow_webflow_audit.operators.ocsf",
                ],
            },
        ],
        "notifications": ["airflow_webflow_audit.notifications.findings.WebflowFindingsLogNotifier"],
        "sensors": [
            {"integration-name": "Webflow", "python-modules": ["airflow_webflow_audit.sensors.audit_logs"]},
        ],
        "triggers": [
            {"integration-name": "Webflow", "python-modules": ["airflow_webflow_audit.triggers.audit_logs"]},
        ],
        "connection-types": [
            {
                "connection-type": "webflow",
                "hook-class-name": HOOK_CLASS,
                "hook-name": "Webflow",
                "ui-field-behaviour": {
                    "hidden-fields": UI_FIELD_BEHAVIOUR["hidden_fields"],
                    "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
                    "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
                },
                "conn-fields": conn_fields(),
            }
        ],
    }

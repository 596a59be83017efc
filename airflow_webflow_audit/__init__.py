"""Apache Airflow provider for Webflow workspace audit logs."""

from __future__ import annotations

__version__ = "0.1.0"

HOOK_CLASS = "airflow_webflow_audit.hooks.webflow.WebflowHook"


def get_provider_info() -> dict:
    """Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""
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
                    "hidden-fields": ["schema", "login", "port"],
                    "relabeling": {"password": "API token", "host": "Base URL"},
                    "placeholders": {
                        "password": "Workspace API token with scope workspace_activity:read",
                        "host": "https://api.webflow.com (default)",
                    },
                },
                "conn-fields": {
                    "workspace": {
                        "label": "Default workspace",
                        "description": "Workspace id or slug used when a task does not name one.",
                        "schema": {"type": ["string", "null"], "pattern": "^[^/?#%\\\\\\s]*$"},
                    },
                    "rate_limit_per_minute": {
                        "label": "Rate limit per minute",
                        "description": "Optional client-side ceiling on requests per minute for this token "
                        "(60 on Starter/Basic, 120 on CMS/eCommerce/Business, custom on Enterprise).",
                        "schema": {"type": ["number", "null"], "minimum": 1},
                    },
                    "rate_limit_window_seconds": {
                        "label": "Rate-limit window (seconds)",
                        "description": "How often the token's request budget renews. Default 60 (Webflow's "
                        "limits are per minute); change it only if your plan's limit is per another period.",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                    },
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "Per-request timeout. Default 30.",
                        "schema": {"type": ["number", "null"], "minimum": 1},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "Retries of a request after 5xx, network errors or bad bodies. Default 5.",
                        "schema": {"type": ["integer", "null"], "minimum": 0},
                    },
                    "max_concurrency": {
                        "label": "Max concurrent requests",
                        "description": "Pages of one pull in flight at once. Default 5.",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                },
            }
        ],
    }

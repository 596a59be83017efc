"""The ``webflow`` connection's fields, declared once.

:data:`EXTRA_FIELDS` is the one table of the connection's extras and their defaults: the hook's
checks (:mod:`airflow_webflow_audit.hooks.connection`), the provider info's ``conn-fields`` (the UI
form of Airflow 3.2+) and the form's placeholders all read it. No Airflow import here: Airflow calls
``get_provider_info()`` while it is still starting up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from airflow_webflow_audit.api import DEFAULT_BASE_URL, FORBIDDEN_WORKSPACE_CHARS

#: Webflow's rate limits are per token per minute.
DEFAULT_RATE_LIMIT_WINDOW_SECONDS = 60.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_CONCURRENCY = 5
#: A page of 100 events is ~100 KiB; a body far past that is a broken or hostile server.
DEFAULT_MAX_RESPONSE_MIB = 16


@dataclass(frozen=True)
class ExtraField:
    """One extra of the connection: how it is checked, and how the UI form shows it."""

    name: str
    label: str
    description: str
    kind: Literal["workspace", "number", "integer", "boolean"]
    default: float | int | bool | None = None
    #: The valid range, both ends included (numbers and integers only). Bounded on both sides, so an
    #: absurd value is refused with the range instead of overflowing a timer or a thread pool.
    minimum: float = 0
    maximum: float = 0


EXTRA_FIELDS: tuple[ExtraField, ...] = (
    ExtraField(
        "workspace", "Default workspace", "Workspace id or slug used when a task does not name one.", "workspace"
    ),
    ExtraField(
        "rate_limit_per_minute",
        "Rate limit per minute",
        "Optional client-side ceiling on requests per minute for this token (60 on Starter/Basic, 120 on "
        "CMS/eCommerce/Business, custom on Enterprise). Not needed to stay under Webflow's limit.",
        "number",
        minimum=1,
        maximum=100_000,
    ),
    ExtraField(
        "rate_limit_window_seconds",
        "Rate-limit window (seconds)",
        "How often the token's request budget renews. Default 60 (Webflow's limits are per minute); change it "
        "only if your plan's limit is per another period.",
        "number",
        DEFAULT_RATE_LIMIT_WINDOW_SECONDS,
        minimum=1,
        maximum=86_400,
    ),
    ExtraField(
        "timeout",
        "Timeout (seconds)",
        "Deadline of one request, from sending it to the last byte of its answer. Default 30.",
        "number",
        DEFAULT_TIMEOUT_SECONDS,
        minimum=0.1,
        maximum=3_600,
    ),
    ExtraField(
        "max_retries",
        "Max retries",
        "Retries of a request after 5xx, network errors or bad bodies. Default 5.",
        "integer",
        DEFAULT_MAX_RETRIES,
        minimum=0,
        maximum=100,
    ),
    ExtraField(
        "max_concurrency",
        "Max concurrent requests",
        "Requests of one task in flight at once (a pull's pages, a task's windows). Default 5; 1: one at a time.",
        "integer",
        DEFAULT_MAX_CONCURRENCY,
        minimum=1,
        maximum=32,
    ),
    ExtraField(
        "max_response_mib",
        "Max response size (MiB)",
        "An answer larger than this is refused before it is parsed, so memory stays bounded. Default 16.",
        "integer",
        DEFAULT_MAX_RESPONSE_MIB,
        minimum=1,
        maximum=1_024,
    ),
    ExtraField(
        "require_signing",
        "Require signed manifests",
        "When true, landing and reconcile tasks fail before any request if no signing key is configured, so a "
        "deleted or mistyped signing connection never yields unsigned windows. Default false.",
        "boolean",
        False,
    ),
)
EXTRA_KEYS = tuple(extra.name for extra in EXTRA_FIELDS)

#: The standard fields the form hides and renames, and its placeholders (all Airflow versions).
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden_fields": ["schema", "login", "port"],
    "relabeling": {"password": "API token", "host": "Base URL"},
    "placeholders": {
        "password": "Workspace API token with scope workspace_activity:read",
        "host": f"{DEFAULT_BASE_URL} (default; a trailing /v2, as Webflow's docs write it, is fine)",
        "extra": '{"workspace": "my-workspace"}',
    },
}


def _json_schema(extra: ExtraField) -> dict[str, Any]:
    if extra.kind == "workspace":
        return {"type": ["string", "null"], "pattern": f"^[^{_regex_class(FORBIDDEN_WORKSPACE_CHARS)}\\s]*$"}
    if extra.kind == "integer":
        return {"type": ["integer", "null"], "minimum": int(extra.minimum), "maximum": int(extra.maximum)}
    if extra.kind == "boolean":
        return {"type": ["boolean", "null"]}
    return {"type": ["number", "null"], "minimum": extra.minimum, "maximum": extra.maximum}


def _regex_class(chars: str) -> str:
    return "".join("\\" + ch if ch in "\\]^-" else ch for ch in chars)


def conn_fields() -> dict[str, Any]:
    """The provider info's ``conn-fields``: each extra with its label, help text and JSON schema."""
    return {
        extra.name: {"label": extra.label, "description": extra.description, "schema": _json_schema(extra)}
        for extra in EXTRA_FIELDS
    }

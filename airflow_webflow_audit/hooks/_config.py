"""Connection settings and input checks: everything that must be right before a request is sent."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from airflow_webflow_audit.api import (
    API_MAX_LIMIT,
    DEFAULT_BASE_URL,
    KNOWN_EVENT_TYPES,
    SORT_ORDERS,
    is_loopback_host,
    parse_timestamp,
)
from airflow_webflow_audit.exceptions import WebflowConfigurationError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_MAX_CONCURRENCY = 5
#: Webflow's rate limits are per token per minute.
DEFAULT_RATE_LIMIT_WINDOW_SECONDS = 60.0
#: Characters that would change the meaning of the URL path if they were in a workspace slug.
FORBIDDEN_WORKSPACE_CHARS = "/?#%\\"
EXTRA_KEYS = (
    "workspace",
    "rate_limit_per_minute",
    "rate_limit_window_seconds",
    "timeout",
    "max_retries",
    "max_concurrency",
)


@dataclass(frozen=True)
class WebflowConnectionConfig:
    """What a ``webflow`` connection says, checked. The token is kept out of ``repr``."""

    base_url: str
    token: str = field(repr=False)
    workspace: str | None = None
    rate_limit_per_minute: float | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    max_retries: int = DEFAULT_MAX_RETRIES
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    rate_limit_window_seconds: float = DEFAULT_RATE_LIMIT_WINDOW_SECONDS


def config_from_connection(
    conn_id: str,
    *,
    host: str | None,
    port: int | None,
    password: str | None,
    extra: str | dict[str, Any] | None,
) -> WebflowConnectionConfig:
    """Check a connection's fields and extras and turn them into a :class:`WebflowConnectionConfig`."""
    token = (password or "").strip()
    if not token:
        raise WebflowConfigurationError(
            f"Connection {conn_id!r} has no API token. Put the Webflow workspace API token (scope "
            "workspace_activity:read) in the connection's password field ('API token' in the UI)."
        )
    if any(ch.isspace() for ch in token):
        raise WebflowConfigurationError(
            f"The API token of connection {conn_id!r} contains whitespace; paste the token alone."
        )
    extras = _parse_extras(conn_id, extra)
    workspace = extras.get("workspace")
    if workspace is not None:
        if not isinstance(workspace, str):
            raise WebflowConfigurationError(
                f"Connection {conn_id!r}: extra 'workspace' must be a string (the workspace id or slug)."
            )
        workspace = validate_workspace(workspace) if workspace else None
    return WebflowConnectionConfig(
        base_url=build_base_url(conn_id, host, port),
        token=token,
        workspace=workspace,
        rate_limit_per_minute=_positive_number(conn_id, extras, "rate_limit_per_minute", None),
        timeout=_positive_number(conn_id, extras, "timeout", DEFAULT_TIMEOUT_SECONDS),
        max_retries=_int_at_least(conn_id, extras, "max_retries", DEFAULT_MAX_RETRIES, minimum=0),
        max_concurrency=_int_at_least(conn_id, extras, "max_concurrency", DEFAULT_MAX_CONCURRENCY, minimum=1),
        rate_limit_window_seconds=_positive_number(
            conn_id, extras, "rate_limit_window_seconds", DEFAULT_RATE_LIMIT_WINDOW_SECONDS
        ),
    )


def _parse_extras(conn_id: str, extra: str | dict[str, Any] | None) -> dict[str, Any]:
    if extra is None or extra == "":
        return {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError as exc:
            raise WebflowConfigurationError(
                f"Connection {conn_id!r}: extra is not valid JSON ({exc.msg} at position {exc.pos}). "
                'Use an object such as {"workspace": "my-workspace", "timeout": 30}.'
            ) from None
    if not isinstance(extra, dict):
        raise WebflowConfigurationError(
            f"Connection {conn_id!r}: extra must be a JSON object, got {type(extra).__name__}."
        )
    unknown = sorted(set(extra) - set(EXTRA_KEYS))
    if unknown:
        log.warning(
            "Connection %r: ignoring unknown extra field(s) %s; known fields are %s.",
            conn_id,
            ", ".join(unknown),
            ", ".join(EXTRA_KEYS),
        )
    return extra


def _number(conn_id: str, key: str, value: Any) -> float:
    # The UI may store numbers as strings; bool is an int subclass but never a sensible number here.
    if isinstance(value, bool):
        raise WebflowConfigurationError(f"Connection {conn_id!r}: extra {key!r} must be a number, got {value!r}.")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise WebflowConfigurationError(
                f"Connection {conn_id!r}: extra {key!r} must be a number, got {value!r}."
            ) from None
    if not isinstance(value, (int, float)) or value != value:  # NaN
        raise WebflowConfigurationError(f"Connection {conn_id!r}: extra {key!r} must be a number, got {value!r}.")
    return float(value)


def _positive_number(conn_id: str, extras: dict[str, Any], key: str, default: float | None) -> float | None:
    value = extras.get(key)
    if value is None or value == "":
        return default
    number = _number(conn_id, key, value)
    if number <= 0 or number == float("inf"):
        raise WebflowConfigurationError(
            f"Connection {conn_id!r}: extra {key!r} must be a positive number, got {value!r}."
        )
    return number


def _int_at_least(conn_id: str, extras: dict[str, Any], key: str, default: int, *, minimum: int) -> int:
    value = extras.get(key)
    if value is None or value == "":
        return default
    number = _number(conn_id, key, value)
    if number != int(number) or number < minimum:
        raise WebflowConfigurationError(
            f"Connection {conn_id!r}: extra {key!r} must be a whole number >= {minimum}, got {value!r}."
        )
    return int(number)


def build_base_url(conn_id: str, host: str | None, port: int | None) -> str:
    """Base URL from the connection's host (a bare host name or a full URL) and port."""
    raw = (host or "").strip()
    if not raw:
        return DEFAULT_BASE_URL
    if "://" not in raw:
        raw = f"https://{raw}"
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise WebflowConfigurationError(
            f"Connection {conn_id!r}: base URL scheme {scheme!r} is not supported; use https://."
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise WebflowConfigurationError(
            f"Connection {conn_id!r}: the base URL must not carry credentials, a query or a fragment; "
            "put the token in the password field."
        )
    hostname = parts.hostname or ""
    if not hostname:
        raise WebflowConfigurationError(f"Connection {conn_id!r}: the base URL has no host.")
    if scheme == "http" and not is_loopback_host(hostname):
        raise WebflowConfigurationError(
            f"Connection {conn_id!r}: plain http:// is only allowed for loopback hosts (localhost, "
            f"127.0.0.0/8, ::1), not {hostname!r}: the API token would travel unencrypted. Use https://."
        )
    try:
        url_port = parts.port
    except ValueError:
        raise WebflowConfigurationError(f"Connection {conn_id!r}: the base URL has an invalid port.") from None
    netloc = parts.netloc
    if port and url_port is None:
        netloc = f"{netloc}:{int(port)}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def validate_workspace(workspace: object) -> str:
    """Check a workspace id or slug so it can only ever name one path segment."""
    if not isinstance(workspace, str) or not workspace:
        raise WebflowConfigurationError(
            "No workspace given: pass workspace='<workspace id or slug>' or set 'Default workspace' "
            "(extra 'workspace') on the Webflow connection."
        )
    bad = sorted({ch for ch in workspace if ch in FORBIDDEN_WORKSPACE_CHARS})
    if bad or ".." in workspace or any(ch.isspace() or not ch.isprintable() for ch in workspace):
        shown = ", ".join(repr(ch) for ch in bad) or "'..', whitespace or control characters"
        raise WebflowConfigurationError(
            f"Workspace {workspace!r} contains {shown}; give the workspace id or slug exactly as Webflow "
            "shows it (for example 'hitchhikers-workspace'), not a path or an encoded string."
        )
    return workspace


def validate_datetime(value: object, name: str) -> datetime:
    """An aware datetime from a datetime or an ISO 8601 string with an offset."""
    if isinstance(value, str):
        try:
            value = parse_timestamp(value, assume_utc=False)
        except ValueError:
            raise WebflowConfigurationError(
                f"{name}={value!r} is not an ISO 8601 date-time; use e.g. '2026-10-01T00:00:00Z'."
            ) from None
        if value.tzinfo is None:
            raise WebflowConfigurationError(f"{name} has no UTC offset; add one, e.g. '2026-10-01T00:00:00Z'.")
    if not isinstance(value, datetime):
        raise WebflowConfigurationError(f"{name} must be a datetime, got {type(value).__name__}.")
    if value.tzinfo is None or value.utcoffset() is None:
        raise WebflowConfigurationError(
            f"{name}={value.isoformat()} is a naive datetime; pass a timezone-aware one, e.g. "
            "pendulum.datetime(2026, 10, 1, tz='UTC') or datetime(..., tzinfo=timezone.utc)."
        )
    return value.astimezone(timezone.utc)


def validate_window(start: object, end: object) -> tuple[datetime, datetime]:
    """The checked ``[start, end)`` window, in UTC."""
    start_utc = validate_datetime(start, "start")
    end_utc = validate_datetime(end, "end")
    if start_utc >= end_utc:
        raise WebflowConfigurationError(
            f"The window is empty: start ({start_utc.isoformat()}) must be before end ({end_utc.isoformat()})."
        )
    return start_utc, end_utc


def validate_event_type(event_type: object) -> str | None:
    if event_type is None:
        return None
    if not isinstance(event_type, str) or not event_type:
        raise WebflowConfigurationError(f"event_type must be one of {', '.join(KNOWN_EVENT_TYPES)} or None.")
    if event_type not in KNOWN_EVENT_TYPES:
        # The API rejects unknown filter values with a 400; say so before spending a request.
        raise WebflowConfigurationError(
            f"Unknown event_type {event_type!r}; the API accepts {', '.join(KNOWN_EVENT_TYPES)}. "
            "Leave event_type unset to receive every type, new ones included."
        )
    return event_type


def is_templated(value: object) -> bool:
    """True if ``value`` (or an item of it) is a Jinja template: only the run can check it."""
    if isinstance(value, (list, tuple)):
        return any(is_templated(item) for item in value)
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def as_filter_list(value: object, name: str) -> list[Any] | None:
    """None, or the items of a non-empty list (a comma-separated string as rendered by a template counts)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, (list, tuple, set, frozenset)) or not value:
        raise WebflowConfigurationError(f"{name} must be None or a non-empty list, got {value!r}.")
    return list(value)


def validate_event_types(event_types: object) -> list[str] | None:
    """None (every type) or a sorted, de-duplicated list of known types; a comma-separated string is accepted."""
    items = as_filter_list(event_types, "event_types")
    if items is None:
        return None
    # Sorted, so the same set of types always gives the same requests (and the same landed bytes).
    return sorted({validate_event_type(item) for item in items})  # type: ignore[misc]


def validate_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= API_MAX_LIMIT:
        raise WebflowConfigurationError(f"limit must be a whole number from 1 to {API_MAX_LIMIT}, got {limit!r}.")
    return limit


def validate_offset(offset: object) -> int:
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise WebflowConfigurationError(f"offset must be a whole number >= 0, got {offset!r}.")
    return offset


def validate_sort_order(sort_order: object) -> str:
    if sort_order not in SORT_ORDERS:
        raise WebflowConfigurationError(f"sort_order must be 'asc' or 'desc', got {sort_order!r}.")
    return sort_order  # type: ignore[return-value]


#: How far each side of the window the request reaches, so the API's unknown edge rules
#: (inclusive or exclusive ``from``/``to``, second or millisecond precision) can never drop an edge
#: event; the exact ``[start, end)`` cut is made on this side.
REQUEST_WINDOW_PADDING = timedelta(seconds=1)

"""Facts about Webflow's audit-log API, and its time format: plain Python, no Airflow import.

The simulator uses this module too, so it starts without importing Airflow.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timezone

DEFAULT_BASE_URL = "https://api.webflow.com"
#: The API version every path starts with; a base URL copied from the docs ends with it.
API_VERSION_PREFIX = "/v2"
API_MAX_LIMIT = 100
SORT_ORDERS = ("asc", "desc")
#: Characters that would change the meaning of the URL path if they were in a workspace slug.
FORBIDDEN_WORKSPACE_CHARS = "/?#%\\"
#: Event types the API documents today. Others are passed through with a warning, never dropped.
KNOWN_EVENT_TYPES = (
    "user_access",
    "custom_role",
    "workspace_membership",
    "site_membership",
    "workspace_invitation",
    "workspace_setting",
)
#: Subtypes of each event type, from the OpenAPI excerpt's enums.
KNOWN_EVENT_SUBTYPES: dict[str, tuple[str, ...]] = {
    "user_access": ("login", "logout"),
    "custom_role": ("role_created", "role_updated", "role_deleted"),
    "workspace_membership": ("user_added", "user_removed", "user_role_updated"),
    "site_membership": ("user_added", "user_removed", "user_role_updated", "user_granular_access_updated"),
    "workspace_invitation": (
        "invite_sent",
        "invite_accepted",
        "invite_updated",
        "invite_canceled",
        "invite_declined",
        "access_request_accepted",
    ),
    "workspace_setting": ("setting_updated",),
}


def is_loopback_host(hostname: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1: the only hosts plain http is allowed to reach."""
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def format_api_time(value: datetime) -> str:
    """UTC, millisecond precision, ``Z`` suffix: the form the API's own examples use."""
    utc = value.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_timestamp(text: str, *, assume_utc: bool = True) -> datetime:
    """Parse an RFC 3339 timestamp as the API sends it (``Z`` suffix, any number of fraction digits).

    Fractions finer than a microsecond are truncated; that never moves an instant across a window
    edge, because window edges are whole microseconds. A timestamp without offset is read as UTC.
    This runs once per event, so the built-in parser goes first (Python 3.11+ reads these forms).
    """
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = datetime.fromisoformat(normalise_for_fromisoformat(text))
    if parsed.tzinfo is None and assume_utc:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed


def normalise_for_fromisoformat(text: str) -> str:
    """The RFC 3339 forms Python 3.10's ``fromisoformat`` rejects (``Z``, fractions not 3 or 6 digits), rewritten."""
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dot = text.find(".", 17)
    if dot != -1:
        end = dot + 1
        while end < len(text) and text[end].isdigit():
            end += 1
        digits = text[dot + 1 : end]
        if len(digits) != 6:
            text = text[: dot + 1] + (digits[:6] + "000000")[:6] + text[end:]
    return text

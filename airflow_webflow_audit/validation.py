"""Argument checks shared by the hook, operators, sensor, triggers and monitoring.

Each check takes a value as a user wrote it (or as a template rendered it) and returns it normalised,
or raises :class:`~airflow_webflow_audit.exceptions.WebflowConfigurationError` with a message that
names the fix. Nothing here talks to Webflow, storage or Airflow's metadata: the checks run when a
DAG is parsed and again before the first request.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_webflow_audit.api import (
    API_MAX_LIMIT,
    FORBIDDEN_WORKSPACE_CHARS,
    KNOWN_EVENT_SUBTYPES,
    KNOWN_EVENT_TYPES,
    SORT_ORDERS,
)
from airflow_webflow_audit.api import parse_timestamp as _parse_timestamp
from airflow_webflow_audit.exceptions import WebflowConfigurationError

#: Longer than any workspace id (24 hex digits) or slug Webflow gives; a longer one is a mistake.
MAX_WORKSPACE_LENGTH = 256


def is_resolved_later(value: object) -> bool:
    """True if only the run can know ``value``, so a check must wait for ``execute``.

    That is a Jinja template, anything Airflow resolves at run time (an ``XComArg`` such as
    ``task.output``, a mapped ``@task_group`` argument: both resolve against the context), Airflow's
    ``NOTSET``, or a list holding one of these. Plain literals are checked when the DAG is parsed.
    """
    if isinstance(value, (list, tuple)):
        return any(is_resolved_later(item) for item in value)
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    resolves = callable(getattr(value, "resolve", None)) and callable(getattr(value, "iter_references", None))
    return resolves or type(value).__name__ == "ArgNotSet"


def validate_whole_number(value: object, name: str, *, minimum: int) -> int:
    """``value`` if it is an int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise WebflowConfigurationError(f"{name} must be a whole number >= {minimum}, got {value!r}.")
    return value


#: Events reach Webflow's log a little after they happen; a window is pulled this long after its end.
DEFAULT_SETTLE = timedelta(minutes=5)
#: The longest settle delay accepted: later events are the reconcile operator's job.
MAX_SETTLE = timedelta(days=7)


def validate_duration(value: object, name: str, *, maximum: timedelta) -> timedelta:
    """A ``timedelta``, or seconds (a number, or a numeric string as a template renders it), from 0 to ``maximum``."""
    seconds: float | None = None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = float(value.strip())
        except ValueError:
            seconds = None
    if seconds is None or math.isnan(seconds) or not 0 <= seconds <= maximum.total_seconds():
        raise WebflowConfigurationError(
            f"{name} must be a timedelta or a number of seconds from 0 to {maximum.total_seconds():g} "
            f"({maximum}), got {value!r}."
        )
    return timedelta(seconds=seconds)


#: The longest window a task splits its interval into (a year: a longer one is one window, not several).
MAX_WINDOW_SIZE = timedelta(days=366)


def validate_window_size(value: object) -> timedelta | None:
    """A window size: a ``timedelta``, whole seconds, or text as a template renders one.

    Text may be seconds (``"3600"``), ``str(timedelta)`` (``"1:00:00"``, ``"1 day, 0:00:00"``) or ISO 8601
    (``"PT1H"``, ``"P1D"``). None or empty: no split. Whole seconds from 1 second to 366 days.
    """
    if value is None or (isinstance(value, str) and value.strip() in ("", "None")):
        return None
    size = _parse_window_size(value)
    if size is None or not timedelta(seconds=1) <= size <= MAX_WINDOW_SIZE or size.microseconds:
        raise WebflowConfigurationError(
            f"window_size must be a timedelta of whole seconds from 1 second to {MAX_WINDOW_SIZE.days} days (or "
            f"seconds, '1:00:00', 'PT1H'), got {value!r}."
        )
    return size


def _parse_window_size(value: object) -> timedelta | None:
    """The size ``value`` spells, or None; one that Python cannot represent ("inf", "1e20") is None too."""
    try:
        return _read_window_size(value)
    except (OverflowError, ValueError):
        return None


def _read_window_size(value: object) -> timedelta | None:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        return timedelta(seconds=float(text))
    except ValueError:
        pass
    days, _, clock = text.rpartition(", ") if ", " in text else ("", "", text)
    parts = clock.split(":")
    if len(parts) == 3 and all(part.replace(".", "", 1).isdigit() for part in parts):
        count = 0
        if days:
            number, _, unit = days.partition(" ")
            if not number.lstrip("-").isdigit() or unit not in ("day", "days"):
                return None
            count = int(number)
        return timedelta(days=count, hours=int(parts[0]), minutes=int(parts[1]), seconds=float(parts[2]))
    if text.upper().startswith("P"):
        import pendulum

        try:
            parsed = pendulum.parse(text)
        except (ValueError, TypeError, pendulum.parsing.exceptions.ParserError):
            return None
        if isinstance(parsed, pendulum.Duration) and not (parsed.years or parsed.months):
            return timedelta(seconds=parsed.total_seconds())
    return None


def validate_workspace(workspace: object) -> str:
    """Check a workspace id or slug so it can only ever name one path segment."""
    if not isinstance(workspace, str) or not workspace:
        raise WebflowConfigurationError(
            "No workspace given: pass workspace='<workspace id or slug>' or set 'Default workspace' "
            "(extra 'workspace') on the Webflow connection."
        )
    if len(workspace) > MAX_WORKSPACE_LENGTH:
        raise WebflowConfigurationError(
            f"Workspace {workspace[:40]!r}... is {len(workspace)} characters long; a workspace id or slug has at "
            f"most {MAX_WORKSPACE_LENGTH}. Give the workspace id or slug exactly as Webflow shows it."
        )
    if workspace.strip(".") == "":
        raise WebflowConfigurationError(
            f"Workspace {workspace!r} is not a workspace id or slug: in a URL path it names another endpoint. "
            "Give the workspace id or slug exactly as Webflow shows it (for example 'hitchhikers-workspace')."
        )
    bad = sorted({ch for ch in workspace if ch in FORBIDDEN_WORKSPACE_CHARS})
    if bad or ".." in workspace or any(ch.isspace() or not ch.isprintable() for ch in workspace):
        shown = ", ".join(repr(ch) for ch in bad) or "'..', whitespace or control characters"
        raise WebflowConfigurationError(
            f"Workspace {workspace!r} contains {shown}; give the workspace id or slug exactly as Webflow "
            "shows it (for example 'hitchhikers-workspace'), not a path or an encoded string."
        )
    return workspace


#: The instants this provider handles. A range, a window, a retirement time or a partition key outside them
#: is refused: date arithmetic on it (a day folder, a calendar month, the window after it) would leave what
#: Python's datetime represents, and no audit log of Webflow's is from before 1970.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST_TIME = datetime(9999, 1, 1, tzinfo=timezone.utc)


def check_time_bounds(moment: datetime, name: str) -> datetime:
    """``moment`` (aware) if it lies within :data:`EARLIEST_TIME` .. :data:`LATEST_TIME`."""
    try:
        inside = EARLIEST_TIME <= moment <= LATEST_TIME
    except OverflowError:  # an offset that takes it past year 1 or 9999 in UTC
        inside = False
    if not inside:
        raise WebflowConfigurationError(
            f"{name}={moment.isoformat()} is outside the times this provider handles, "
            f"{EARLIEST_TIME.isoformat()} to {LATEST_TIME.isoformat()}."
        )
    return moment


def validate_datetime(value: object, name: str) -> datetime:
    """An aware datetime, in UTC, from a datetime or an ISO 8601 string with an offset, within
    :data:`EARLIEST_TIME` .. :data:`LATEST_TIME`."""
    if isinstance(value, str):
        try:
            value = _parse_timestamp(value, assume_utc=False)
        except (ValueError, OverflowError):
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
    utc = check_time_bounds(value, name).astimezone(timezone.utc)
    # A plain datetime, even from pendulum (Airflow's data intervals): pendulum's DateTime loses a stdlib
    # tzinfo in arithmetic (``+ timedelta`` gives a naive result) and refuses to subtract stdlib datetimes.
    return datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, tzinfo=timezone.utc
    )


def validate_optional_datetime(value: object, name: str) -> datetime | None:
    """None for ``None`` or ``""`` (a template over a missing value), else :func:`validate_datetime`."""
    if value is None or value == "":
        return None
    return validate_datetime(value, name)


def check_window_order(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """``(start, end)`` if ``start`` comes first; the window ``[start, end)`` may not be empty."""
    if start >= end:
        raise WebflowConfigurationError(
            f"The window is empty: start ({start.isoformat()}) must be before end ({end.isoformat()})."
        )
    return start, end


def validate_window(start: object, end: object) -> tuple[datetime, datetime]:
    """The checked ``[start, end)`` window, in UTC."""
    return check_window_order(validate_datetime(start, "start"), validate_datetime(end, "end"))


def as_filter_list(value: object, name: str) -> list[Any] | None:
    """None, or the items of a non-empty list (a comma-separated string as rendered by a template counts)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, (list, tuple, set, frozenset)) or not value:
        raise WebflowConfigurationError(f"{name} must be None or a non-empty list, got {value!r}.")
    return list(value)


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


def validate_event_types(event_types: object) -> list[str] | None:
    """None (every type) or a sorted, de-duplicated list of known types; a comma-separated string is accepted."""
    items = as_filter_list(event_types, "event_types")
    if items is None:
        return None
    # Sorted, so the same set of types always gives the same requests (and the same landed bytes).
    return sorted({checked for item in items if (checked := validate_event_type(item)) is not None})


def validate_event_subtypes(event_subtypes: object, event_types: list[str] | None = None) -> list[str] | None:
    """None (every subtype) or a sorted list of subtypes that the chosen types can have.

    Subtypes are matched client-side, so a typo would never match and a sensor would wait until it
    times out: an unknown subtype is refused instead.
    """
    items = as_filter_list(event_subtypes, "event_subtypes")
    if items is None:
        return None
    possible = sorted({s for t in (event_types or KNOWN_EVENT_TYPES) for s in KNOWN_EVENT_SUBTYPES.get(t, ())})
    for item in items:
        if not isinstance(item, str) or item not in possible:
            scope = f" of event types {', '.join(event_types)}" if event_types else ""
            raise WebflowConfigurationError(
                f"Unknown event_subtype {item!r}{scope}; choose from {', '.join(possible)}."
            )
    return sorted(set(items))


def validate_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= API_MAX_LIMIT:
        raise WebflowConfigurationError(f"limit must be a whole number from 1 to {API_MAX_LIMIT}, got {limit!r}.")
    return limit


def validate_sort_order(sort_order: object) -> str:
    if not isinstance(sort_order, str) or sort_order not in SORT_ORDERS:
        raise WebflowConfigurationError(f"sort_order must be 'asc' or 'desc', got {sort_order!r}.")
    return sort_order


#: S3 Object Lock modes: GOVERNANCE (users with s3:BypassGovernanceRetention may lift it) or COMPLIANCE (nobody).
OBJECT_LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")
#: The longest retention a landing asks for (100 years).
MAX_OBJECT_LOCK_DAYS = 36_500


def validate_object_lock(mode: object, days: object) -> tuple[str, int] | None:
    """``(mode, days)`` of S3 Object Lock for landed objects, or None for no lock; both or neither."""
    if mode in (None, "") and days in (None, ""):
        return None
    if mode not in OBJECT_LOCK_MODES:
        raise WebflowConfigurationError(
            f"object_lock_mode must be one of {', '.join(OBJECT_LOCK_MODES)} (or None for no lock), got {mode!r}."
        )
    if days in (None, ""):
        raise WebflowConfigurationError(
            "object_lock_days is needed with object_lock_mode: how many days each landed object is retained."
        )
    checked = validate_whole_number(days, "object_lock_days", minimum=1)
    if checked > MAX_OBJECT_LOCK_DAYS:
        raise WebflowConfigurationError(f"object_lock_days must be at most {MAX_OBJECT_LOCK_DAYS}, got {checked}.")
    return str(mode), checked

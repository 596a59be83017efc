"""The ``[start, end)`` window a task works on: its run's data interval, or explicit bounds.

Shared by the operator and the sensor so both accept and reject the same things with the same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.validation import (
    check_window_order,
    validate_datetime,
    validate_event_types,
    validate_workspace,
)

NO_DATA_INTERVAL_HINT = (
    "This run has no data interval: in Airflow 3 a manual run triggered without a logical date has none. "
    "Trigger it with a logical date, give the DAG a data-interval schedule such as "
    "CronDataIntervalTimetable('0 * * * *', timezone='UTC'), or pass start= and end= to the task "
    "(templated, e.g. start='2026-10-01T00:00:00Z')."
)


def is_unset(value: object) -> bool:
    # A template over a missing value renders as "" or "None": both mean "not given".
    return value is None or (isinstance(value, str) and value.strip() in ("", "None"))


def _from_context(context: Mapping[str, Any], key: str) -> datetime:
    value = context.get(key)
    if value is None:
        raise WebflowConfigurationError(NO_DATA_INTERVAL_HINT)
    return validate_datetime(value, key)


def resolve_window(context: Mapping[str, Any], start: object = None, end: object = None) -> tuple[datetime, datetime]:
    """The checked UTC window: explicit ``start``/``end`` where given, the data interval otherwise."""
    start_utc = _from_context(context, "data_interval_start") if is_unset(start) else validate_datetime(start, "start")
    end_utc = _from_context(context, "data_interval_end") if is_unset(end) else validate_datetime(end, "end")
    if start_utc == end_utc and is_unset(start) and is_unset(end):
        raise WebflowConfigurationError(
            f"The data interval of this run is empty ({start_utc.isoformat()} to {end_utc.isoformat()}), so "
            "there is no window to pull. That is what CronTriggerTimetable gives, and schedule='@daily' or a "
            "cron string means CronTriggerTimetable in Airflow 3. Use "
            "schedule=CronDataIntervalTimetable('0 0 * * *', timezone='UTC') (from airflow.sdk), "
            "or pass start= and end=."
        )
    return check_window_order(start_utc, end_utc)


class WindowQuery(NamedTuple):
    """What a task asks of one workspace's log: a checked window and the event types (None: all)."""

    workspace: str
    start: datetime
    end: datetime
    event_types: list[str] | None
    #: Matched client-side, by the sensor only.
    event_subtypes: list[str] | None = None


def resolve_query(
    context: Mapping[str, Any],
    *,
    workspace: object,
    event_types: object,
    start: object,
    end: object,
) -> WindowQuery:
    """The task's rendered arguments, checked, with the window from :func:`resolve_window`."""
    window_start, window_end = resolve_window(context, start, end)
    return WindowQuery(validate_workspace(workspace), window_start, window_end, validate_event_types(event_types))

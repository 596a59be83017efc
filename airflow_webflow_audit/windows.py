"""The ``[start, end)`` window a task works on: its run's data interval, its partition, or explicit bounds.

Shared by the operator and the sensor so both accept and reject the same things with the same words.
A task may split its window into consecutive windows of one size (:func:`split_window`), each landed
as a run per window would land it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
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


#: The most windows one task splits its interval into: a longer run is better split over more runs.
MAX_WINDOWS_PER_TASK = 10_000


def _from_context(context: Mapping[str, Any], key: str) -> datetime:
    value = context.get(key)
    if value is None:
        raise WebflowConfigurationError(NO_DATA_INTERVAL_HINT)
    return validate_datetime(value, key)


def _run_interval(context: Mapping[str, Any], window_size: timedelta | None) -> tuple[datetime, datetime] | None:
    """The run's own window: its data interval, or (Airflow 3.2+) the partition its key names."""
    if context.get("data_interval_start") is not None or context.get("data_interval_end") is not None:
        return None
    partition_key = _partition_key(context)
    if partition_key is None:
        return None
    from airflow_webflow_audit.partitions import partition_window

    return partition_window(partition_key, context.get("dag"), window_size)


def _partition_key(context: Mapping[str, Any]) -> str | None:
    key = context.get("partition_key")
    if key is None:
        key = getattr(context.get("dag_run"), "partition_key", None)
    return key if isinstance(key, str) and key else None


def resolve_window(
    context: Mapping[str, Any],
    start: object = None,
    end: object = None,
    *,
    window_size: timedelta | None = None,
) -> tuple[datetime, datetime]:
    """The checked UTC window: explicit ``start``/``end`` where given, else the run's data interval, else
    the interval its partition key names (to the timetable's next tick; ``window_size`` on without one)."""
    if is_unset(start) or is_unset(end):
        partition = _run_interval(context, window_size)
        if partition is not None:
            start = partition[0] if is_unset(start) else start
            end = partition[1] if is_unset(end) else end
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


def split_window(start: datetime, end: datetime, window_size: timedelta | None) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` as consecutive windows of ``window_size`` from ``start``; one window without a size.

    Refused when the interval is not a whole number of windows (a last short window would land at a key no
    run of that size lands), or when it holds more than :data:`MAX_WINDOWS_PER_TASK`.
    """
    if window_size is None:
        return [(start, end)]
    span = end - start
    count, rest = divmod(span, window_size)
    if rest or count < 1:
        raise WebflowConfigurationError(
            f"The interval [{start.isoformat()}, {end.isoformat()}) ({span}) is not a whole number of windows of "
            f"window_size={window_size}. Give a window_size that divides the run's interval (an hourly size for a "
            "daily schedule, say), or start= and end= that span whole windows."
        )
    if count > MAX_WINDOWS_PER_TASK:
        raise WebflowConfigurationError(
            f"The interval [{start.isoformat()}, {end.isoformat()}) holds {count} windows of {window_size}; one task "
            f"lands at most {MAX_WINDOWS_PER_TASK}. Use a larger window_size or a more frequent schedule."
        )
    return [(start + index * window_size, start + (index + 1) * window_size) for index in range(count)]


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
    window_size: timedelta | None = None,
) -> WindowQuery:
    """The task's rendered arguments, checked, with the window from :func:`resolve_window`."""
    window_start, window_end = resolve_window(context, start, end, window_size=window_size)
    return WindowQuery(validate_workspace(workspace), window_start, window_end, validate_event_types(event_types))

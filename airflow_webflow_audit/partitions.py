"""The window a partitioned run lands (Airflow 3.2+): its partition key names the start.

A run of a DAG on ``CronPartitionTimetable`` has a ``partition_key`` and no data interval. The key is
the partition's date in the timetable's ``key_format`` and timezone, so it is parsed back with them;
the run's interval ends at the timetable's next tick after it (a task with ``window_size`` splits it
into windows of that size, as it splits a data interval), or, on a timetable without cron ticks,
``window_size`` after its start. Nothing here asks Airflow's metadata: the DAG the task runs in carries its timetable.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.validation import validate_datetime


def partition_window(partition_key: str, dag: Any, window_size: timedelta | None) -> tuple[datetime, datetime]:
    """The run's interval ``[start, end)`` in UTC for its ``partition_key``, read with the DAG's timetable."""
    timetable = getattr(dag, "timetable", None)
    key_format = getattr(timetable, "key_format", None)
    expression = getattr(timetable, "expression", None)
    zone = _zone(getattr(timetable, "timezone", None))
    if isinstance(key_format, str):
        try:
            naive = datetime.strptime(partition_key, key_format)
        except ValueError:
            raise WebflowConfigurationError(
                f"The run's partition key {partition_key!r} does not match its timetable's key_format "
                f"{key_format!r}, so it names no window start. Trigger the run with a key in that format."
            ) from None
        start = _localize(naive, zone)
    else:
        # Not a CronPartitionTimetable: the key must be a timestamp itself.
        start = validate_datetime(partition_key, "partition_key")
    if isinstance(expression, str):
        return start, _next_tick(expression, start, zone, partition_key)
    if window_size is not None:
        return start, start + window_size
    raise WebflowConfigurationError(
        f"The run's partition key {partition_key!r} names the window's start, but the DAG's timetable "
        f"({type(timetable).__name__}) has no cron ticks to say where it ends. Pass window_size= to the task."
    )


def _zone(value: object) -> Any:
    import pendulum

    if value is None:
        return pendulum.UTC
    return pendulum.timezone(value) if isinstance(value, str) else value


def _localize(naive: datetime, zone: Any) -> datetime:
    import pendulum

    local = pendulum.instance(naive, tz=zone) if naive.tzinfo is None else pendulum.instance(naive)
    return datetime.fromtimestamp(local.timestamp(), tz=timezone.utc)


def _next_tick(expression: str, start: datetime, zone: Any, partition_key: str) -> datetime:
    """The cron tick after ``start`` in the timetable's timezone; ``start`` must be a tick itself."""
    from croniter import croniter

    local = start.astimezone(zone)
    if not croniter.match(expression, local):
        raise WebflowConfigurationError(
            f"The run's partition key {partition_key!r} names {local.isoformat()}, which is not a tick of the "
            f"timetable's cron {expression!r}: the key_format drops part of the time. Use a key_format that names "
            "the tick to the cron's resolution, or pass window_size= to the task."
        )
    following = croniter(expression, local).get_next(datetime)
    return datetime.fromtimestamp(following.timestamp(), tz=timezone.utc)

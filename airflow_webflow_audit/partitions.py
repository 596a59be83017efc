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
from airflow_webflow_audit.validation import check_time_bounds, validate_datetime


def partition_window(partition_key: str, dag: Any, window_size: timedelta | None) -> tuple[datetime, datetime]:
    """The run's interval ``[start, end)`` in UTC for its ``partition_key``, read with the DAG's timetable.

    With a cron, the key must name one of its ticks exactly, as the timetable's ``key_format`` spells it,
    and the format must tell the cron's ticks apart: anything else is refused before any request.
    """
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
        start = _localize(naive, zone, partition_key)
    else:
        # Not a CronPartitionTimetable: the key must be a timestamp itself.
        start = validate_datetime(partition_key, "partition_key")
    if isinstance(expression, str):
        end = _next_tick(expression, start, zone, partition_key)
        if isinstance(key_format, str):
            _check_key_format_names_ticks(key_format, expression, start, end, zone)
        return start, end
    if window_size is not None:
        return start, check_time_bounds(start + window_size, "the partition's end")
    raise WebflowConfigurationError(
        f"The run's partition key {partition_key!r} names the window's start, but the DAG's timetable "
        f"({type(timetable).__name__}) has no cron ticks to say where it ends. Pass window_size= to the task."
    )


def _zone(value: object) -> Any:
    import pendulum

    if value is None:
        return pendulum.UTC
    return pendulum.timezone(value) if isinstance(value, str) else value


def _localize(naive: datetime, zone: Any, partition_key: str) -> datetime:
    import pendulum

    try:
        local = pendulum.instance(naive, tz=zone) if naive.tzinfo is None else pendulum.instance(naive)
        start = datetime.fromtimestamp(local.timestamp(), tz=timezone.utc)
    except (OverflowError, ValueError, OSError):
        start = naive.replace(tzinfo=timezone.utc) if naive.tzinfo is None else naive
    return validate_datetime(start, f"the start the partition key {partition_key!r} names")


def _next_tick(expression: str, start: datetime, zone: Any, partition_key: str) -> datetime:
    """The cron tick after ``start`` in the timetable's timezone; ``start`` must be a tick itself, exactly."""
    local = start.astimezone(zone)
    if _tick_after(expression, local - timedelta(seconds=1)) != local:
        raise WebflowConfigurationError(
            f"The run's partition key {partition_key!r} names {local.isoformat()}, which is not a tick of the "
            f"timetable's cron {expression!r} (its ticks fall on whole minutes the cron names). Trigger the run "
            "with a key that names a tick, or pass window_size= to the task."
        )
    following = _tick_after(expression, local)
    return validate_datetime(datetime.fromtimestamp(following.timestamp(), tz=timezone.utc), "the partition's end")


def _tick_after(expression: str, moment: datetime) -> datetime:
    """The first tick of ``expression`` strictly after ``moment`` (aware, in the timetable's timezone)."""
    from croniter import croniter

    return croniter(expression, moment).get_next(datetime)


def _check_key_format_names_ticks(key_format: str, expression: str, start: datetime, end: datetime, zone: Any) -> None:
    """Refuse a ``key_format`` that cannot tell the cron's ticks apart: each tick's key must read back as it."""
    for tick in (start.astimezone(zone), end.astimezone(zone)):
        key = tick.strftime(key_format)
        try:
            back = datetime.strptime(key, key_format)
        except ValueError:
            back = None
        if back is None or back != (tick if back.tzinfo else tick.replace(tzinfo=None)):
            raise WebflowConfigurationError(
                f"The timetable's key_format {key_format!r} cannot name the ticks of its cron {expression!r}: the "
                f"tick {tick.isoformat()} has the key {key!r}, which reads back as "
                f"{back.isoformat() if back else 'nothing'}. Use a key_format down to the cron's resolution "
                "(e.g. '%Y-%m-%dT%H:%M:%S')."
            )

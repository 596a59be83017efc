"""What differs between the Airflow 3 minors this provider supports (3.0 to 3.3): the one module that knows.

Every other module, the example DAGs included, imports these names from here and never branches on
Airflow's version itself. Each name is the newest home first, then the one before it:

- ``conf``: ``airflow.sdk`` from 3.2; ``airflow.configuration`` before.
- ``BaseHook``: ``airflow.sdk`` from 3.1; ``airflow.hooks.base`` before.
- ``AirflowException`` and the other exceptions: ``airflow.sdk.exceptions`` from 3.2;
  ``airflow.exceptions`` before (the same classes, re-exported from 3.2 on).
- ``BaseNotifier``: ``airflow.sdk`` after 3.0.0; ``airflow.sdk.bases.notifier`` in 3.0.0.
- ``CronDataIntervalTimetable``: ``airflow.sdk`` from 3.2; ``airflow.timetables.interval`` before.
- the hook lineage collector: ``airflow.sdk.lineage`` from 3.2; ``airflow.lineage.hook`` before.
- ``aget_connection``: ``BaseHook.aget_connection`` from 3.1; ``get_connection`` in a thread before.
- the trigger state store: from 3.3.2; before it, none (the event trigger refuses to run).
- ``CronPartitionTimetable`` (runs with a ``partition_key``): from 3.2; before it, none
  (:func:`cron_partition_timetable` refuses by name). ``airflow backfill create`` reads its dates as
  partition dates from 3.3.
- ``Stats`` (metrics, StatsD or OpenTelemetry as ``[metrics]`` says): ``airflow.sdk.observability.stats``
  where it exists (the task runner sets it up from 3.3); ``airflow.stats`` before, which later minors keep
  only as a deprecated shim.
"""

from __future__ import annotations

from typing import Any

from airflow import __version__ as AIRFLOW_VERSION
from packaging.version import Version

try:  # Airflow 3.2+
    from airflow.sdk import conf
except ImportError:
    from airflow.configuration import conf  # type: ignore[assignment]

try:  # Airflow 3.1+
    from airflow.sdk import BaseHook
except ImportError:
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef,attr-defined]

try:  # Airflow 3.2+; before, the task runner caught these same classes under airflow.exceptions
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
        AirflowSkipException,
        AirflowTaskTerminated,
    )
except ImportError:
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
        AirflowSkipException,
        AirflowTaskTerminated,
    )

try:  # not in 3.0.0
    from airflow.sdk import BaseNotifier
except ImportError:
    from airflow.sdk.bases.notifier import BaseNotifier

try:  # Airflow 3.2+: the task SDK's timetable; the core one before (the scheduler reads both)
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:
    from airflow.timetables.interval import CronDataIntervalTimetable  # type: ignore[assignment]

__all__ = [
    "AIRFLOW_VERSION",
    "COVERAGE_PAGE_MIN_AIRFLOW",
    "EVENT_TRIGGER_MIN_AIRFLOW",
    "PARTITIONS_MIN_AIRFLOW",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTerminated",
    "BaseHook",
    "BaseNotifier",
    "CronDataIntervalTimetable",
    "aget_connection",
    "conf",
    "cron_partition_timetable",
    "has_coverage_page",
    "has_partitions",
    "has_trigger_state_store",
    "hook_lineage_collector",
    "stats",
]

#: The first Airflow whose triggers get ``asset_state_store``, where the event trigger's cursor survives restarts.
EVENT_TRIGGER_MIN_AIRFLOW = "3.3.2"
#: The first Airflow with partitioned runs (``CronPartitionTimetable``, a run's ``partition_key``).
PARTITIONS_MIN_AIRFLOW = "3.2.0"


def cron_partition_timetable(cron: str, *, timezone: str, key_format: str, run_offset: int | None = None) -> Any:
    """Airflow's ``CronPartitionTimetable``, or a clear refusal on an Airflow without partitions."""
    try:  # Airflow 3.2+
        from airflow.sdk import CronPartitionTimetable
    except ImportError:
        raise ImportError(
            f"Partitioned DAGs need Airflow {PARTITIONS_MIN_AIRFLOW} or later (this is Airflow {AIRFLOW_VERSION}): "
            "schedule the landing on CronDataIntervalTimetable instead, with window_size= to land several "
            "windows per run."
        ) from None
    return CronPartitionTimetable(cron, timezone=timezone, key_format=key_format, run_offset=run_offset)


#: The first Airflow whose UI shows a plugin's page (``external_views``): the coverage page needs it.
COVERAGE_PAGE_MIN_AIRFLOW = "3.1.0"


def has_coverage_page(version: str = AIRFLOW_VERSION) -> bool:
    """Whether Airflow ``version`` (default: this one) can show the coverage page in its UI."""
    return Version(version).release >= Version(COVERAGE_PAGE_MIN_AIRFLOW).release


def has_partitions(version: str = AIRFLOW_VERSION) -> bool:
    """Whether Airflow ``version`` (default: this one) has partitioned runs."""
    return Version(version).release >= Version(PARTITIONS_MIN_AIRFLOW).release


def has_trigger_state_store(version: str = AIRFLOW_VERSION) -> bool:
    """Whether Airflow ``version`` (default: this one) gives event triggers an ``asset_state_store``."""
    return Version(version).release >= Version(EVENT_TRIGGER_MIN_AIRFLOW).release


def hook_lineage_collector() -> Any:
    """Airflow's hook-lineage collector (imported when first needed: it is not needed to parse a DAG)."""
    try:  # Airflow 3.2+
        from airflow.sdk.lineage import get_hook_lineage_collector
    except ImportError:
        from airflow.lineage.hook import get_hook_lineage_collector  # type: ignore[no-redef]
    return get_hook_lineage_collector()


async def aget_connection(conn_id: str) -> Any:
    """Resolve a connection without a blocking lookup on the event loop, which can deadlock a triggerer."""
    aget = getattr(BaseHook, "aget_connection", None)  # Airflow 3.1+
    if aget is not None:
        return await aget(conn_id)
    from asgiref.sync import sync_to_async

    return await sync_to_async(BaseHook.get_connection)(conn_id)


def stats() -> Any:
    """Airflow's ``Stats`` of this process (imported when first needed: nothing is sent while a DAG is parsed)."""
    try:  # where the task SDK has its own metrics
        from airflow.sdk.observability.stats import Stats
    except ImportError:
        from airflow.stats import Stats
    return Stats

"""The provider's metrics: named once here, sent through Airflow's own ``Stats``.

Airflow sends them where ``[metrics]`` says (StatsD with ``statsd_on``, OpenTelemetry with ``otel_on``;
nothing otherwise), after its own ``statsd_prefix``: ``airflow.webflow_audit.requests``. Counters and
timers only: each worker, triggerer and task process sends its own, and StatsD gauges from many
processes would overwrite each other, while counters add up and timers aggregate. Tags (the status,
the workspace, a problem's kind) reach backends that take them (DogStatsD, InfluxDB-style names,
OpenTelemetry attributes); plain StatsD drops them. A metric that cannot be sent never fails a task.

:data:`METRICS` is the table docs/production.md prints, and the test of the production deployment
reads every name from a StatsD listener.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from airflow_webflow_audit.compat import stats

log = logging.getLogger(__name__)

#: Every name starts with it.
PREFIX = "webflow_audit"
COUNTER, TIMER = "counter", "timer"


@dataclass(frozen=True)
class Metric:
    """One metric: its name after :data:`PREFIX`, its kind, what it counts or times, and its tags."""

    name: str
    kind: str
    meaning: str
    tags: tuple[str, ...] = ()

    @property
    def full_name(self) -> str:
        return f"{PREFIX}.{self.name}"


REQUESTS = Metric(
    "requests",
    COUNTER,
    "Requests sent to the audit-log endpoint, every try (retries and 429s included), by each hook: operators, "
    "sensors and triggers alike.",
    ("status",),
)
RATE_LIMITED = Metric("rate_limited", COUNTER, "429 answers met (each one waits out its Retry-After).")
RETRIES = Metric(
    "retries",
    COUNTER,
    "Requests tried again after a transient failure (5xx, a timeout, a cut or unreadable body); 429s are rate_limited.",
)
PAGES = Metric("pages", COUNTER, "Pages received whole and accepted.")
EVENTS_LANDED = Metric(
    "events_landed",
    COUNTER,
    "Events written to storage: a window's first part, or a late part with only the new ones (a rerun that "
    "finds nothing new adds 0).",
    ("workspace",),
)
WINDOWS_LANDED = Metric(
    "windows_landed",
    COUNTER,
    "Windows landed: outcome 'written' (a part was written) or 'unchanged' (its parts already held every event).",
    ("workspace", "outcome"),
)
BYTES_WRITTEN = Metric("bytes_written", COUNTER, "Bytes of the data objects written.", ("workspace",))
EVIDENCE_REFUSED = Metric(
    "evidence_refused",
    COUNTER,
    "Landed evidence a landing or a reader refused, by the chain judge's or the audit's problem kind (corrupt, "
    "misplaced, bad_signature, unexpected_object, ...): alert on any.",
    ("kind",),
)
WINDOW_PULL = Metric("window_pull", TIMER, "How long a window's pull took, from its first request to its last page.")
LANDING_LAG = Metric(
    "landing_lag",
    TIMER,
    "How long after its end a window landed (a scheduled hourly run: the settle delay and the run's start; a "
    "backfill: its age).",
)
#: Every metric, in the order the docs list them.
METRICS = (
    REQUESTS,
    RATE_LIMITED,
    RETRIES,
    PAGES,
    EVENTS_LANDED,
    WINDOWS_LANDED,
    BYTES_WRITTEN,
    EVIDENCE_REFUSED,
    WINDOW_PULL,
    LANDING_LAG,
)


def count(metric: Metric, value: int = 1, **tags: Any) -> None:
    """Add ``value`` to a counter."""
    if value:
        _send("incr", metric, value, tags)


def time_taken(metric: Metric, seconds: float, **tags: Any) -> None:
    """Record one duration of a timer."""
    _send("timing", metric, timedelta(seconds=max(0.0, seconds)), tags)


def _send(method: str, metric: Metric, value: Any, tags: dict[str, Any]) -> None:
    try:
        getattr(stats(), method)(metric.full_name, value, tags={key: str(tag) for key, tag in tags.items()} or None)
    except Exception:  # a metrics backend must never fail a task
        log.debug("Could not send %s", metric.full_name, exc_info=True)

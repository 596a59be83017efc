"""Counting the events of a window that match a sensor's filters, stopping as soon as there are enough.

Shared by :class:`~airflow_webflow_audit.sensors.audit_logs.WebflowAuditLogsSensor` (sync) and its
trigger (async), so both answer the same question the same way. The summary is small and
JSON-safe: it goes to XCom and into a TriggerEvent, never the events themselves.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_webflow_audit.api import parse_timestamp

if TYPE_CHECKING:
    from airflow_webflow_audit.hooks.webflow import WebflowHook


@dataclass(frozen=True)
class EventFilter:
    """Which events count: these types and subtypes (None: any)."""

    event_types: frozenset[str] | None = None
    event_subtypes: frozenset[str] | None = None

    @classmethod
    def of(cls, event_types: list[str] | None, event_subtypes: list[str] | None) -> EventFilter:
        return cls(
            event_types=frozenset(event_types) if event_types else None,
            event_subtypes=frozenset(event_subtypes) if event_subtypes else None,
        )

    def matches(self, event: dict[str, Any]) -> bool:
        # The API filters by type already; checking again costs nothing and guards against it not doing so.
        if self.event_types is not None and event.get("eventType") not in self.event_types:
            return False
        return self.event_subtypes is None or event.get("eventSubType") in self.event_subtypes


@dataclass
class EventTally:
    """Matching events counted so far, with what a summary needs."""

    min_events: int
    chosen: EventFilter = field(default_factory=EventFilter)
    count: int = 0
    first: tuple[datetime, str] | None = None
    last: tuple[datetime, str] | None = None
    by_event_type: Counter[str] = field(default_factory=Counter)
    by_event_sub_type: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, event: dict[str, Any]) -> None:
        if not self.chosen.matches(event):
            return
        self.count += 1
        event_type, subtype = str(event.get("eventType")), str(event.get("eventSubType"))
        self.by_event_type[event_type] += 1
        self.by_event_sub_type.setdefault(event_type, Counter())[subtype] += 1
        stamp = (parse_timestamp(event["timestamp"]), event["timestamp"])
        if self.first is None or stamp[0] < self.first[0]:
            self.first = stamp
        if self.last is None or stamp[0] > self.last[0]:
            self.last = stamp

    @classmethod
    def for_filters(
        cls, min_events: int, event_types: list[str] | None, event_subtypes: list[str] | None
    ) -> EventTally:
        return cls(min_events=min_events, chosen=EventFilter.of(event_types, event_subtypes))

    @property
    def satisfied(self) -> bool:
        return self.count >= self.min_events

    def summary(self, *, complete: bool) -> dict[str, Any]:
        """JSON-safe counts; ``complete`` says whether the whole window was read or the count stopped early."""
        return {
            "count": self.count,
            "min_events": self.min_events,
            "complete": complete,
            "first_timestamp": self.first[1] if self.first else None,
            "last_timestamp": self.last[1] if self.last else None,
            "by_event_type": dict(sorted(self.by_event_type.items())),
            "by_event_sub_type": {t: dict(sorted(c.items())) for t, c in sorted(self.by_event_sub_type.items())},
        }


def _pulls(event_types: Iterable[str] | None) -> list[str | None]:
    return list(event_types) if event_types else [None]


def tally_window(
    hook: WebflowHook, tally: EventTally, workspace: str, start: datetime, end: datetime, event_types: list[str] | None
) -> bool:
    """Feed the window's events to ``tally`` until it is satisfied; True if the whole window was read."""
    for event_type in _pulls(event_types):
        events = hook.iter_audit_logs(workspace, start, end, event_type)
        with contextlib.closing(events):
            for event in events:
                tally.add(event)
                if tally.satisfied:
                    return False
    return True


async def atally_window(
    hook: WebflowHook, tally: EventTally, workspace: str, start: datetime, end: datetime, event_types: list[str] | None
) -> bool:
    """Async twin of :func:`tally_window` (for triggers: no sync connection lookup)."""
    for event_type in _pulls(event_types):
        events = hook.aiter_audit_logs(workspace, start, end, event_type)
        async with contextlib.aclosing(events):
            async for event in events:
                tally.add(event)
                if tally.satisfied:
                    return False
    return True

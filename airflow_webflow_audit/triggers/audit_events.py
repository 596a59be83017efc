"""WebflowAuditEventTrigger: new audit events as asset events, for DAG runs started within a poll of them.

Used in an :class:`~airflow.sdk.AssetWatcher` (event-driven scheduling): it runs on the triggerer,
polls the workspace's audit log after its cursor (:mod:`airflow_webflow_audit.triggers.cursor`)
through the hook's async path (its pacing and retries), and yields one ``TriggerEvent`` per poll
that found matching events; Airflow turns each into an asset event whose ``extra["payload"]`` holds
them. The cursor is stored in the watched asset's state store after each poll, so a triggerer
restart resumes where it stopped. Needs Airflow 3.3.2 (the asset state store).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_webflow_audit.compat import AIRFLOW_VERSION, EVENT_TRIGGER_MIN_AIRFLOW, has_trigger_state_store
from airflow_webflow_audit.exceptions import (
    WebflowAPIError,
    WebflowConfigurationError,
    WebflowPagingError,
)
from airflow_webflow_audit.hooks.connection import check_hook_params
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.tally import EventFilter
from airflow_webflow_audit.triggers.cursor import EventCursor, advance
from airflow_webflow_audit.validation import (
    validate_duration,
    validate_event_subtypes,
    validate_event_types,
    validate_optional_datetime,
    validate_whole_number,
    validate_workspace,
)

MIN_POLL_INTERVAL = 5.0
MAX_EVENTS_PER_POLL = 10_000
#: The key of the cursor in the watched asset's state store.
CURSOR_KEY = "webflow_audit_event_cursor"
#: How far back each poll reads again, for events that reach the log late (Webflow does not say how late).
DEFAULT_LOOKBACK_SECONDS = 300.0
MAX_LOOKBACK = timedelta(days=1)
#: A refused token or a missing workspace is asked again after the poll interval, doubling up to this.
MAX_BACKOFF_SECONDS = 3600.0
#: The cursor past a yielded batch is saved this long after the yield, by when Airflow has stored the
#: asset event (it syncs a triggerer's events each second): a stop before then delivers it again.
SAVE_AFTER_YIELD_SECONDS = 10.0


def check_airflow_version(version: str = AIRFLOW_VERSION) -> None:
    """Refuse Airflow older than :data:`EVENT_TRIGGER_MIN_AIRFLOW`, naming both versions."""
    if not has_trigger_state_store(version):
        raise WebflowConfigurationError(
            f"WebflowAuditEventTrigger needs Airflow {EVENT_TRIGGER_MIN_AIRFLOW} or later (its cursor lives in the "
            f"asset state store); this is Airflow {version}. Upgrade Airflow, or schedule on the landing operator's "
            "asset instead. The rest of the provider works on Airflow 3.0 and later."
        )


class WebflowAuditEventTrigger(BaseEventTrigger):
    """Yield each poll's new audit events that match the filters, as one event; never the same event twice.

    :param workspace: Webflow workspace id or slug.
    :param event_types: only these event types; None for every type.
    :param event_subtypes: only these event subtypes; None for every subtype.
    :param webflow_conn_id: the Webflow connection (its token never enters these kwargs).
    :param poll_interval: seconds between polls (at least 5).
    :param max_events: most events in one asset event; more wait for the next poll, which comes at once.
    :param start_from: ISO 8601 instant to start from on the first run; default: when the trigger starts.
    :param lookback: seconds before the latest event read that each poll reads again, so an event that
        reaches the log that late is still handed out, once (default 5 minutes, at most a day).
    :param hook_params: overrides of the connection's extras, as on the operators.
    """

    def __init__(
        self,
        *,
        workspace: str,
        event_types: list[str] | None = None,
        event_subtypes: list[str] | None = None,
        webflow_conn_id: str = WebflowHook.default_conn_name,
        poll_interval: float = 60.0,
        max_events: int = 500,
        start_from: str | None = None,
        lookback: float = DEFAULT_LOOKBACK_SECONDS,
        hook_params: dict[str, Any] | None = None,
    ) -> None:
        check_airflow_version()
        super().__init__()
        self.workspace = validate_workspace(workspace)
        self.event_types = validate_event_types(event_types)
        self.event_subtypes = validate_event_subtypes(event_subtypes, self.event_types)
        self.webflow_conn_id = webflow_conn_id
        if not isinstance(poll_interval, (int, float)) or not MIN_POLL_INTERVAL <= poll_interval <= 86_400:
            raise WebflowConfigurationError(
                f"poll_interval={poll_interval!r} must be seconds from {MIN_POLL_INTERVAL:g} to 86400."
            )
        self.poll_interval = float(poll_interval)
        self.max_events = validate_whole_number(max_events, "max_events", minimum=1)
        if self.max_events > MAX_EVENTS_PER_POLL:
            raise WebflowConfigurationError(
                f"max_events={max_events} is more than {MAX_EVENTS_PER_POLL}: an asset event's extra is stored in "
                "Airflow's database and shown in its UI. Keep it modest; more events wait for the next poll."
            )
        start = validate_optional_datetime(start_from, "start_from")
        self.start_from = start.isoformat() if start else None
        self.lookback = validate_duration(lookback, "lookback", maximum=MAX_LOOKBACK).total_seconds()
        self.hook_params = check_hook_params(hook_params)
        self._cursor_in_memory: EventCursor | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "workspace": self.workspace,
                "event_types": self.event_types,
                "event_subtypes": self.event_subtypes,
                "webflow_conn_id": self.webflow_conn_id,
                "poll_interval": self.poll_interval,
                "max_events": self.max_events,
                "start_from": self.start_from,
                "lookback": self.lookback,
                "hook_params": self.hook_params,
            },
        )

    def _hook(self) -> WebflowHook:
        return WebflowHook(webflow_conn_id=self.webflow_conn_id, hook_params=self.hook_params)

    def _now(self) -> datetime:
        return datetime.now(timezone.utc)

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def _load_cursor(self) -> EventCursor:
        stored = None
        store = getattr(self, "asset_state_store", None)
        if store is None:
            if self._cursor_in_memory is not None:
                return self._cursor_in_memory
        else:
            try:
                stored = await store.aget(CURSOR_KEY)
            except ValueError as exc:  # one trigger serving several assets has no single store
                self._give_up_store(exc)
        if stored is not None:
            try:
                return EventCursor.from_json(stored)
            except ValueError as exc:
                self.log.error("The stored cursor is unreadable (%s); starting from now.", exc)
        start = datetime.fromisoformat(self.start_from) if self.start_from else self._now()
        self.log.info("No cursor stored for %s yet: watching events from %s.", self.workspace, start.isoformat())
        return EventCursor.starting_at(start)

    async def _save_cursor(self, cursor: EventCursor) -> None:
        self._cursor_in_memory = cursor
        store = getattr(self, "asset_state_store", None)
        if store is not None:
            try:
                await store.aset(CURSOR_KEY, cursor.to_json())
            except ValueError as exc:
                self._give_up_store(exc)

    def _give_up_store(self, reason: ValueError) -> None:
        self.log.error(
            "No state store for the cursor (%s): Airflow runs one trigger for watchers with the same arguments on "
            "several assets. The cursor is kept in memory, so a triggerer restart starts again from start_from or "
            "now. Give each watcher its own arguments (e.g. a different poll_interval), or watch one asset.",
            reason,
        )
        self.asset_state_store = None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self._hook()
        cursor = await self._load_cursor()
        lookback = timedelta(seconds=self.lookback)
        chosen = EventFilter.of(self.event_types, self.event_subtypes)
        backoff = self.poll_interval
        # Cursors not saved yet, each with the moment it may be: Airflow stores a yielded event a state
        # sync or two (about a second each) after the yield, and a triggerer that stops in between drops
        # it. Saved at once, the cursor would then skip a batch nobody got; saved later, a stop in
        # between delivers the batch again instead.
        unsaved: deque[tuple[datetime, EventCursor]] = deque()
        next_poll = self._now()
        while True:
            now = self._now()
            due = None
            while unsaved and unsaved[0][0] <= now:
                due = unsaved.popleft()[1]
            if due is not None:
                await self._save_cursor(due)
            if now < next_poll:
                wake = min(next_poll, unsaved[0][0]) if unsaved else next_poll
                await self._sleep((wake - now).total_seconds())
                continue
            start = cursor.poll_from(lookback)
            if now <= start:
                next_poll = now + timedelta(seconds=self.poll_interval)
                continue
            try:
                events = [event async for event in hook.aiter_audit_logs(self.workspace, start, now)]
            except (WebflowAPIError, WebflowPagingError) as exc:
                # A refused token or a missing workspace needs a person, an outage or a malformed answer
                # needs time; none may spin, and none may stop the watcher for good.
                self.log.error(
                    "Polling the audit log of %s failed: %s Trying again in %.0f s.", self.workspace, exc, backoff
                )
                next_poll = now + timedelta(seconds=backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            backoff = self.poll_interval
            step = advance(cursor, events, matches=chosen.matches, max_events=self.max_events, lookback=lookback)
            if step.events:
                self.log.info(
                    "%d new matching events in %s (%s to %s)%s.",
                    len(step.events),
                    self.workspace,
                    step.events[0]["timestamp"],
                    step.events[-1]["timestamp"],
                    "; more wait for the next poll" if step.truncated else "",
                )
                yield TriggerEvent(
                    {
                        "workspace": self.workspace,
                        "count": len(step.events),
                        "events": step.events,
                        "first_timestamp": step.events[0]["timestamp"],
                        "last_timestamp": step.events[-1]["timestamp"],
                        "truncated": step.truncated,
                    }
                )
                unsaved.append((self._now() + timedelta(seconds=SAVE_AFTER_YIELD_SECONDS), step.cursor))
            elif step.cursor != cursor:
                # Only filtered events: nothing to wait for, but not before a batch still waiting.
                unsaved.append((unsaved[-1][0] if unsaved else now, step.cursor))
            cursor = step.cursor
            next_poll = now if step.truncated else now + timedelta(seconds=self.poll_interval)

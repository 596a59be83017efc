"""WebflowAuditLogsTrigger: the deferred wait of WebflowAuditLogsSensor, on the triggerer's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_webflow_audit.compat import AirflowFailException
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.tally import EventTally, atally_window
from airflow_webflow_audit.validation import validate_window


class WebflowAuditLogsTrigger(BaseTrigger):
    """Poll a window until it holds ``min_events`` matching events; yield exactly one event.

    Takes only primitives (times as ISO 8601 strings) so it serializes as is. Uses the hook's async
    methods, which resolve the connection without a blocking lookup on the event loop. Yields
    ``{"status": "success", **summary}`` once satisfied, or ``{"status": "error", "message",
    "retryable"}`` when the API refuses (4xx) or stays unavailable beyond the hook's retries.
    """

    def __init__(
        self,
        *,
        workspace: str,
        start: str,
        end: str,
        min_events: int = 1,
        event_types: list[str] | None = None,
        event_subtypes: list[str] | None = None,
        webflow_conn_id: str = WebflowHook.default_conn_name,
        poll_interval: float = 60.0,
        hook_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.workspace = workspace
        self.start = start
        self.end = end
        self.min_events = min_events
        self.event_types = list(event_types) if event_types else None
        self.event_subtypes = list(event_subtypes) if event_subtypes else None
        self.webflow_conn_id = webflow_conn_id
        self.poll_interval = float(poll_interval)
        self.hook_params = dict(hook_params or {})

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "workspace": self.workspace,
                "start": self.start,
                "end": self.end,
                "min_events": self.min_events,
                "event_types": self.event_types,
                "event_subtypes": self.event_subtypes,
                "webflow_conn_id": self.webflow_conn_id,
                "poll_interval": self.poll_interval,
                "hook_params": self.hook_params,
            },
        )

    def _hook(self) -> WebflowHook:
        return WebflowHook(webflow_conn_id=self.webflow_conn_id, hook_params=self.hook_params)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self._hook()
        polls = 0
        try:
            start, end = validate_window(self.start, self.end)
            while True:
                polls += 1
                tally = EventTally.for_filters(self.min_events, self.event_types, self.event_subtypes)
                complete = await atally_window(hook, tally, self.workspace, start, end, self.event_types)
                if tally.satisfied:
                    yield TriggerEvent({"status": "success", "polls": polls, **tally.summary(complete=complete)})
                    return
                self.log.info(
                    "%d of %d matching events in [%s, %s) so far; polling again in %.0f s.",
                    tally.count,
                    self.min_events,
                    self.start,
                    self.end,
                    self.poll_interval,
                )
                await asyncio.sleep(self.poll_interval)
        except Exception as exc:
            yield TriggerEvent(
                {
                    "status": "error",
                    "message": f"{type(exc).__name__}: {exc}",
                    # 4xx and bad input fail the task outright; anything else may succeed on a retry.
                    "retryable": not isinstance(exc, AirflowFailException),
                }
            )

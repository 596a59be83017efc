"""WebflowAuditLogsSensor: wait until a window holds enough matching audit events."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_webflow_audit.compat import AirflowSensorTimeout, AirflowSkipException, conf
from airflow_webflow_audit.exceptions import WebflowError, WebflowRequestRejectedError
from airflow_webflow_audit.hooks.connection import check_hook_params
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.tally import EventTally, tally_window
from airflow_webflow_audit.triggers.audit_logs import WebflowAuditLogsTrigger
from airflow_webflow_audit.validation import (
    is_resolved_later,
    validate_event_subtypes,
    validate_event_types,
    validate_whole_number,
    validate_workspace,
)
from airflow_webflow_audit.windows import WindowQuery, resolve_query

if TYPE_CHECKING:
    from airflow.sdk import Context


class WebflowAuditLogsSensor(BaseSensorOperator):
    """Wait until the window holds at least ``min_events`` events matching the type and subtype filters.

    The window is the run's data interval unless ``start``/``end`` are given (same rules and
    messages as :class:`~airflow_webflow_audit.operators.audit_logs.WebflowAuditLogsOperator`). Each
    poke reads pages only until the answer is known: one page when ``min_events`` is small. The
    XCom is a summary -- ``count``, ``first_timestamp``, ``last_timestamp``, ``by_event_type``,
    ``by_event_sub_type``, and ``complete`` (False when counting stopped at ``min_events`` before the
    end of the window) -- never the events.

    Refusals by the API (400, 401, 403, 404) fail the task at once; transient failures are retried
    by the hook. With ``deferrable=True`` the sensor pokes once, then waits in the triggerer
    without holding a worker slot.

    :param workspace: workspace id or slug; omitted or empty, the connection's "Default workspace". (templated)
    :param event_types: only these event types (filtered by the API); None for all. (templated)
    :param event_subtypes: only these subtypes, e.g. ``["user_role_updated"]`` (filtered here;
        unknown ones are refused so a typo cannot wait forever). (templated)
    :param min_events: how many matching events make the answer yes (default 1).
    :param start: window start overriding the data interval. (templated)
    :param end: window end overriding the data interval. (templated)
    :param webflow_conn_id: the Webflow connection. (templated)
    :param hook_params: this task's overrides of the connection's ``max_retries``, ``timeout``,
        ``max_concurrency`` and ``rate_limit_per_minute`` (same ranges as the extras).
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param skip_on_timeout: end as *skipped* when the window stays below ``min_events`` until
        ``timeout`` (a quiet window), while errors still fail the task. Airflow's ``soft_fail``
        skips on every failure, a revoked token included, which would hide a broken monitor.
    """

    template_fields: Sequence[str] = (
        "workspace",
        "event_types",
        "event_subtypes",
        "start",
        "end",
        "webflow_conn_id",
    )
    ui_color = "#4353ff"

    def __init__(
        self,
        *,
        workspace: str | None = None,
        event_types: Sequence[str] | str | None = None,
        event_subtypes: Sequence[str] | str | None = None,
        min_events: int = 1,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        webflow_conn_id: str = WebflowHook.default_conn_name,
        hook_params: dict[str, Any] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        skip_on_timeout: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        validate_whole_number(min_events, "min_events", minimum=1)
        if workspace not in (None, "") and not is_resolved_later(workspace):
            validate_workspace(workspace)
        if not is_resolved_later(event_types) and not is_resolved_later(event_subtypes):
            validate_event_subtypes(event_subtypes, validate_event_types(event_types))
        self.workspace = workspace
        self.event_types = event_types
        self.event_subtypes = event_subtypes
        self.min_events = min_events
        self.start = start
        self.end = end
        self.webflow_conn_id = webflow_conn_id
        self.hook_params = check_hook_params(hook_params)
        self.deferrable = deferrable
        self.skip_on_timeout = skip_on_timeout

    @functools.cached_property
    def hook(self) -> WebflowHook:
        return WebflowHook(webflow_conn_id=self.webflow_conn_id, hook_params=self.hook_params)

    def _query(self, context: Context) -> WindowQuery:
        """Everything a poke needs, checked before any request."""
        query = resolve_query(
            context,
            workspace=self.hook.resolve_workspace(self.workspace),
            event_types=self.event_types,
            start=self.start,
            end=self.end,
        )
        return query._replace(event_subtypes=validate_event_subtypes(self.event_subtypes, query.event_types))

    def poke(self, context: Context) -> PokeReturnValue:
        return self._count(self._query(context))

    def _count(self, query: WindowQuery) -> PokeReturnValue:
        tally = EventTally.for_filters(self.min_events, query.event_types, query.event_subtypes)
        complete = tally_window(self.hook, tally, query.workspace, query.start, query.end, query.event_types)
        self.log.info(
            "%d matching events in [%s, %s) of workspace %s%s; waiting for %d.",
            tally.count,
            query.start.isoformat(),
            query.end.isoformat(),
            query.workspace,
            "" if complete else " (stopped counting there)",
            self.min_events,
        )
        if not tally.satisfied:
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=tally.summary(complete=complete))

    def execute(self, context: Context) -> Any:
        with self._quiet_window_skips():
            return self._execute(context)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        # A deferral that times out comes back here as AirflowSensorTimeout.
        with self._quiet_window_skips():
            return super().resume_execution(next_method, next_kwargs, context)

    @contextlib.contextmanager
    def _quiet_window_skips(self) -> Iterator[None]:
        try:
            yield
        except AirflowSensorTimeout as exc:
            if not self.skip_on_timeout:
                raise
            raise AirflowSkipException(
                f"Fewer than {self.min_events} matching events arrived before the timeout: a quiet window. {exc}"
            ) from exc

    def _execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        query = self._query(context)
        first = self._count(query)
        if first.is_done:
            return first.xcom_value
        self.defer(
            trigger=WebflowAuditLogsTrigger(
                workspace=query.workspace,
                start=query.start.isoformat(),
                end=query.end.isoformat(),
                min_events=self.min_events,
                event_types=query.event_types,
                event_subtypes=query.event_subtypes,
                webflow_conn_id=self.webflow_conn_id,
                poll_interval=self.poke_interval,
                hook_params=self.hook_params,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) if self.timeout is not None else None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Back from the triggerer: the summary, or the error it met."""
        if event.get("status") != "success":
            message = f"Waiting for Webflow audit events failed in the triggerer: {event.get('message')}"
            if event.get("retryable"):
                raise WebflowError(message)
            raise WebflowRequestRejectedError(message)
        summary = {key: value for key, value in event.items() if key not in ("status", "polls")}
        self.log.info("%d matching events found after %s polls in the triggerer.", summary["count"], event.get("polls"))
        return summary

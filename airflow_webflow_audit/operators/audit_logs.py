"""WebflowAuditLogsOperator: a run's interval of audit logs -> its window(s), each a landed object + manifest."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.sdk import Asset, AssetAlias, BaseOperator, ObjectStoragePath

from airflow_webflow_audit.compat import AirflowTaskTerminated, conf
from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.hooks.connection import check_hook_params
from airflow_webflow_audit.hooks.retry import DEFAULT_MAX_WINDOW_ATTEMPTS
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.landing.batch import land_windows, raise_for_windows_not_landed
from airflow_webflow_audit.landing.formats import validate_file_format
from airflow_webflow_audit.landing.horizon import RetentionHorizon
from airflow_webflow_audit.landing.land import LandingPlan, LandingResult, land_window
from airflow_webflow_audit.landing.layout import (
    check_destination,
    check_object_lock_destination,
    landing_extra,
    landing_owner,
    landing_target,
    resolve_destination,
    window_object_path,
    windows_alias_name,
)
from airflow_webflow_audit.landing.writer import LandedPart, ObjectLock, WriteOptions, check_destination_writable
from airflow_webflow_audit.operators.landing_lineage import landing_lineage
from airflow_webflow_audit.signing import signing_for_writer
from airflow_webflow_audit.validation import (
    DEFAULT_SETTLE,
    MAX_SETTLE,
    is_resolved_later,
    validate_duration,
    validate_event_types,
    validate_object_lock,
    validate_whole_number,
    validate_window_size,
    validate_workspace,
)
from airflow_webflow_audit.windows import WindowQuery, resolve_query, split_window

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Shorter waits are slept in place even when deferrable: a round trip through the triggerer costs more.
MIN_DEFER_SECONDS = 5.0
#: What the XCom says of each window when a task lands several.
WINDOW_XCOM_KEYS = ("start", "end", "records", "new_records", "uri", "manifest_uri", "part")


class WebflowAuditLogsOperator(BaseOperator):
    """Land every Webflow audit event of a run's window(s) in S3, GCS or a local folder, once.

    The interval is the run's data interval (``[data_interval_start, data_interval_end)``) unless
    ``start``/``end`` are given; in a partitioned run (Airflow 3.2+, no data interval) it starts at the
    time its ``partition_key`` names and ends at the timetable's next tick. With ``window_size``, the
    interval is split into consecutive windows of that size, each landed exactly as a run per window
    would land it. Each window lands as a chain of parts that are never replaced: the
    first landing writes every event to one gzip JSON Lines (or Parquet) object, created at its final
    key only once whole, then its manifest; a rerun that finds the same events writes nothing, and
    one that finds late events adds a part with only those. Manifests are signed when the signing
    connection exists. See the README for the layout.

    :param workspace: Webflow workspace id or slug; omitted or empty, the connection's "Default
        workspace". (templated)
    :param destination: where to land: an ``ObjectStoragePath`` or a URL string,
        ``s3://<aws_conn_id>@bucket/prefix``, ``gs://[<gcp_conn_id>@]bucket/prefix`` or
        ``file:///absolute/path``. (templated)
    :param event_types: only these event types (one pull per type, all in one object); None for
        every type, including ones this provider does not know yet. A filtered window lands at its own
        key (``audit_logs_<start>_<end>.event_types=<types>.<format>``) and asset, never in place of
        the whole window. (templated)
    :param webflow_conn_id: the Webflow connection. (templated)
    :param hook_params: this task's overrides of the connection's ``max_retries``, ``timeout``,
        ``max_concurrency`` and ``rate_limit_per_minute`` (same ranges as the extras).
    :param file_format: ``"jsonl.gz"`` (default) or ``"parquet"`` (needs the ``parquet`` extra).
    :param start: window start overriding the data interval; aware datetime or ISO 8601. (templated)
    :param end: window end overriding the data interval; aware datetime or ISO 8601. (templated)
    :param max_window_attempts: whole-window re-pulls allowed when late events land inside the part
        already written (see :class:`~airflow_webflow_audit.exceptions.WebflowWindowChangedError`).
    :param settle: how long after the window's end to wait before pulling it, so events that reach
        Webflow's log a little late are in it: a ``timedelta`` or seconds, default 5 minutes, 0 to 7
        days. A task that starts earlier (a scheduled run starts right at the end) waits; an old
        window (a backfill) never does. (templated)
    :param deferrable: wait out ``settle`` in the triggerer, without holding a worker slot (default:
        ``[operators] default_deferrable``); otherwise the task sleeps in place.
    :param signing_conn_id: the connection that signs manifests: a generic one whose password is an
        Ed25519 key (PKCS#8 PEM), an ``aws`` one whose extra names ``kms_key_id``, or a
        ``google_cloud_platform`` one whose extra names ``kms_key_version``. None (default):
        ``webflow_audit_signing`` if it exists, else unsigned; a name given must exist. Its policy
        (``public_keys``, ``unsigned_before``) judges the parts on record. (templated)
    :param require_signing: fail before any request when there is no signing key, instead of landing
        unsigned. None (default): the Webflow connection's extra ``require_signing`` (default false).
    :param object_lock_mode: ``"GOVERNANCE"`` or ``"COMPLIANCE"``: S3 Object Lock on every object this
        task creates, for ``object_lock_days``. The bucket must have Object Lock on (checked before any
        request). s3:// destinations only; on GCS, a bucket retention policy does this.
    :param object_lock_days: how long each object is locked, in days (1 to 36,500).
    :param window_size: split the interval into consecutive windows of this size from its start (a
        ``timedelta``, seconds, ``"1:00:00"`` or ``"PT1H"``; whole seconds): a daily run with
        ``timedelta(hours=1)`` lands the 24 windows an hourly DAG would, at the same keys, so the two can
        take turns on one archive. The windows are pulled several at once on one token budget (the
        connection's ``max_concurrency`` caps their requests together) and share one look at the
        retention horizon. An interval that is not a whole number of windows is refused before any
        request. A window that fails does not stop the others: the task fails naming the windows that
        did not land, and its retry lands only those. None (default): the interval is one window.
        (templated)

    Returns (XCom), never the events: ``{"uri", "manifest_uri", "records", "new_records", "part",
    "start", "end"}``, the window's newest part, its events in all parts, those this run added (0:
    nothing was written). With ``window_size``: ``{"start", "end", "records", "new_records", "windows":
    [{"start", "end", "records", "new_records", "uri", "manifest_uri", "part"}, ...]}``, in window
    order. When ``destination`` and ``workspace`` are not templated, the operator also declares an
    outlet for the workspace's landed logs, so downstream DAGs can be scheduled on it: the
    :class:`~airflow.sdk.Asset` itself, whose event carries the window's uri and count; with
    ``window_size``, an :class:`~airflow.sdk.AssetAlias` through which each window lands its own event
    on that asset, in window order, as a run per window would.
    """

    template_fields: Sequence[str] = (
        "workspace",
        "destination",
        "event_types",
        "start",
        "end",
        "webflow_conn_id",
        "settle",
        "signing_conn_id",
        "window_size",
    )
    ui_color = "#4353ff"  # Webflow blue

    def __init__(
        self,
        *,
        workspace: str | None = None,
        destination: str | ObjectStoragePath,
        event_types: Sequence[str] | str | None = None,
        webflow_conn_id: str = WebflowHook.default_conn_name,
        hook_params: dict[str, Any] | None = None,
        file_format: str = "jsonl.gz",
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        max_window_attempts: int = DEFAULT_MAX_WINDOW_ATTEMPTS,
        settle: timedelta | float | str = DEFAULT_SETTLE,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        signing_conn_id: str | None = None,
        require_signing: bool | None = None,
        object_lock_mode: str | None = None,
        object_lock_days: int | None = None,
        window_size: timedelta | float | str | None = None,
        **kwargs: Any,
    ) -> None:
        if require_signing is not None and not isinstance(require_signing, bool):
            raise WebflowConfigurationError(f"require_signing must be True, False or None, got {require_signing!r}.")
        # Checked when the DAG is parsed, where that is possible: a broken DAG beats a failed run.
        validate_file_format(file_format)
        if not is_resolved_later(window_size):
            validate_window_size(window_size)
        lock = validate_object_lock(object_lock_mode, object_lock_days)
        if lock is not None and not is_resolved_later(destination):
            check_object_lock_destination(destination)
        if not is_resolved_later(destination):
            check_destination(destination)  # offline: no connection lookup while the DAG is parsed
        if workspace not in (None, "") and not is_resolved_later(workspace):
            validate_workspace(workspace)
        checked_types = None if is_resolved_later(event_types) else validate_event_types(event_types)
        validate_whole_number(max_window_attempts, "max_window_attempts", minimum=1)
        if not is_resolved_later(settle):
            validate_duration(settle, "settle", maximum=MAX_SETTLE)
        outlets = list(kwargs.pop("outlets", None) or [])
        inlets = list(kwargs.pop("inlets", None) or [])
        static = workspace not in (None, "") and not any(
            is_resolved_later(value) for value in (destination, workspace, event_types)
        )
        if static and isinstance(workspace, str):
            # A whole-log asset says where it lands, so the coverage page can show it.
            asset = landing_target(destination, workspace, checked_types)
            if not outlets:
                # Several windows land several events: only an alias carries more than one event per task.
                outlets = [asset] if window_size is None else [AssetAlias(name=windows_alias_name(asset))]
            if any(isinstance(outlet, AssetAlias) for outlet in outlets) and asset not in inlets:
                # Events through an alias land on an asset Airflow creates at the first one, unless a DAG
                # names it: two tasks finishing at once would both create it, and Airflow fails one of them
                # although its windows landed. As an inlet (the task does read what is landed there) it is
                # created when the DAG is parsed, and gets no event of its own.
                inlets.append(asset)
        super().__init__(outlets=outlets, inlets=inlets, **kwargs)
        self.workspace = workspace
        self.destination = destination
        self.event_types = event_types
        self.webflow_conn_id = webflow_conn_id
        self.hook_params = check_hook_params(hook_params)
        self.file_format = file_format
        self.start = start
        self.end = end
        self.max_window_attempts = max_window_attempts
        self.settle = settle
        self.deferrable = deferrable
        self.signing_conn_id = signing_conn_id
        self.require_signing = require_signing
        self.object_lock = None if lock is None else ObjectLock(*lock)
        self.window_size = window_size
        self._landing = False  # True while execute() streams a window; on_kill() only acts then
        # What this run pulled and landed, for OpenLineage once the task is done.
        self._lineage_workspace: str | None = None
        self._landed: list[LandedPart] = []

    @functools.cached_property
    def hook(self) -> WebflowHook:
        return WebflowHook(webflow_conn_id=self.webflow_conn_id, hook_params=self.hook_params)

    def execute(self, context: Context) -> dict[str, Any]:
        return self._land(context)

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, window: list[str] | None = None
    ) -> dict[str, Any]:
        """Resumed by the triggerer once the window has settled: land the window resolved before the wait.

        A resumed task renders its templates again, so a window templated on the time (or on an XCom
        that moved) would otherwise be another one.
        """
        return self._land(context, window)

    def _land(self, context: Context, window: list[str] | None = None) -> dict[str, Any]:
        # Every check before the first request.
        window_size = validate_window_size(self.window_size)
        query = resolve_query(
            context,
            workspace=self.hook.resolve_workspace(self.workspace),
            event_types=self.event_types,
            start=self.start if window is None else window[0],
            end=self.end if window is None else window[1],
            window_size=window_size,
        )
        workspace, start, end, event_types = query.workspace, query.start, query.end, query.event_types
        windows = split_window(start, end, window_size)
        settle = validate_duration(self.settle, "settle", maximum=MAX_SETTLE)
        destination = resolve_destination(self.destination)
        _ = self.hook.config  # resolves and checks the connection before anything is written
        require = self.hook.config.require_signing if self.require_signing is None else self.require_signing
        signing = signing_for_writer(self.signing_conn_id, require_signing=require)
        options = WriteOptions(object_lock=self.object_lock)
        horizon = RetentionHorizon(self.hook, workspace)  # one look for all of the task's windows
        plans = [
            LandingPlan(
                query=WindowQuery(workspace, window_start, window_end, event_types),
                object_path=self._object_path(destination, workspace, window_start, window_end, event_types),
                file_format=self.file_format,
                settle=settle,
                max_window_attempts=self.max_window_attempts,
                task_instance=context.get("ti"),
                options=options,
                signer=signing.signer,
                policy=signing.policy,
                horizon=horizon,
            )
            for window_start, window_end in windows
        ]
        self._lineage_workspace = workspace
        check_destination_writable(destination, options)
        self._wait_to_settle(end + settle, settle, window=[start.isoformat(), end.isoformat()])
        self.log.info(
            "Landing Webflow audit logs of workspace %s for [%s, %s)%s%s into %s.",
            workspace,
            start.isoformat(),
            end.isoformat(),
            f" as {len(plans)} windows of {window_size}" if window_size is not None else "",
            f" (event types {', '.join(event_types)})" if event_types else "",
            plans[0].object_path if window_size is None else destination,
        )
        signed_by = (
            f"signed with {signing.signer.key_fingerprint}"
            if signing.signer is not None
            else "unsigned: no signing connection"
        )
        self._landing = True
        try:
            if window_size is None:
                landed = [(plans[0], land_window(self.hook, plans[0], self.log))]
            else:
                outcome = land_windows(self.hook, plans, self.log, workers=self.hook.config.max_concurrency)
                landed = outcome.landed
        finally:
            self._landing = False
        for _, result in landed:
            self._log_written(result, signed_by)
        events = [self._window_summary(plan.query, result) for plan, result in landed]
        owner = landing_extra(self.destination, workspace, event_types)
        self._emit_asset_events(context, [{**owner, **event} for event in events])
        if window_size is None:
            return events[0]
        self.log.info("The retention horizon was looked at %d time(s) for %d windows.", horizon.looks, len(plans))
        raise_for_windows_not_landed(outcome, "The task's retry pulls every window again and lands only these.")
        return {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "records": sum(event["records"] for event in events),
            "new_records": sum(event["new_records"] for event in events),
            "windows": [{key: event[key] for key in WINDOW_XCOM_KEYS} for event in events],
        }

    def _object_path(
        self,
        destination: ObjectStoragePath,
        workspace: str,
        start: datetime,
        end: datetime,
        event_types: list[str] | None,
    ) -> ObjectStoragePath:
        return window_object_path(
            destination,
            workspace=workspace,
            start=start,
            end=end,
            file_format=self.file_format,
            event_types=event_types,
        )

    def _log_written(self, result: LandingResult, signed_by: str) -> None:
        if result.written is None:
            return
        self._landed.append(result.written)
        self.log.info(
            "Landed %d events (%d bytes, sha256 %s) at %s; manifest at %s (%s).",
            result.written.records,
            result.written.size_bytes,
            result.written.sha256,
            result.written.uri,
            result.written.manifest_uri,
            signed_by,
        )

    @staticmethod
    def _window_summary(query: WindowQuery, result: LandingResult) -> dict[str, Any]:
        return {
            "uri": result.uri,
            "manifest_uri": result.manifest_uri,
            "records": result.window_records,
            "new_records": result.new_records,
            "part": result.part,
            "start": query.start.isoformat(),
            "end": query.end.isoformat(),
        }

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the workspace's audit-log endpoint in; the landed object out, with its rows and bytes."""
        return self._lineage()

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """OpenLineage for a failed run: the endpoint it read, and the objects of the windows that did land
        (none for one window: a failed landing writes nothing)."""
        return self._lineage()

    def _lineage(self) -> Any:
        from airflow.providers.openlineage.extractors import OperatorLineage

        if self._lineage_workspace is None:  # failed before the window was resolved
            return OperatorLineage()
        return landing_lineage(
            base_url=self.hook.config.base_url,
            workspace=self._lineage_workspace,
            landed=self._landed,
            file_format=self.file_format,
        )

    def _wait_to_settle(self, ready_at: datetime, settle: timedelta, *, window: list[str]) -> None:
        """Return once ``ready_at`` (the window's end plus ``settle``) has passed; defer or sleep until then."""
        wait = (ready_at - datetime.now(timezone.utc)).total_seconds()
        if wait <= 0:
            return
        self.log.info(
            "Waiting %.0f s %s, until %s (the window's end plus settle=%s), so events that reach Webflow's log "
            "a little late are in the window.",
            wait,
            "in the triggerer" if self.deferrable and wait > MIN_DEFER_SECONDS else "in place",
            ready_at.isoformat(),
            settle,
        )
        # A resume a moment before ready_at (the triggerer's clock) sleeps the rest rather than deferring again.
        if self.deferrable and wait > MIN_DEFER_SECONDS:
            self.defer(
                trigger=DateTimeTrigger(moment=ready_at), method_name="execute_complete", kwargs={"window": window}
            )
        self.hook.clock.sleep(wait)

    def on_kill(self) -> None:
        # Airflow 3 calls this from the task process's SIGTERM handler, on the thread running execute().
        # Raising here unwinds the pull mid-page or mid-wait, and the landing removes its temporary
        # object on the way out: the final key keeps what it held before.
        if self._landing:
            raise AirflowTaskTerminated(
                "Received SIGTERM while landing the window; stopped. Nothing was written at the final key."
            )

    def _emit_asset_events(self, context: Context, extras: list[dict[str, Any]]) -> None:
        """One event per landed window, in window order, through an alias; on an asset (a task has one event
        per asset), its window, or the span of its windows with their counts summed."""
        outlet_events = context.get("outlet_events")
        if outlet_events is None or not extras:
            return
        for outlet in self.outlets:
            if isinstance(outlet, AssetAlias):
                target = self._alias_target(extras[0])
                for extra in extras:
                    outlet_events[outlet].add(target, extra=extra)
            elif isinstance(outlet, Asset):
                outlet_events[outlet].extra = extras[0] if len(extras) == 1 else _whole_interval(extras)

    def _alias_target(self, extra: dict[str, Any]) -> Asset:
        owner = landing_owner(extra)
        assert owner is not None  # every extra this operator builds says its landing
        return landing_target(self.destination, owner.workspace, owner.event_types)


def _whole_interval(extras: list[dict[str, Any]]) -> dict[str, Any]:
    """One asset event's extra for several windows: their span and summed counts, no single object."""
    first, last = extras[0], extras[-1]
    return {
        **{key: first[key] for key in ("destination", "workspace", "event_types")},
        "start": first["start"],
        "end": last["end"],
        "records": sum(extra["records"] for extra in extras),
        "new_records": sum(extra["new_records"] for extra in extras),
        "windows": len(extras),
    }

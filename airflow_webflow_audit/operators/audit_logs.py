"""WebflowAuditLogsOperator: one data-interval window of audit logs -> one landed object + manifest."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.sdk import Asset, BaseOperator, ObjectStoragePath

from airflow_webflow_audit.compat import AirflowTaskTerminated, conf
from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.hooks.connection import check_hook_params
from airflow_webflow_audit.hooks.retry import DEFAULT_MAX_WINDOW_ATTEMPTS
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.landing.formats import validate_file_format
from airflow_webflow_audit.landing.land import LandingPlan, land_window
from airflow_webflow_audit.landing.layout import (
    asset_uri,
    check_destination,
    check_object_lock_destination,
    landing_asset,
    resolve_destination,
    window_object_path,
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
    validate_workspace,
)
from airflow_webflow_audit.windows import resolve_query

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Shorter waits are slept in place even when deferrable: a round trip through the triggerer costs more.
MIN_DEFER_SECONDS = 5.0


class WebflowAuditLogsOperator(BaseOperator):
    """Land every Webflow audit event of one window in S3, GCS or a local folder, once.

    The window is the run's data interval (``[data_interval_start, data_interval_end)``) unless
    ``start``/``end`` are given. The window lands as a chain of parts that are never replaced: the
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

    Returns (XCom) ``{"uri", "manifest_uri", "records", "new_records", "part", "start", "end"}``, never
    the events: the window's newest part, its events in all parts, those this run added (0: nothing
    was written). When
    ``destination`` and ``workspace`` are not templated, the operator also declares an outlet
    :class:`~airflow.sdk.Asset` for the workspace's landed logs and attaches the window's uri and
    count to its event, so downstream DAGs can be scheduled on it.
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
        **kwargs: Any,
    ) -> None:
        if require_signing is not None and not isinstance(require_signing, bool):
            raise WebflowConfigurationError(f"require_signing must be True, False or None, got {require_signing!r}.")
        # Checked when the DAG is parsed, where that is possible: a broken DAG beats a failed run.
        validate_file_format(file_format)
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
        static = workspace not in (None, "") and not any(
            is_resolved_later(value) for value in (destination, workspace, event_types)
        )
        if not outlets and static and isinstance(workspace, str):
            # A whole-log asset says where it lands, so the coverage page can show it.
            if checked_types:
                outlets = [Asset(uri=asset_uri(destination, workspace, checked_types))]
            else:
                outlets = [landing_asset(destination, workspace)]
        super().__init__(outlets=outlets, **kwargs)
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
        self._landing = False  # True while execute() streams a window; on_kill() only acts then
        # What this run pulled and landed, for OpenLineage once the task is done.
        self._lineage_workspace: str | None = None
        self._lineage_object: ObjectStoragePath | None = None
        self._landed: LandedPart | None = None

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
        query = resolve_query(
            context,
            workspace=self.hook.resolve_workspace(self.workspace),
            event_types=self.event_types,
            start=self.start if window is None else window[0],
            end=self.end if window is None else window[1],
        )
        workspace, start, end, event_types = query.workspace, query.start, query.end, query.event_types
        settle = validate_duration(self.settle, "settle", maximum=MAX_SETTLE)
        destination = resolve_destination(self.destination)
        object_path = window_object_path(
            destination,
            workspace=workspace,
            start=start,
            end=end,
            file_format=self.file_format,
            event_types=event_types,
        )
        _ = self.hook.config  # resolves and checks the connection before anything is written
        require = self.hook.config.require_signing if self.require_signing is None else self.require_signing
        signing = signing_for_writer(self.signing_conn_id, require_signing=require)
        options = WriteOptions(object_lock=self.object_lock)
        self._lineage_workspace = workspace
        check_destination_writable(destination, options)
        self._wait_to_settle(end + settle, settle, window=[start.isoformat(), end.isoformat()])
        self.log.info(
            "Landing Webflow audit logs of workspace %s for [%s, %s)%s into %s.",
            workspace,
            start.isoformat(),
            end.isoformat(),
            f" (event types {', '.join(event_types)})" if event_types else "",
            object_path,
        )
        self._landing = True
        try:
            plan = LandingPlan(
                query=query,
                object_path=object_path,
                file_format=self.file_format,
                settle=settle,
                max_window_attempts=self.max_window_attempts,
                task_instance=context.get("ti"),
                options=options,
                signer=signing.signer,
                policy=signing.policy,
            )
            result = land_window(self.hook, plan, self.log)
        finally:
            self._landing = False
        if result.written is not None:
            self._landed = result.written
            self._lineage_object = result.written.path
            self.log.info(
                "Landed %d events (%d bytes, sha256 %s) at %s; manifest at %s (%s).",
                result.written.records,
                result.written.size_bytes,
                result.written.sha256,
                result.written.uri,
                result.written.manifest_uri,
                f"signed with {signing.signer.key_fingerprint}"
                if signing.signer is not None
                else "unsigned: no signing connection",
            )
        summary = {
            "uri": result.uri,
            "manifest_uri": result.manifest_uri,
            "records": result.window_records,
            "new_records": result.new_records,
            "part": result.part,
            "start": start.isoformat(),
            "end": end.isoformat(),
        }
        event = {**summary, "workspace": workspace, "event_types": event_types, "destination": str(self.destination)}
        self._emit_asset_event(context, event)
        return summary

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the workspace's audit-log endpoint in; the landed object out, with its rows and bytes."""
        return self._lineage()

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """OpenLineage for a failed run: the endpoint it read, and no output (nothing was landed)."""
        return self._lineage(landed=False)

    def _lineage(self, *, landed: bool = True) -> Any:
        from airflow.providers.openlineage.extractors import OperatorLineage

        if self._lineage_workspace is None:  # failed before the window was resolved
            return OperatorLineage()
        return landing_lineage(
            base_url=self.hook.config.base_url,
            workspace=self._lineage_workspace,
            object_path=self._lineage_object,
            landed=self._landed if landed else None,
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

    def _emit_asset_event(self, context: Context, extra: dict[str, Any]) -> None:
        outlet_events = context.get("outlet_events")
        if outlet_events is None:
            return
        for outlet in self.outlets:
            if isinstance(outlet, Asset):
                outlet_events[outlet].extra = extra

"""WebflowAuditOCSFOperator: landed windows -> OCSF 1.3.0 Parquet in Amazon Security Lake's custom-source layout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath

from airflow_webflow_audit.audit.bucket import audit_bucket
from airflow_webflow_audit.audit.report import MAX_PROBLEMS_NAMED, MISSING_TIME, AuditReport, refuse_wrong_evidence
from airflow_webflow_audit.exceptions import WebflowConfigurationError, WebflowRangeIncompleteError
from airflow_webflow_audit.landing.layout import check_destination, landing_owner, resolve_destination
from airflow_webflow_audit.landing.reader import WindowChain
from airflow_webflow_audit.ocsf.convert import Conversion, LakeTarget, convert_windows
from airflow_webflow_audit.ocsf.lake import resolve_custom_sources, validate_account_id, validate_region
from airflow_webflow_audit.ocsf.mapping import CLASSES_BY_UID
from airflow_webflow_audit.ocsf.schema import require_pyarrow
from airflow_webflow_audit.signing import DEFAULT_SIGNING_CONN_ID, signing_from_connection
from airflow_webflow_audit.validation import (
    check_window_order,
    is_resolved_later,
    validate_datetime,
    validate_workspace,
)
from airflow_webflow_audit.windows import is_unset, resolve_window

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Lake files listed in the XCom; the log names every one.
MAX_FILES_IN_XCOM = 50


class WebflowAuditOCSFOperator(BaseOperator):
    """
    Convert landed audit-log windows to OCSF 1.3.0 events, as Parquet in Amazon Security Lake's layout.

    Reads what :class:`~airflow_webflow_audit.operators.audit_logs.WebflowAuditLogsOperator` landed
    (whole windows, gzip JSONL) under ``source``, after auditing the range the way
    ``python -m airflow_webflow_audit.audit`` does: a range with a missing, corrupt, tampered-with or
    overlapping window is refused, naming the windows, and nothing is written. Each event becomes one
    OCSF event (see :mod:`airflow_webflow_audit.ocsf.mapping`; ``raw_data`` keeps the landed line), and
    its row goes to the file of its class and UTC day::

        <destination>/ext/<custom source>/region=<region>/accountId=<account_id>/eventDay=<YYYYMMDD>/
            webflow_<workspace>_<start>_<end>_<digest>.parquet

    One OCSF class per custom source and per file; rows sorted by time; zstd; data pages under 1 MB.
    Files are created once, never replaced: a rerun that finds nothing new writes nothing, and one after
    a reconcile landed a late part writes files holding only that part's events.

    The windows converted are those that start in the range: explicit ``start``/``end``; else the run's
    data interval; else, in a run scheduled on the landing asset, the windows its asset events name.

    :param workspace: Workspace id or slug the windows were landed for. (templated)
    :param source: The landing operator's destination. (templated)
    :param destination: The lake's root: the Security Lake bucket (``s3://conn@aws-security-data-lake-…``),
        or any ``s3://``, ``gs://`` or ``file://`` root laid out the same way. (templated)
    :param region: The AWS Region of the partition path (``region=``). (templated)
    :param account_id: The 12-digit AWS account id of the partition path (``accountId=``). (templated)
    :param start: Range start, ISO 8601 or datetime. (templated)
    :param end: Range end. (templated)
    :param custom_sources: The custom source of some OCSF classes instead of the defaults in
        :data:`~airflow_webflow_audit.ocsf.lake.DEFAULT_CUSTOM_SOURCES`, keyed by class uid or name,
        e.g. ``{"Authentication": "webflow-logins"}``.
    :param signing_conn_id: The connection whose key the landed manifests' signatures are checked with
        (default ``webflow_audit_signing``, when it exists); a signature that does not verify refuses the range.
        (templated)

    Returns (XCom) ``{"ranges", "windows", "parts", "events", "rows_by_class", "already_in_lake",
    "unmapped", "files": [{"uri", "class_uid", "source", "event_day", "rows"}]}``.
    """

    template_fields: Sequence[str] = (
        "workspace",
        "source",
        "destination",
        "region",
        "account_id",
        "start",
        "end",
        "signing_conn_id",
    )
    ui_color = "#7b61ff"

    def __init__(
        self,
        *,
        workspace: str,
        source: str | ObjectStoragePath,
        destination: str | ObjectStoragePath,
        region: str,
        account_id: str,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        custom_sources: Mapping[str | int, str] | None = None,
        signing_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        for name, path in (("source", source), ("destination", destination)):
            if not is_resolved_later(path):
                try:
                    check_destination(path)
                except WebflowConfigurationError as exc:
                    raise WebflowConfigurationError(f"{name}: {exc}") from None
        if not is_resolved_later(workspace):
            validate_workspace(workspace)
        if not is_resolved_later(region):
            validate_region(region)
        if not is_resolved_later(account_id):
            validate_account_id(account_id)
        self.sources = resolve_custom_sources(custom_sources)
        super().__init__(**kwargs)
        self.workspace = workspace
        self.source = source
        self.destination = destination
        self.region = region
        self.account_id = account_id
        self.start = start
        self.end = end
        self.signing_conn_id = signing_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        require_pyarrow()
        workspace = validate_workspace(self.workspace)
        target = LakeTarget(
            resolve_destination(self.destination),
            validate_region(self.region),
            validate_account_id(self.account_id),
            self.sources,
        )
        source = resolve_destination(self.source)
        ranges = self._ranges(context, workspace)
        policy = signing_from_connection(
            self.signing_conn_id or DEFAULT_SIGNING_CONN_ID, required=bool(self.signing_conn_id), to_sign=False
        ).policy
        # Every range is audited before anything is written, by the audit's own rules: an incomplete one
        # refuses the whole run. Each part's bytes are checked again against its manifest as they are converted.
        reports = [audit_bucket(source, workspace, start, end, signatures=policy) for start, end in ranges]
        for report in reports:
            self._refuse_incomplete(report)
        total = Conversion()
        for (start, end), report in zip(ranges, reports, strict=True):
            windows = _whole_windows(source, report, start, end)
            self.log.info(
                "Converting %d landed window(s) of %s in [%s, %s) to OCSF %s.",
                len(windows),
                workspace,
                start.isoformat(),
                end.isoformat(),
                target.destination,
            )
            total.add(convert_windows(windows, source=source, workspace=workspace, start=start, end=end, target=target))
        return self._summary(total, ranges)

    def _ranges(self, context: Context, workspace: str) -> list[tuple[datetime, datetime]]:
        """Explicit start/end, else a non-empty data interval, else the windows of the triggering asset events."""
        if not (is_unset(self.start) and is_unset(self.end)):
            return [resolve_window(context, self.start, self.end)]
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        if start is not None and end is not None and start != end:
            return [resolve_window(context)]
        windows = _asset_event_windows(context.get("triggering_asset_events"), workspace)
        if not windows:
            raise WebflowConfigurationError(
                "No range to convert: this run has no data interval (or an empty one, as asset-scheduled runs "
                "have) and no asset event of the landing operator for this workspace. Schedule the DAG on the "
                "landing operator's asset, give it a data-interval schedule, or pass start= and end= (templated, "
                "e.g. from the run's conf)."
            )
        return windows

    def _refuse_incomplete(self, report: AuditReport) -> None:
        for warning in report.warnings:
            self.log.warning("%s", warning)
        refuse_wrong_evidence(report, "converting")
        # A lake holds ranges whole: time the archive does not hold yet is refused too.
        missing = [problem for problem in report.problems if problem.kind in MISSING_TIME]
        if not missing:
            return
        named = "; ".join(p.label() + (f": {p.detail}" if p.detail else "") for p in missing[:MAX_PROBLEMS_NAMED])
        more = len(missing) - MAX_PROBLEMS_NAMED
        raise WebflowRangeIncompleteError(
            f"Not converting [{report.start.isoformat()}, {report.end.isoformat()}) of {report.workspace}: the "
            f"landed range is not complete ({named}{f'; and {more} more' if more > 0 else ''}). Nothing was "
            "written. Land the missing windows (a backfill of the landing DAG) and retry."
        )

    def _summary(self, total: Conversion, ranges: list[tuple[datetime, datetime]]) -> dict[str, Any]:
        for lake_file in total.files:
            self.log.info(
                "%s %s: %d rows of %s.",
                "Created" if lake_file.created else "Found (created by a run racing this one)",
                lake_file.uri,
                lake_file.rows,
                CLASSES_BY_UID[lake_file.class_uid].name,
            )
        if total.unmapped:
            self.log.warning(
                "%d event(s) have a type or subtype the OCSF mapping does not know yet, or lack the user their class "
                "requires; they went to API Activity (6003) with activity Other, raw_data intact: %s.",
                sum(total.unmapped.values()),
                ", ".join(f"{code} x{count}" for code, count in sorted(total.unmapped.items())),
            )
        self.log.info(
            "Read %d events from %d part(s) of %d window(s); wrote %d rows in %d file(s); %d events were in the "
            "lake already.",
            total.events,
            total.parts,
            total.windows,
            sum(total.rows_by_class.values()),
            len(total.files),
            total.already_in_lake,
        )
        return {
            "ranges": [{"start": start.isoformat(), "end": end.isoformat()} for start, end in ranges],
            "windows": total.windows,
            "parts": total.parts,
            "events": total.events,
            "rows_by_class": {str(uid): rows for uid, rows in sorted(total.rows_by_class.items())},
            "already_in_lake": total.already_in_lake,
            "unmapped": dict(sorted(total.unmapped.items())),
            "files": [lake_file.as_json() for lake_file in total.files[:MAX_FILES_IN_XCOM]],
        }


def _whole_windows(source: ObjectStoragePath, report: AuditReport, start: datetime, end: datetime) -> list[WindowChain]:
    """The verified whole gzip JSONL windows of an audited range that start in ``[start, end)``, in order."""
    return [
        WindowChain.at(source, verdict)
        for verdict in report.verified_chains()
        if start <= verdict.place.name.start < end
    ]


def _asset_event_windows(asset_events: Any, workspace: str) -> list[tuple[datetime, datetime]]:
    """The whole windows of ``workspace`` the landing's asset events name, adjacent ones joined, in order."""
    if not asset_events:
        return []
    windows = set()
    for events in asset_events.values():
        for event in events:
            extra = getattr(event, "extra", None) or {}
            owner = landing_owner(extra)
            if owner is None or owner.workspace != workspace or owner.event_types or not extra.get("start"):
                continue
            windows.add(
                check_window_order(validate_datetime(extra["start"], "start"), validate_datetime(extra["end"], "end"))
            )
    joined: list[tuple[datetime, datetime]] = []
    for start, end in sorted(windows):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(end, joined[-1][1]))
        else:
            joined.append((start, end))
    return joined

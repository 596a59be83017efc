"""Landing one window: the hook's pull -> the writer -> the manifest, whole or not at all.

The one way a window reaches storage, for the landing operator and for reconcile's re-landings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.exceptions import WebflowWindowChangedError, WebflowWindowShrankError
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.landing.manifest import COVERAGE_BEFORE, COVERAGE_COMPLETE, PullRecord, build_manifest
from airflow_webflow_audit.landing.reader import read_manifest_at
from airflow_webflow_audit.landing.writer import LandedWindow, open_window
from airflow_webflow_audit.logs import Log
from airflow_webflow_audit.windows import WindowQuery


@dataclass(frozen=True)
class LandingPlan:
    """What to land and how: the window query, where, in which format, and the manifest's context."""

    query: WindowQuery
    object_path: ObjectStoragePath
    file_format: str
    settle: timedelta
    max_window_attempts: int
    task_instance: object | None = None
    #: For a re-landing: what the object it replaces held (``sha256``, ``records``, ``pulled_at``).
    supersedes: dict[str, Any] | None = None


def land_window(hook: WebflowHook, plan: LandingPlan, log: Log) -> LandedWindow:
    """Pull the window and land it; pull it whole again if late events land inside the part written."""
    attempt = 1
    while True:
        try:
            return _land_once(hook, plan, log)
        except WebflowWindowChangedError as exc:
            if attempt >= plan.max_window_attempts:
                raise
            attempt += 1
            log.warning(
                "%s Nothing was written to %s; pulling the whole window again (attempt %d of %d).",
                exc,
                plan.object_path,
                attempt,
                plan.max_window_attempts,
            )


def _land_once(hook: WebflowHook, plan: LandingPlan, log: Log) -> LandedWindow:
    """One pull per event type (one in all without a filter) into one object, then its manifest."""
    workspace, start, end, event_types = plan.query.workspace, plan.query.start, plan.query.end, plan.query.event_types
    pulls: list[PullRecord] = []
    with open_window(plan.object_path, plan.file_format) as out:
        pulls_by_type: list[str | None] = list(event_types) if event_types else [None]
        for event_type in pulls_by_type:
            batches = hook.iter_audit_log_batches(workspace, start, end, event_type)
            pulls.append(PullRecord(event_type, batches.progress))
            for batch in batches:
                out.write(batch)
        written = out.finish()
        # After the pull: a horizon that moved meanwhile only makes the claim more cautious.
        earliest_available = hook.get_earliest_available(workspace)
        manifest = build_manifest(
            workspace=workspace,
            start=start,
            end=end,
            event_types=event_types,
            pulls=pulls,
            written=written,
            task_instance=plan.task_instance,
            pulled_at=datetime.now(timezone.utc),
            earliest_available=earliest_available,
            settle=plan.settle,
            supersedes=plan.supersedes,
        )
        _warn_about_retention(manifest, log)
        _keep_a_fuller_landing(out.manifest_path, manifest)
        return out.commit(manifest)


def _warn_about_retention(manifest: dict[str, Any], log: Log) -> None:
    coverage = manifest["coverage"]
    if coverage == COVERAGE_COMPLETE:
        return
    where = "ends at or before" if coverage == COVERAGE_BEFORE else "starts before"
    log.warning(
        "The window %s the oldest event Webflow still serves for this workspace (%s): events older than "
        "the API's retention are gone from it, so %d events cannot be shown to be all there were. The "
        "manifest says coverage=%s; use an earlier landing of this window, if there is one, as the record.",
        where,
        manifest["earliest_available"],
        manifest["records"],
        coverage,
    )


def _keep_a_fuller_landing(manifest_path: ObjectStoragePath, manifest: dict[str, Any]) -> None:
    """Refuse to replace a landed window with fewer events: an audit log only grows.

    A rerun of a window past the API's retention would otherwise swap a complete object for an empty
    one, losing the only copy.
    """
    landed = read_manifest_at(manifest_path)
    if landed is None or landed.get("filters") != manifest["filters"]:
        return
    before = landed.get("records")
    if isinstance(before, int) and before > manifest["records"]:
        raise WebflowWindowShrankError(
            f"The window already holds {before} events ({manifest_path}, pulled at {landed.get('pulled_at')}), "
            f"but Webflow now serves {manifest['records']} (coverage: {manifest['coverage']}, oldest event served: "
            f"{manifest['earliest_available']}). An audit log only grows, so the API has lost events; the landed "
            "object is kept. If it is wrong, delete it and its manifest, then run this task again."
        )

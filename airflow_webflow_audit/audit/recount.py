"""Recounting landed windows against the API, with as few requests as possible.

One ``limit=1`` request per window gives ``pagination.total`` of the padded window; when it equals
the newest part's ``api_total``, nothing changed. Only when it moved is the window pulled, and its
in-window events compared with those of all its parts, event by event: a change only in the
1-second padding is not stale.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime

from airflow_webflow_audit.audit.report import OK, STALE, AuditReport, WindowReport
from airflow_webflow_audit.hooks.paging import REQUEST_WINDOW_PADDING
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.landing.formats import event_key


def recount(report: AuditReport, hook: WebflowHook, *, settled_before: datetime | None = None) -> list[WindowReport]:
    """Mark the verified whole windows that gained (or changed) events since they were landed as stale.

    Returns the stale windows. A window the API now holds fewer events for has aged out of its
    retention: a warning, never stale (its landed object is the better record). Windows ending
    after ``settled_before`` are still settling: left alone, with a warning.
    """
    stale = []
    for window in _recountable(report):
        if settled_before is not None and window.end > settled_before:
            report.warn(
                f"{window.key}: ends after {settled_before.isoformat()}, still settling; not recounted.", window
            )
            continue
        page = hook.get_audit_logs_page(
            report.workspace,
            limit=1,
            start=window.start - REQUEST_WINDOW_PADDING,
            end=window.end + REQUEST_WINDOW_PADDING,
        )
        report.requests += 1
        if page["pagination"]["total"] == window.api_total:
            continue
        if window.line_keys is None:
            raise ValueError("recount() needs the audit's event keys: call audit_bucket(..., keep_event_keys=True)")
        pulled = _pull(report, hook, window)
        landed = window.line_keys
        new, gone = pulled - landed, landed - pulled
        if gone:
            report.warn(
                f"{window.key}: {gone.total()} of its {landed.total()} landed events are no longer served by the API "
                "(retention); the landed parts are kept as the record.",
                window,
            )
        if new:
            report.flag(
                window,
                STALE,
                f"the API now holds {new.total()} events its parts do not ({pulled.total()} served, "
                f"{landed.total()} landed)",
            )
            stale.append(window)
    return stale


def _recountable(report: AuditReport) -> Iterator[WindowReport]:
    for window in report.windows:
        if window.status == OK and window.event_types is None and window.api_total is not None:
            yield window


def _pull(report: AuditReport, hook: WebflowHook, window: WindowReport) -> Counter[bytes]:
    """The window's in-window events now, by the identity key each would have once landed."""
    keys: Counter[bytes] = Counter()
    batches = hook.iter_audit_log_batches(report.workspace, window.start, window.end)
    for batch in batches:
        for event, line in zip(batch.events, batch.lines, strict=True):
            keys[event_key(window.file_format, event, line)] += 1
    report.requests += batches.progress.pages
    return keys

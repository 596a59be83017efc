"""Recounting landed windows against the API, with as few requests as possible.

One ``limit=1`` request per window gives ``pagination.total`` of the padded window; when it equals
the manifest's ``api_total``, nothing changed. Only when it moved is the window pulled, and its
in-window events compared with the landed ones: a change only in the 1-second padding is not stale.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime

from airflow_webflow_audit.audit.report import OK, STALE, AuditReport, WindowReport
from airflow_webflow_audit.hooks.paging import REQUEST_WINDOW_PADDING
from airflow_webflow_audit.hooks.webflow import WebflowHook


def recount(report: AuditReport, hook: WebflowHook, *, settled_before: datetime | None = None) -> list[WindowReport]:
    """Mark the verified whole windows that gained (or changed) events since they were landed as stale.

    Returns the stale windows. A window the API now holds fewer events for has aged out of its
    retention: a warning, never stale (its landed object is the better record). Windows ending
    after ``settled_before`` are still settling: left alone, with a warning.
    """
    stale = []
    for window in _recountable(report):
        if settled_before is not None and window.end > settled_before:
            report.warnings.append(
                f"{window.key}: ends after {settled_before.isoformat()}, still settling; not recounted."
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
        records, lines_sha256 = _pull(report, hook, window)
        landed = window.records or 0
        if records < landed:
            report.warnings.append(
                f"{window.key}: the API now serves {records} of its {landed} landed events (retention); "
                "the landed object is kept as the record."
            )
        elif records > landed or (window.lines_sha256 is not None and lines_sha256 != window.lines_sha256):
            change = f"{records - landed} more" if records > landed else "the same number of, but different,"
            report.flag(window, STALE, f"the API now holds {change} events ({records} vs {landed} landed)")
            stale.append(window)
    return stale


def _recountable(report: AuditReport) -> Iterator[WindowReport]:
    for window in report.windows:
        if window.status == OK and window.event_types is None and window.api_total is not None:
            yield window


def _pull(report: AuditReport, hook: WebflowHook, window: WindowReport) -> tuple[int, str]:
    """The window's in-window events now: their count and the sha256 of their lines, as landing writes them."""
    digest = hashlib.sha256()
    records = 0
    batches = hook.iter_audit_log_batches(report.workspace, window.start, window.end)
    for batch in batches:
        for line in batch.lines:
            digest.update(line)
        records += len(batch.lines)
    report.requests += batches.progress.pages
    return records, digest.hexdigest()

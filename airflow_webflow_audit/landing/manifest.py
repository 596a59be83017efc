"""The manifest of a landed window, built in one place from what the pull and the writer saw.

A manifest is a claim that the object beside it holds every event of its window, once: it says
only what the pull proved (records handed out, the API's totals, re-reads) and what the writer
wrote (sha256, size), so a reader can verify the object from the bucket alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from airflow_webflow_audit import __version__
from airflow_webflow_audit.hooks.paging import PullProgress

#: 2 added ``earliest_available``, ``coverage`` and ``settle_seconds``.
MANIFEST_FORMAT_VERSION = 2

#: ``coverage`` values: how far the API's retention lets the manifest vouch for its window.
COVERAGE_COMPLETE = "complete"
COVERAGE_PARTLY_BEFORE = "partly_before_earliest_available"
COVERAGE_BEFORE = "before_earliest_available"


def coverage_of(start: datetime, end: datetime, earliest_available: datetime | None) -> str:
    """Whether the window lies where the API still serves events.

    The oldest event served is all that can be seen of the retention horizon: a window that ends at
    or before it may have lost every event, one that straddles it the part before it. Nothing served
    at all says nothing about retention, so it counts as complete.
    """
    if earliest_available is None or start >= earliest_available:
        return COVERAGE_COMPLETE
    return COVERAGE_BEFORE if end <= earliest_available else COVERAGE_PARTLY_BEFORE


@dataclass(frozen=True)
class WrittenObject:
    """What the writer put in a window's data object."""

    uri: str
    file_format: str
    records: int
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class PullRecord:
    """One pull of a window (one per event type when the task filters by type) and its counters."""

    event_type: str | None
    progress: PullProgress


def build_manifest(
    *,
    workspace: str,
    start: datetime,
    end: datetime,
    event_types: Sequence[str] | None,
    pulls: Sequence[PullRecord],
    written: WrittenObject,
    task_instance: object | None,
    pulled_at: datetime,
    earliest_available: datetime | None,
    settle: timedelta,
    supersedes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest of one landed window (see the README for each field)."""
    totals = [pull.progress.api_total for pull in pulls]
    return {
        "manifest_format_version": MANIFEST_FORMAT_VERSION,
        "workspace": workspace,
        "window": {"start": start.isoformat(), "end": end.isoformat(), "end_exclusive": True},
        "filters": {"event_types": None if event_types is None else list(event_types)},
        "records": written.records,
        "earliest_available": None if earliest_available is None else earliest_available.isoformat(),
        "coverage": coverage_of(start, end, earliest_available),
        # pagination.total of the requests, which ask for 1 s more on each side than the window.
        "api_total": None if None in totals else sum(t for t in totals if t is not None),
        "pulls": [
            {
                "event_type": pull.event_type,
                "records": pull.progress.records,
                "api_total": pull.progress.api_total,
                "served": pull.progress.served,
                "pages": pull.progress.pages,
                "restarts": pull.progress.restarts,
                "outside_window": pull.progress.out_of_window,
            }
            for pull in pulls
        ],
        "object": {
            "uri": written.uri,
            "file_format": written.file_format,
            "sha256": written.sha256,
            "size_bytes": written.size_bytes,
        },
        "provider": {"name": "airflow-webflow-audit", "version": __version__},
        "airflow": {
            "dag_id": getattr(task_instance, "dag_id", None),
            "task_id": getattr(task_instance, "task_id", None),
            "run_id": getattr(task_instance, "run_id", None),
            "try_number": getattr(task_instance, "try_number", None),
        },
        "pulled_at": pulled_at.isoformat(timespec="seconds"),
        # How long after the window's end the pull waited at least (0 for a window already that old).
        "settle_seconds": settle.total_seconds(),
        # Set by a re-landing: what the replaced object held (sha256, records, pulled_at).
        "supersedes": supersedes,
    }


def encode_manifest(manifest: dict[str, Any]) -> bytes:
    """The manifest's bytes as landed: indented, keys sorted, UTF-8."""
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")

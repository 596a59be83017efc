"""The manifest of one part of a landed window, built in one place from what the pull and the writer saw.

A manifest is a claim that the object beside it, with the parts before it, holds every event of its
window, once: it says only what the pull proved (records handed out, the API's totals, re-reads),
what the writer wrote (sha256, size), which parts came before (each one's object and manifest
sha256), and where it belongs (workspace, window, filter, part, object key), so a reader can verify
the window from the bucket alone. Signed (see :mod:`airflow_webflow_audit.signing`), it also shows
that nobody without the key wrote it, and the chain judge (:mod:`.chain`) that it lies where it says.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from airflow_webflow_audit import __version__
from airflow_webflow_audit.hooks.paging import PullProgress

#: 2 added ``earliest_available``, ``coverage`` and ``settle_seconds``. 3 added ``part`` (the chain of
#: parts), ``window_records`` and ``signature``, and dropped ``supersedes`` (a window is never replaced).
#: 4 added what binds a manifest to its place: ``workspace_identity`` (the workspace's id and slug as
#: the events name it) and ``object.key`` (the data object's key under the destination).
MANIFEST_FORMAT_VERSION = 4


@dataclass(frozen=True)
class WrittenObject:
    """What the writer put in a window's data object."""

    uri: str
    file_format: str
    records: int
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class PreviousPart:
    """A part before the one a manifest describes, as that manifest names it."""

    key: str
    sha256: str
    records: int
    manifest_sha256: str

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "sha256": self.sha256,
            "records": self.records,
            "manifest_sha256": self.manifest_sha256,
        }


@dataclass(frozen=True)
class PullRecord:
    """One pull of a window (one per event type when the task filters by type) and its counters."""

    event_type: str | None
    progress: PullProgress


def build_manifest(
    *,
    workspace: str,
    workspace_identity: dict[str, Any] | None,
    object_key: str,
    start: datetime,
    end: datetime,
    event_types: Sequence[str] | None,
    pulls: Sequence[PullRecord],
    written: WrittenObject,
    task_instance: object | None,
    pulled_at: datetime,
    earliest_available: datetime | None,
    coverage: str,
    settle: timedelta,
    part: int = 1,
    previous: Sequence[PreviousPart] = (),
    adopted: bool = False,
) -> dict[str, Any]:
    """The manifest of one part of a landed window (see the README for each field)."""
    totals = [pull.progress.api_total for pull in pulls]
    return {
        "manifest_format_version": MANIFEST_FORMAT_VERSION,
        # The workspace asked for (its folder's name), and as the events name it: None when there were none.
        "workspace": workspace,
        "workspace_identity": workspace_identity,
        "window": {"start": start.isoformat(), "end": end.isoformat(), "end_exclusive": True},
        "filters": {"event_types": None if event_types is None else list(event_types)},
        # This part's events; with the parts before it, the window's.
        "records": written.records,
        "window_records": written.records + sum(p.records for p in previous),
        "part": {
            "number": part,
            "previous": [p.to_json() for p in previous],
            # Written by a later landing for a data object whose own landing stopped before its manifest,
            # once every event in it was found in the API's window and in no earlier part.
            "adopted": adopted,
        },
        "earliest_available": None if earliest_available is None else earliest_available.isoformat(),
        # What the retention horizon lets this manifest vouch for (see landing.horizon.coverage_of).
        "coverage": coverage,
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
            "key": object_key,
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
    }


def encode_manifest(manifest: dict[str, Any]) -> bytes:
    """The manifest's bytes as landed: indented, keys sorted, UTF-8."""
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")

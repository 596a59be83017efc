"""Helpers for tests that land windows: run the operator on a context, read what it wrote."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import ObjectStoragePath
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_webflow_audit.hooks.paging import PullProgress
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.jsonlines import EventBatch, dump_line
from airflow_webflow_audit.landing.horizon import COVERAGE_COMPLETE
from airflow_webflow_audit.landing.layout import MANIFEST_SUFFIX, parse_object_name, part_sibling, window_object_path
from airflow_webflow_audit.landing.manifest import PullRecord, build_manifest
from airflow_webflow_audit.landing.writer import LandedPart, open_part
from airflow_webflow_audit.operators.audit_logs import WebflowAuditLogsOperator
from airflow_webflow_audit.signing import ManifestSigner


def make_operator(clock: Any = None, **kwargs: Any) -> WebflowAuditLogsOperator:
    """The operator, its hook on an injected clock (retries never sleep for real)."""
    kwargs.setdefault("task_id", "land_audit_logs")
    kwargs.setdefault("workspace", "hitchhikers-workspace")
    operator = WebflowAuditLogsOperator(**kwargs)
    if clock is not None:
        operator.hook = WebflowHook(
            operator.webflow_conn_id, clock=clock, rng=random.Random(0), hook_params=operator.hook_params
        )
    return operator


def run_window(
    operator: WebflowAuditLogsOperator, start: datetime | None, end: datetime | None, **context: Any
) -> tuple[dict[str, Any], OutletEventAccessors]:
    """``execute`` on the smallest context a scheduled run gives: the data interval and outlet events."""
    outlet_events = OutletEventAccessors()
    full_context: dict[str, Any] = {"outlet_events": outlet_events, **context}
    if start is not None:
        full_context["data_interval_start"] = start
    if end is not None:
        full_context["data_interval_end"] = end
    return operator.execute(full_context), outlet_events


def read_events(uri: str) -> list[dict[str, Any]]:
    data = ObjectStoragePath(uri).read_bytes()
    return [json.loads(line) for line in gzip.decompress(data).splitlines()]


def read_window(uri: str) -> list[dict[str, Any]]:
    """Every event of the window whose first part is at ``uri``: its parts' events, part after part."""
    first = ObjectStoragePath(uri)
    name = parse_object_name(first.name)
    assert name is not None, uri
    events, number = read_events(uri), 2
    while (part := part_sibling(first, name, number)).exists():
        events += read_events(str(part))
        number += 1
    return events


def by_time(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events in the API's order (time, then their JSON), to compare a window's parts with a fresh pull."""
    return sorted(events, key=lambda e: (e["timestamp"], json.dumps(e, sort_keys=True)))


def read_manifest(uri: str) -> dict[str, Any]:
    return json.loads(ObjectStoragePath(uri).read_bytes())


def sha256_of(uri: str) -> str:
    return hashlib.sha256(ObjectStoragePath(uri).read_bytes()).hexdigest()


def all_keys(root: ObjectStoragePath) -> list[str]:
    """Every object under ``root`` (hidden temporary ones included), relative to it."""
    base = root.path.rstrip("/")
    return sorted(path[len(base) + 1 :] for path in root.fs.find(root.path))


def snapshot(root: ObjectStoragePath) -> dict[str, bytes]:
    """Every object under ``root`` with its bytes."""
    return {key: (root / key).read_bytes() for key in all_keys(root)} if root.exists() else {}


def batch_of(events: list[dict[str, Any]]) -> EventBatch:
    """A batch of events from a test, serialized the stdlib way."""
    return EventBatch(events, [dump_line(event) for event in events])


def land_events(
    path: ObjectStoragePath,
    batches: Iterable[list[dict[str, Any]]],
    *,
    file_format: str = "jsonl.gz",
    manifest: dict[str, Any] | None = None,
) -> LandedPart:
    """Land batches of events at ``path`` as the operator does, with a stand-in manifest."""
    with open_part(path, file_format) as out:
        for events in batches:
            out.write(batch_of(list(events)))
        written = out.finish()
        return out.commit({**(manifest or {}), "records": written.records, "object": asdict(written)})


def land_window_events(
    root: ObjectStoragePath,
    start: datetime,
    end: datetime,
    events: list[dict[str, Any]],
    *,
    workspace: str = "hitchhikers-workspace",
    event_types: list[str] | None = None,
    file_format: str = "jsonl.gz",
    signer: ManifestSigner | None = None,
) -> ObjectStoragePath:
    """Land ``events`` as part 1 of a window under ``root``, with the manifest a landing writes (signed if a
    signer is given), without a pull: for tests of what reads landed windows."""
    path = window_object_path(
        root, workspace=workspace, start=start, end=end, file_format=file_format, event_types=event_types
    )
    progress = PullProgress(pages=1, records=len(events), api_total=len(events), served=len(events))
    named = next((e["workspace"] for e in events if isinstance(e.get("workspace"), dict)), None)
    with open_part(path, file_format) as out:
        out.write(batch_of(events))
        written = out.finish()
        manifest = build_manifest(
            workspace=workspace,
            workspace_identity=None if named is None else {"id": named.get("id"), "slug": named.get("slug")},
            object_key=f"workspace={workspace}/dt={start:%Y-%m-%d}/{path.name}",
            start=start,
            end=end,
            event_types=event_types,
            pulls=[PullRecord(None, progress)],
            written=written,
            task_instance=None,
            pulled_at=end,
            earliest_available=None,
            coverage=COVERAGE_COMPLETE,
            settle=timedelta(0),
        )
        out.commit(signer.sign(manifest) if signer is not None else manifest)
    return path


def rewrite_consistently(root: ObjectStoragePath, key: str, drop: str = "user_access") -> dict[str, Any]:
    """What a bucket writer without the key can do: drop one event of type ``drop`` from the object at
    ``key`` and return its manifest with the new records, sha256 and size (the old signature kept)."""
    path, manifest_path = root / key, root / (key + MANIFEST_SUFFIX)
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    victim = next(i for i, line in enumerate(lines) if json.loads(line)["eventType"] == drop)
    data = gzip.compress(b"".join(lines[:victim] + lines[victim + 1 :]), mtime=0)
    path.unlink()
    path.write_bytes(data)
    manifest = json.loads(manifest_path.read_bytes())
    manifest["records"] -= 1
    manifest["window_records"] -= 1
    manifest["object"].update(sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    return manifest


def put_manifest(root: ObjectStoragePath, key: str, manifest: dict[str, Any]) -> None:
    """Replace the manifest of the part at ``key`` (a bucket writer can, where the bucket allows it)."""
    path = root / (key + MANIFEST_SUFFIX)
    if path.exists():
        path.unlink()
    path.write_bytes(json.dumps(manifest, indent=2, sort_keys=True).encode())

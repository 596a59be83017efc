"""``land_window``, the batch and the bucket audit on the in-memory backend (``memory://``): no emulator, no
HTTP server, no disk. The API is an ``httpx.MockTransport`` serving a list of events as Webflow pages them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.api import parse_timestamp
from airflow_webflow_audit.audit.bucket import audit_bucket
from airflow_webflow_audit.exceptions import WebflowArchiveTamperedError, WebflowLandingConflictError
from airflow_webflow_audit.landing.batch import land_windows
from airflow_webflow_audit.landing.chain import MISSING_MANIFEST
from airflow_webflow_audit.landing.horizon import RetentionHorizon
from airflow_webflow_audit.landing.land import LandingPlan, land_window
from airflow_webflow_audit.landing.layout import MANIFEST_SUFFIX, window_object_path
from airflow_webflow_audit.landing.storage import backend_of
from airflow_webflow_audit.landing.writer import open_part
from airflow_webflow_audit.testing.memory import memory_storage
from airflow_webflow_audit.windows import WindowQuery
from tests.conftest import event, page_response
from tests.landing_helpers import batch_of, read_window, snapshot

WORKSPACE = "hitchhikers-workspace"
DAY = datetime(2026, 10, 1, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
DESTINATION = "memory://bucket/audit"
LOG = logging.getLogger("tests.landing_in_memory")


class AuditLogAPI:
    """The audit-log endpoint over ``events``: ``from``/``to`` bounds, ascending, ``offset``/``limit`` pages."""

    def __init__(self, events: list[dict]) -> None:
        self.events = events

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        low = parse_timestamp(params["from"]) if "from" in params else None
        high = parse_timestamp(params["to"]) if "to" in params else None
        chosen = sorted(
            (e for e in self.events if (low is None or parse_timestamp(e["timestamp"]) >= low))
            if high is None
            else (
                e
                for e in self.events
                if (low is None or parse_timestamp(e["timestamp"]) >= low) and parse_timestamp(e["timestamp"]) <= high
            ),
            key=lambda e: e["timestamp"],
        )
        offset, limit = int(params.get("offset", 0)), int(params.get("limit", 100))
        return page_response(chosen[offset : offset + limit], total=len(chosen), offset=offset)


def events_in(start: datetime, hours: int, per_hour: int) -> list[dict]:
    return [
        event((start + h * HOUR + timedelta(minutes=1 + 50 * i / per_hour)).isoformat().replace("+00:00", "Z"))
        for h in range(hours)
        for i in range(per_hour)
    ]


@pytest.fixture
def memory() -> Iterator[ObjectStoragePath]:
    with memory_storage():
        yield ObjectStoragePath(DESTINATION)


@pytest.fixture
def api(mock_hook):
    # One older event: the API's retention horizon lies before every window landed here.
    served = AuditLogAPI([event("2026-09-01T00:00:00.000Z"), *events_in(DAY, 4, 30)])
    hook, requests = mock_hook(served)
    return served, hook, requests


def plan_for(hook, start: datetime, end: datetime, destination: str = DESTINATION) -> LandingPlan:
    return LandingPlan(
        query=WindowQuery(WORKSPACE, start, end, None),
        object_path=window_object_path(
            ObjectStoragePath(destination), workspace=WORKSPACE, start=start, end=end, file_format="jsonl.gz"
        ),
        file_format="jsonl.gz",
        settle=timedelta(0),
        max_window_attempts=3,
        horizon=RetentionHorizon(hook, WORKSPACE),
    )


def served_in(api: AuditLogAPI, start: datetime, end: datetime) -> list[dict]:
    return [e for e in api.events if start <= parse_timestamp(e["timestamp"]) < end]


def test_memory_is_a_backend_like_any_object_store_but_no_destination(memory):
    assert backend_of(memory).plain_uri("memory", "bucket/audit") == "memory://bucket/audit"
    first = memory / "a.txt"
    create = backend_of(first).open_exclusive(first, {})
    create.raw.write(b"first")
    assert not first.exists()  # visible only once whole
    create.complete()
    second = backend_of(first).open_exclusive(first, {})
    second.raw.write(b"second")
    with pytest.raises(WebflowLandingConflictError, match="exists already"):
        second.complete()
    assert first.read_bytes() == b"first"
    from airflow_webflow_audit.exceptions import WebflowConfigurationError
    from airflow_webflow_audit.landing.layout import check_destination

    with pytest.raises(WebflowConfigurationError, match="not supported"):
        check_destination(DESTINATION)


def test_a_first_landing_writes_part_one_and_a_rerun_writes_nothing(memory, api):
    served, hook, _ = api
    start, end = DAY, DAY + HOUR
    result = land_window(hook, plan_for(hook, start, end), LOG)
    assert (result.part, result.new_records, result.window_records) == (1, 30, 30)
    assert result.manifest["part"] == {"number": 1, "previous": [], "adopted": False}
    assert read_window(result.uri) == served_in(served, start, end)
    landed = snapshot(memory)
    assert sorted(landed) == sorted([result.uri.split("audit/", 1)[1], result.manifest_uri.split("audit/", 1)[1]])
    again = land_window(hook, plan_for(hook, start, end), LOG)
    assert (again.written, again.part, again.window_records) == (None, 1, 30)
    assert snapshot(memory) == landed


def test_late_events_land_as_the_next_part_naming_the_first(memory, api):
    served, hook, _ = api
    start, end = DAY, DAY + HOUR
    first = land_window(hook, plan_for(hook, start, end), LOG)
    served.events.append(event("2026-10-01T00:59:30.000Z"))
    second = land_window(hook, plan_for(hook, start, end), LOG)
    assert (second.part, second.new_records, second.window_records) == (2, 1, 31)
    previous = second.manifest["part"]["previous"]
    assert [link["sha256"] for link in previous] == [first.manifest["object"]["sha256"]]
    assert sorted(read_window(first.uri), key=json.dumps) == sorted(served_in(served, start, end), key=json.dumps)


def test_an_orphan_the_pull_vouches_for_is_adopted_and_one_it_does_not_is_refused(memory, api):
    served, hook, _ = api
    start, end = DAY, DAY + HOUR
    first = land_window(hook, plan_for(hook, start, end), LOG)
    late = event("2026-10-01T00:59:30.000Z")
    served.events.append(late)
    orphan = ObjectStoragePath(first.uri.replace(".jsonl.gz", ".part-0002.jsonl.gz"))
    with open_part(orphan, "jsonl.gz") as out:  # a landing that stopped before its manifest
        out.write(batch_of([late]))
        out.finish()
    adopted = land_window(hook, plan_for(hook, start, end), LOG)
    assert (adopted.part, adopted.new_records, adopted.window_records) == (2, 0, 31)
    assert json.loads(ObjectStoragePath(str(orphan) + MANIFEST_SUFFIX).read_bytes())["part"]["adopted"] is True

    planted = ObjectStoragePath(first.uri.replace(".jsonl.gz", ".part-0003.jsonl.gz"))
    with open_part(planted, "jsonl.gz") as out:
        out.write(batch_of([event("2026-10-01T00:30:30.000Z", actor={"id": "x"})]))  # nothing Webflow serves
        out.finish()
    before = snapshot(memory)
    with pytest.raises(WebflowArchiveTamperedError, match="no landing of this provider wrote it"):
        land_window(hook, plan_for(hook, start, end), LOG)
    assert snapshot(memory) == before


def test_a_changed_part_is_refused_before_any_request_and_nothing_is_written(memory, api):
    _, hook, requests = api
    start, end = DAY, DAY + HOUR
    first = land_window(hook, plan_for(hook, start, end), LOG)
    path = ObjectStoragePath(first.uri)
    path.fs.pipe_file(path.path, path.read_bytes() + b"\x00")
    before, sent = snapshot(memory), len(requests)
    with pytest.raises(WebflowArchiveTamperedError, match="corrupt"):
        land_window(hook, plan_for(hook, start, end), LOG)
    assert snapshot(memory) == before
    assert len(requests) == sent


def test_the_batch_lands_each_window_and_one_refusal_does_not_stop_the_others(memory, api):
    _, hook, _ = api
    hours = [(DAY + h * HOUR, DAY + (h + 1) * HOUR) for h in range(4)]
    outcome = land_windows(hook, [plan_for(hook, *hour) for hour in hours], LOG, workers=2)
    assert [result.window_records for _, result in outcome.landed] == [30, 30, 30, 30]
    assert outcome.not_landed == []
    second = ObjectStoragePath(outcome.landed[1][1].uri)
    second.fs.pipe_file(second.path, b"not what was landed")
    again = land_windows(hook, [plan_for(hook, *hour) for hour in hours], LOG, workers=2)
    assert [plan.query.start for plan, _ in again.not_landed] == [hours[1][0]]
    assert isinstance(again.not_landed[0][1], WebflowArchiveTamperedError)
    assert [result.written for _, result in again.landed] == [None, None, None]


def test_the_bucket_audit_proves_the_range_and_names_a_missing_manifest(memory, api):
    _, hook, _ = api
    hours = [(DAY + h * HOUR, DAY + (h + 1) * HOUR) for h in range(4)]
    outcome = land_windows(hook, [plan_for(hook, *hour) for hour in hours], LOG, workers=2)
    report = audit_bucket(memory, WORKSPACE, DAY, DAY + 4 * HOUR)
    assert report.complete, report.render()
    assert [w.records for w in report.windows] == [30, 30, 30, 30]
    manifest = ObjectStoragePath(outcome.landed[2][1].manifest_uri)
    manifest.unlink()
    report = audit_bucket(memory, WORKSPACE, DAY, DAY + 4 * HOUR)
    assert not report.complete
    assert [(w.start, w.status) for w in report.windows if w.status != "ok"] == [(hours[2][0], MISSING_MANIFEST)]


def test_a_rerun_reports_the_part_it_writes_and_never_the_parts_it_checked(memory, api, monkeypatch):
    import airflow.sdk.lineage
    from airflow.sdk.lineage import HookLineageCollector

    collector = HookLineageCollector()
    monkeypatch.setattr(airflow.sdk.lineage, "get_hook_lineage_collector", lambda: collector)
    served, hook, _ = api
    first = land_window(hook, plan_for(hook, DAY, DAY + HOUR), LOG)
    served.events.append(event("2026-10-01T00:30:30.000Z"))  # a late event: the rerun writes part 2
    second = land_window(hook, plan_for(hook, DAY, DAY + HOUR), LOG)
    assert second.part == 2
    assert [info.asset.uri for info in collector.collected_assets.outputs] == [first.uri, second.uri]
    assert collector.collected_assets.inputs == []  # checking part 1 is not reading it

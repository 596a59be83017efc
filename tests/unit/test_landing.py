"""Destination checks, object keys and the write-then-move landing, on a local folder."""

from __future__ import annotations

import gzip
import json
from datetime import date, datetime, timedelta, timezone

import pytest
from airflow.sdk import BaseHook, ObjectStoragePath

from airflow_webflow_audit.exceptions import (
    WebflowConfigurationError,
    WebflowLandingConflictError,
    WebflowLandingError,
)
from airflow_webflow_audit.landing import storage, writer
from airflow_webflow_audit.landing.horizon import coverage_of
from airflow_webflow_audit.landing.layout import (
    MANIFEST_SUFFIX,
    UNKNOWN,
    asset_uri,
    check_destination,
    classify_name,
    format_key_time,
    is_canonical,
    parse_day_folder,
    parse_object_name,
    window_object_path,
)
from airflow_webflow_audit.operators.audit_logs import WebflowAuditLogsOperator
from tests.conftest import event
from tests.landing_helpers import all_keys, land_events, snapshot

UTC = timezone.utc


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        ("s3://aws_default@audit-bucket/webflow/logs", ("s3", "audit-bucket/webflow/logs")),
        ("s3://audit-bucket", ("s3", "audit-bucket")),
        ("gs://gcp_conn@audit-bucket/p", ("gs", "audit-bucket/p")),
        ("GS://audit-bucket/p", ("gs", "audit-bucket/p")),
        ("file:///var/lib/audit", ("file", "/var/lib/audit")),
        (ObjectStoragePath("file:///var/lib/audit"), ("file", "/var/lib/audit")),
    ],
)
def test_good_destinations(destination, expected):
    assert check_destination(destination) == expected


@pytest.mark.parametrize(
    ("destination", "message"),
    [
        ("audit-bucket/prefix", "no URL scheme"),
        ("/var/lib/audit", "no URL scheme"),
        ("ftp://host/path", "not supported"),
        ("http://host/path", "not supported"),
        ("file://var/lib/audit", "absolute"),
        ("s3://aws_default@/prefix", "no bucket"),
        ("", "must be an ObjectStoragePath or a URL"),
        (42, "must be an ObjectStoragePath or a URL"),
        (None, "must be an ObjectStoragePath or a URL"),
    ],
)
def test_bad_destinations_name_the_fix(destination, message):
    with pytest.raises(WebflowConfigurationError, match=message) as caught:
        check_destination(destination)
    if message != "not supported":
        assert "s3://<aws_conn_id>@bucket/prefix" in str(caught.value) or "file:///" in str(caught.value)


def test_building_the_operator_looks_up_no_connection(monkeypatch):
    def no_lookups(*args, **kwargs):
        raise AssertionError("a connection was looked up while the DAG was parsed")

    monkeypatch.setattr(BaseHook, "get_connection", no_lookups)
    operator = WebflowAuditLogsOperator(
        task_id="t", workspace="ws", destination="s3://missing_conn@audit-bucket/webflow/"
    )
    (asset,) = operator.outlets
    assert asset.uri == "s3://audit-bucket/webflow/workspace=ws"


def test_asset_uris_drop_the_connection_id():
    assert asset_uri("gs://conn@b/p/", "ws") == "gs://b/p/workspace=ws"
    assert asset_uri("file:///srv/audit/", "ws") == "file:///srv/audit/workspace=ws"


def test_a_filtered_asset_is_another_asset():
    assert asset_uri("s3://c@b/p", "ws", ["user_access", "custom_role"]) == (
        "s3://b/p/workspace=ws/event_types=custom_role,user_access"
    )
    assert asset_uri("s3://c@b/p", "ws", None) == "s3://b/p/workspace=ws"


@pytest.mark.parametrize(
    ("event_types", "file_format", "name"),
    [
        (None, "jsonl.gz", "audit_logs_20261001T230000Z_20261002T000000Z.jsonl.gz"),
        (["custom_role"], "jsonl.gz", "audit_logs_20261001T230000Z_20261002T000000Z.event_types=custom_role.jsonl.gz"),
        (
            ["user_access", "custom_role", "user_access"],
            "parquet",
            "audit_logs_20261001T230000Z_20261002T000000Z.event_types=custom_role,user_access.parquet",
        ),
    ],
)
def test_an_object_name_says_what_it_holds_and_reads_back(event_types, file_format, name):
    start = datetime(2026, 10, 1, 23, tzinfo=UTC)
    end = start + timedelta(hours=1)
    path = window_object_path(
        ObjectStoragePath("file:///srv/a"),
        workspace="ws",
        start=start,
        end=end,
        file_format=file_format,
        event_types=event_types,
    )
    assert path.name == name
    expected_types = None if event_types is None else tuple(sorted(set(event_types)))
    assert parse_object_name(name) == (start, end, expected_types, file_format, 1)
    assert parse_object_name(name + MANIFEST_SUFFIX) is None
    assert parse_object_name("." + name + ".0123456789ab.partial") is None


def test_later_parts_carry_their_number_and_read_back():
    start = datetime(2026, 10, 1, 23, tzinfo=UTC)
    end = start + timedelta(hours=1)
    root = ObjectStoragePath("file:///srv/a")
    second = window_object_path(root, workspace="ws", start=start, end=end, file_format="jsonl.gz", part=2)
    assert second.name == "audit_logs_20261001T230000Z_20261002T000000Z.part-0002.jsonl.gz"
    assert parse_object_name(second.name) == (start, end, None, "jsonl.gz", 2)
    filtered = window_object_path(
        root, workspace="ws", start=start, end=end, file_format="parquet", event_types=["custom_role"], part=12
    )
    assert filtered.name.endswith(".event_types=custom_role.part-0012.parquet")
    assert parse_object_name(filtered.name).part == 12
    # Never a dot first, always the format last: globbing readers see every part.
    assert not second.name.startswith(".")
    assert second.name.endswith(".jsonl.gz")
    # The first part is never numbered; a name that numbers it is not one this provider writes.
    assert parse_object_name("audit_logs_20261001T230000Z_20261002T000000Z.part-0001.jsonl.gz") is None


def test_key_times_are_utc_basic_iso():
    assert format_key_time(datetime(2026, 10, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))) == "20261001T000000Z"
    assert format_key_time(datetime(2026, 10, 1, 0, 0, 0, 500, tzinfo=UTC)) == "20261001T000000.000500Z"


def test_object_key_layout_uses_the_utc_day_of_the_start():
    start = datetime(2026, 10, 1, 23, tzinfo=UTC)
    path = window_object_path(
        ObjectStoragePath("file:///srv/a"),
        workspace="ws",
        start=start,
        end=start + timedelta(hours=1),
        file_format="jsonl.gz",
    )
    assert str(path) == "file:///srv/a/workspace=ws/dt=2026-10-01/audit_logs_20261001T230000Z_20261002T000000Z.jsonl.gz"
    with pytest.raises(WebflowConfigurationError):
        window_object_path(
            ObjectStoragePath("file:///srv/a"), workspace="../x", start=start, end=start, file_format="x"
        )


def _land(root: ObjectStoragePath, events):
    path = root / "k" / "audit_logs.jsonl.gz"
    return path, land_events(path, ([item] for item in events), manifest={"m": 1})


def test_the_gzip_header_carries_no_time_or_name(tmp_path):
    root = ObjectStoragePath(f"file://{tmp_path}")
    path, landed = _land(root, [event("2026-10-01T00:00:00.000Z")])
    data = path.read_bytes()
    assert data[3] == 0  # FLG: no FNAME, no FCOMMENT, no FEXTRA
    assert data[4:8] == b"\0\0\0\0"  # MTIME
    assert landed.records == 1


def test_unencodable_text_is_kept_as_json_escapes(tmp_path):
    root = ObjectStoragePath(f"file://{tmp_path}")
    odd = event("2026-10-01T00:00:00.000Z", payload={"note": "caf\u00e9 \ud800 \U0001f600"})
    plain = event("2026-10-01T00:00:00.001Z", payload={"note": "na\u00efve"})
    path, _ = _land(root, [odd, plain])
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [odd, plain]
    assert "na\u00efve" in lines[1]  # readable where it can be


@pytest.mark.parametrize("failure", [RuntimeError("API gone"), KeyboardInterrupt()], ids=["error", "interrupt"])
def test_a_failure_while_streaming_leaves_no_key_behind(tmp_path, failure):
    root = ObjectStoragePath(f"file://{tmp_path}")

    def events():
        for n in range(5000):
            yield event(f"2026-10-01T00:00:{n // 1000:02d}.{n % 1000:03d}Z")
        raise failure

    with pytest.raises(type(failure)):  # the source's own error, not relabelled as a storage failure
        _land(root, events())
    assert all_keys(root) == []


def test_a_landed_object_is_never_replaced(tmp_path):
    root = ObjectStoragePath(f"file://{tmp_path}")
    _, first = _land(root, [event("2026-10-01T00:00:00.000Z")])
    before = snapshot(root)
    with pytest.raises(WebflowLandingConflictError, match="another landing of this window created it first"):
        _land(root, [event("2026-10-01T00:00:00.000Z"), event("2026-10-01T00:00:01.000Z")])
    assert snapshot(root) == before  # same keys (no temporary left), same bytes
    assert first.manifest_uri.endswith(MANIFEST_SUFFIX)


def test_a_failed_link_leaves_nothing_at_the_final_key(tmp_path, monkeypatch):
    root = ObjectStoragePath(f"file://{tmp_path}")

    def broken_link(source, target):
        raise OSError("storage went away")

    monkeypatch.setattr(storage.os, "link", broken_link)
    with pytest.raises(WebflowLandingError, match="went away") as caught:
        _land(root, [event("2026-10-01T00:00:00.000Z")])
    assert "Nothing was created at the final key" in str(caught.value)
    assert all_keys(root) == []


def test_a_manifest_is_created_once(tmp_path):
    root = ObjectStoragePath(f"file://{tmp_path}")
    writer.create_object(root / "m.json", b"{}")
    with pytest.raises(WebflowLandingConflictError):
        writer.create_object(root / "m.json", b'{"other": 1}')
    assert (root / "m.json").read_bytes() == b"{}"
    assert all_keys(root) == ["m.json"]


def test_the_manifest_is_written_after_the_data_and_describes_it(tmp_path):
    root = ObjectStoragePath(f"file://{tmp_path}")
    path, landed = _land(root, [event("2026-10-01T00:00:00.000Z")] * 3)
    manifest = json.loads(ObjectStoragePath(landed.manifest_uri).read_bytes())
    assert manifest["m"] == 1
    assert manifest["records"] == 3
    assert manifest["object"]["size_bytes"] == len(path.read_bytes())


@pytest.mark.parametrize(
    ("earliest_hour", "coverage"),
    [
        (None, "complete"),  # nothing served at all says nothing about retention
        (0, "complete"),  # the window starts exactly at the oldest event
        (1, "partly_before_earliest_available"),
        (2, "before_earliest_available"),  # ends exactly at it: [start, end) holds none of what is served
        (5, "before_earliest_available"),
    ],
)
def test_coverage_of_a_window_against_the_oldest_event_served(earliest_hour, coverage):
    start = datetime(2026, 10, 1, tzinfo=UTC)
    earliest = None if earliest_hour is None else start + timedelta(hours=earliest_hour)
    assert coverage_of(start, start + timedelta(hours=2), earliest) == coverage


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("audit_logs_20261002T000000Z_20261003T000000Z.jsonl.gz", True),
        ("audit_logs_20261002T000000Z_20261003T000000Z.jsonl.gz.manifest.json", True),
        ("audit_logs_20261002T000000.250000Z_20261003T000000Z.parquet", True),
        ("audit_logs_20261002T000000Z_20261003T000000Z.part-0002.jsonl.gz", True),
        ("audit_logs_20261002T000000Z_20261003T000000Z.part-10000.jsonl.gz", True),
        ("audit_logs_20261002T000000Z_20261003T000000Z.event_types=custom_role,user_access.jsonl.gz", True),
        ("audit_logs_20261002T000000.000000Z_20261003T000000Z.jsonl.gz", False),
        ("audit_logs_20261002T000000Z_20261003T000000.000000Z.jsonl.gz", False),
        ("audit_logs_20261002T000000Z_20261003T000000Z.part-00002.jsonl.gz", False),
        ("audit_logs_20261002T000000Z_20261003T000000Z.event_types=user_access,custom_role.jsonl.gz", False),
        ("audit_logs_20261002T000000Z_20261003T000000Z.event_types=custom_role,custom_role.jsonl.gz", False),
        ("audit_logs_20261002T000000Z_20261003T000000Z.jsonl.gz.manifest.json.manifest.json", False),
        ("audit_logs_20261302T000000Z_20261003T000000Z.jsonl.gz", False),  # month 13: digits, no date
    ],
)
def test_a_name_is_the_layouts_only_as_the_layout_spells_it(name, canonical):
    assert is_canonical(name) is canonical
    kind, parsed = classify_name(name, date(2026, 10, 2))
    assert (kind != UNKNOWN) is canonical
    if canonical:
        assert parsed is not None
        assert parsed.spelled() == name.removesuffix(MANIFEST_SUFFIX)


def test_day_folders_have_one_spelling():
    assert parse_day_folder("dt=2026-10-02") == date(2026, 10, 2)
    assert parse_day_folder("dt=2026-02-30") is None
    assert parse_day_folder("dt=2026-10-02-extra") is None

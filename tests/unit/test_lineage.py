"""Lineage: only the data objects reach the hook-lineage collector, under plain URIs; the landing
operator's OpenLineage datasets follow OpenLineage's naming spec."""

from __future__ import annotations

from datetime import timedelta

import airflow.sdk.lineage
import pytest
from airflow.sdk import ObjectStoragePath
from airflow.sdk.lineage import HookLineageCollector

from airflow_webflow_audit.landing.reader import LandedObject, PartLines, measure_object
from airflow_webflow_audit.landing.storage import read_if_present
from airflow_webflow_audit.landing.writer import check_destination_writable
from airflow_webflow_audit.lineage import dataset_name, endpoint_dataset_name, plain_uri
from airflow_webflow_audit.operators.landing_lineage import landing_lineage
from tests.conftest import DAY0, event
from tests.landing_helpers import land_events


@pytest.fixture
def collector(monkeypatch) -> HookLineageCollector:
    """A real collector, as Airflow gives one when a lineage reader (OpenLineage) is installed."""
    collector = HookLineageCollector()
    monkeypatch.setattr(airflow.sdk.lineage, "get_hook_lineage_collector", lambda: collector)
    return collector


def uris(assets) -> list[str]:
    return [info.asset.uri for info in assets]


def test_a_landing_reports_only_its_final_object(tmp_path, collector):
    destination = ObjectStoragePath(f"file://{tmp_path}/out")
    final = destination / "audit_logs_x.jsonl.gz"
    check_destination_writable(destination)  # the write probe
    land_events(final, [[event("2026-10-01T00:00:00.000Z")]])  # temporary key, move, manifest
    assert uris(collector.collected_assets.outputs) == [f"file://{tmp_path}/out/audit_logs_x.jsonl.gz"]
    assert uris(collector.collected_assets.inputs) == []


def test_reading_a_landed_windows_events_reports_the_object_and_judging_it_reports_nothing(tmp_path, collector):
    final = ObjectStoragePath(f"file://{tmp_path}/audit_logs_x.jsonl.gz")
    landed = land_events(final, [[event("2026-10-01T00:00:00.000Z")]])
    assert read_if_present(ObjectStoragePath(f"{final}.manifest.json")) is not None
    measure_object(final, "jsonl.gz")  # what the chain judge is given: a landing rerun's own earlier part
    assert uris(collector.collected_assets.inputs) == []
    assert len(list(PartLines(LandedObject(DAY0, DAY0 + timedelta(days=1), final), landed.manifest))) == 1
    assert uris(collector.collected_assets.inputs) == [f"file://{tmp_path}/audit_logs_x.jsonl.gz"]


@pytest.mark.parametrize(
    ("uri", "namespace", "name"),
    [
        ("s3://aws_default@audit-bucket/webflow/k.jsonl.gz", "s3://audit-bucket", "webflow/k.jsonl.gz"),
        ("s3://audit-bucket/k.parquet", "s3://audit-bucket", "k.parquet"),
        ("gs://gcp_conn@audit-bucket/p/k.jsonl.gz", "gs://audit-bucket", "p/k.jsonl.gz"),
        ("gcs://audit-bucket/p/k.jsonl.gz", "gs://audit-bucket", "p/k.jsonl.gz"),
        ("file:///var/lib/audit/k.jsonl.gz", "file", "/var/lib/audit/k.jsonl.gz"),
    ],
)
def test_object_datasets_are_named_as_openlineage_names_them(uri, namespace, name):
    path = ObjectStoragePath(uri)
    assert dataset_name(path) == (namespace, name)
    assert plain_uri(path) == (f"file://{name}" if namespace == "file" else f"{namespace}/{name}")


@pytest.mark.parametrize(
    ("base_url", "namespace", "name"),
    [
        ("https://api.webflow.com", "https://api.webflow.com", "/v2/workspaces/ws/audit_logs"),
        ("http://127.0.0.1:8181/", "http://127.0.0.1:8181", "/v2/workspaces/ws/audit_logs"),
        ("https://user:secret@proxy.example/webflow", "https://proxy.example", "/webflow/v2/workspaces/ws/audit_logs"),
    ],
)
def test_the_endpoint_dataset_is_the_base_url_and_the_audit_log_path(base_url, namespace, name):
    assert endpoint_dataset_name(base_url, "ws") == (namespace, name)


def test_a_parquet_landing_carries_its_schema_and_statistics(tmp_path):
    pytest.importorskip("pyarrow")
    path = ObjectStoragePath(f"file://{tmp_path}/k.parquet")
    landed = land_events(path, [[event("2026-10-01T00:00:00.000Z")] * 3], file_format="parquet")
    lineage = landing_lineage(
        base_url="https://api.webflow.com", workspace="ws", landed=[landed], file_format="parquet"
    )
    (output,) = lineage.outputs
    assert (output.namespace, output.name) == ("file", f"{tmp_path}/k.parquet")
    statistics = output.outputFacets["outputStatistics"]
    assert (statistics.rowCount, statistics.size) == (3, landed.size_bytes)
    assert [field.name for field in output.facets["schema"].fields][:2] == ["timestamp", "event_type"]


def test_without_a_landing_only_the_endpoint_is_named():
    lineage = landing_lineage(base_url="https://api.webflow.com", workspace="ws", landed=[], file_format="jsonl.gz")
    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        ("https://api.webflow.com", "/v2/workspaces/ws/audit_logs")
    ]
    assert lineage.outputs == []

"""WebflowAuditOCSFOperator on windows landed from the simulator: Security Lake's layout, valid OCSF 1.3.0,
every landed event exactly once, nothing replaced on a rerun, late parts added alone, incomplete ranges refused.
"""

from __future__ import annotations

import gzip
import json
import tracemalloc
from collections import Counter
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.exceptions import WebflowRangeIncompleteError
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.landing.layout import MANIFEST_SUFFIX
from airflow_webflow_audit.ocsf import convert as convert_module
from airflow_webflow_audit.ocsf.lake import DEFAULT_CUSTOM_SOURCES
from airflow_webflow_audit.ocsf.mapping import to_ocsf
from airflow_webflow_audit.ocsf.schema import from_row
from airflow_webflow_audit.operators.ocsf import WebflowAuditOCSFOperator
from airflow_webflow_audit.operators.reconcile import WebflowAuditLogsReconcileOperator
from airflow_webflow_audit.testing.simulator import generate_events
from tests.conftest import DAY0
from tests.landing_helpers import make_operator, run_window, snapshot
from tests.ocsf_checks import ocsf_problems, page_sizes
from tests.storage_servers import AWS_CONN_ID

pytestmark = pytest.mark.integration

WORKSPACE = "hitchhikers-workspace"
REGION, ACCOUNT = "us-east-1", "123456789012"
DAYS = [(DAY0 + timedelta(days=n), DAY0 + timedelta(days=n + 1)) for n in range(2)]
EVENTS = generate_events(seed=5, start=DAY0, end=DAYS[-1][1], events_per_day=1500, include_unknown_types=True)
SOURCE_OF = {name: uid for uid, name in DEFAULT_CUSTOM_SOURCES.items()}


@pytest.fixture(params=["local", "s3"])
def stores(request, tmp_path) -> dict:
    if request.param == "local":
        return {"landing": f"file://{tmp_path}/landing", "lake": f"file://{tmp_path}/lake"}
    bucket = request.getfixturevalue("s3_bucket")
    return {"landing": f"s3://{AWS_CONN_ID}@{bucket}/landing", "lake": f"s3://{AWS_CONN_ID}@{bucket}/lake"}


@pytest.fixture
def local(tmp_path) -> dict:
    return {"landing": f"file://{tmp_path}/landing", "lake": f"file://{tmp_path}/lake"}


def land(clock, destination: str, *days) -> None:
    for day in days:
        run_window(make_operator(clock, destination=destination), *day)


def ocsf_operator(stores: dict, **kwargs) -> WebflowAuditOCSFOperator:
    return WebflowAuditOCSFOperator(
        task_id="ocsf",
        workspace=WORKSPACE,
        source=stores["landing"],
        destination=stores["lake"],
        region=REGION,
        account_id=ACCOUNT,
        **kwargs,
    )


def convert(stores: dict, start: datetime, end: datetime, **kwargs) -> dict:
    return ocsf_operator(stores, **kwargs).execute({"data_interval_start": start, "data_interval_end": end})


def landed_lines(landing: str) -> Counter[bytes]:
    root = ObjectStoragePath(landing)
    lines: Counter[bytes] = Counter()
    for key, body in snapshot(root).items():
        if key.endswith(".jsonl.gz"):
            lines.update(line for line in gzip.decompress(body).splitlines())
    return lines


def lake_files(lake: str) -> dict[str, bytes]:
    return {key: body for key, body in snapshot(ObjectStoragePath(lake)).items() if key.endswith(".parquet")}


def read_lake(lake: str) -> list[tuple[str, list[dict]]]:
    """Each lake file with its rows, as (key, rows), checked against the layout on the way."""
    found = []
    for key, body in sorted(lake_files(lake).items()):
        ext, source, region, account, day, name = key.split("/")
        assert (ext, region, account) == ("ext", f"region={REGION}", f"accountId={ACCOUNT}"), key
        assert day.startswith("eventDay="), key
        assert name.startswith(f"webflow_{WORKSPACE}_"), key
        rows = pq.read_table(pa.BufferReader(body)).to_pylist()
        assert {row["class_uid"] for row in rows} == {SOURCE_OF[source]}, key  # one class per source and file
        assert {datetime.fromtimestamp(r["time"] / 1000, timezone.utc).strftime("%Y%m%d") for r in rows} == {
            day.removeprefix("eventDay=")
        }
        found.append((key, rows))
    return found


def test_a_landed_range_becomes_valid_ocsf_every_event_once_in_security_lake_layout(stores, simulator, clock):
    sim = simulator(EVENTS)
    land(clock, stores["landing"], *DAYS)
    result = convert(stores, DAYS[0][0], DAYS[-1][1])
    assert (result["events"], result["windows"], result["already_in_lake"]) == (len(EVENTS), 2, 0)
    unknown = Counter(f"{e['eventType']}.{e['eventSubType']}" for e in EVENTS if e["eventType"] == "site_publishing")
    assert unknown
    assert result["unmapped"] == dict(unknown)

    files = read_lake(stores["lake"])
    raw = Counter()
    for key, rows in files:
        times = [row["time"] for row in rows]
        assert times == sorted(times), key
        for row in rows:
            event = from_row(row["class_uid"], row)
            assert ocsf_problems(row["class_uid"], event) == [], (key, event)
            raw[event["raw_data"].encode()] += 1
    assert raw == landed_lines(stores["landing"])  # every landed event, exactly once
    assert sum(raw.values()) == len(sim.events(DAYS[0][0], DAYS[-1][1]))
    assert sum(result["rows_by_class"].values()) == len(EVENTS)
    assert len(files) == len(result["files"]) == 5 * 2  # five classes, two days

    for key, body in lake_files(stores["lake"]).items():
        metadata = pq.ParquetFile(pa.BufferReader(body)).metadata
        assert {metadata.row_group(0).column(c).compression for c in range(metadata.num_columns)} == {"ZSTD"}, key
        assert max(size for _, size, _ in page_sizes(body)) <= 1 << 20, key


def test_duckdb_counts_per_class_and_day_equal_the_source_windows(local, simulator, clock):
    simulator(EVENTS)
    land(clock, local["landing"], *DAYS)
    convert(local, DAYS[0][0], DAYS[-1][1])
    lake = local["lake"].removeprefix("file://")
    counted = duckdb.sql(
        f"SELECT class_uid, eventDay, count(*) FROM read_parquet('{lake}/ext/*/*/*/*/*.parquet', "
        "hive_partitioning = true) GROUP BY ALL"
    ).fetchall()
    expected: Counter = Counter()
    for event in EVENTS:
        converted = to_ocsf(json.dumps(event).encode(), event)
        expected[(converted.ocsf_class.uid, event["timestamp"][:10].replace("-", ""))] += 1
    assert {(uid, str(day)): n for uid, day, n in counted} == dict(expected)


def test_a_rerun_writes_nothing_and_a_late_part_is_added_alone(stores, simulator, clock):
    sim = simulator(EVENTS)
    land(clock, stores["landing"], DAYS[0])
    first = convert(stores, *DAYS[0])
    before = lake_files(stores["lake"])

    again = convert(stores, *DAYS[0])
    assert (again["files"], again["already_in_lake"]) == ([], first["events"])
    assert lake_files(stores["lake"]) == before

    late = dict(sim.events(*DAYS[0])[0], timestamp="2026-10-01T09:30:00.125Z")
    sim.insert_event(late)
    reconcile = WebflowAuditLogsReconcileOperator(
        task_id="reconcile",
        workspace=WORKSPACE,
        destination=stores["landing"],
        start=DAYS[0][0].isoformat(),
        end=DAYS[0][1].isoformat(),
    )
    reconcile.hook = WebflowHook(reconcile.webflow_conn_id, clock=clock)
    assert [r["part"] for r in reconcile.execute({})["relanded"]] == [2]

    after_late = convert(stores, *DAYS[0])
    assert (after_late["events"], after_late["already_in_lake"]) == (first["events"] + 1, first["events"])
    assert [f["rows"] for f in after_late["files"]] == [1]
    now = lake_files(stores["lake"])
    assert {key: now[key] for key in before} == before  # nothing replaced
    (new_key,) = set(now) - set(before)
    (row,) = pq.read_table(pa.BufferReader(now[new_key])).to_pylist()
    assert json.loads(row["raw_data"]) == late
    raw = Counter(row["raw_data"].encode() for _, rows in read_lake(stores["lake"]) for row in rows)
    assert raw == landed_lines(stores["landing"])
    assert convert(stores, *DAYS[0])["files"] == []


def test_a_run_stopped_half_way_is_finished_by_the_next_without_duplicates(local, simulator, clock, monkeypatch):
    simulator(EVENTS)
    land(clock, local["landing"], *DAYS)
    finish = convert_module._LakeFileWriter.finish
    calls = []

    def failing_third(self):
        calls.append(self.path)
        if len(calls) == 3:
            raise OSError("storage went away")
        return finish(self)

    monkeypatch.setattr(convert_module._LakeFileWriter, "finish", failing_third)
    with pytest.raises(OSError, match="storage went away"):
        convert(local, DAYS[0][0], DAYS[-1][1])
    monkeypatch.setattr(convert_module._LakeFileWriter, "finish", finish)
    partial = lake_files(local["lake"])
    assert 0 < len(partial) < 10
    convert(local, DAYS[0][0], DAYS[-1][1])
    raw = Counter(row["raw_data"].encode() for _, rows in read_lake(local["lake"]) for row in rows)
    assert raw == landed_lines(local["landing"])
    assert all(not key.rsplit("/", 1)[-1].startswith(".") for key in snapshot(ObjectStoragePath(local["lake"])))


def test_an_incomplete_range_is_refused_naming_the_window_and_nothing_is_written(local, simulator, clock):
    simulator(EVENTS)
    land(clock, local["landing"], DAYS[1])  # the first day is missing
    with pytest.raises(WebflowRangeIncompleteError, match=r"gap \[2026-10-01T00:00:00\+00:00, 2026-10-02"):
        convert(local, DAYS[0][0], DAYS[-1][1])
    assert lake_files(local["lake"]) == {}

    root = ObjectStoragePath(local["landing"])
    (manifest,) = [key for key in snapshot(root) if key.endswith(MANIFEST_SUFFIX)]
    (root / manifest).write_bytes((root / manifest).read_bytes().replace(b'"records": ', b'"records": 1'))
    with pytest.raises(WebflowRangeIncompleteError, match="corrupt"):
        convert(local, *DAYS[1])
    assert lake_files(local["lake"]) == {}


def test_an_asset_scheduled_run_converts_the_windows_its_asset_events_name(local, simulator, clock):
    simulator(EVENTS)
    land(clock, local["landing"], *DAYS)
    owner = {"destination": local["landing"], "workspace": WORKSPACE, "event_types": None}
    events = [SimpleNamespace(extra={**owner, "start": s.isoformat(), "end": e.isoformat()}) for s, e in DAYS[1:]]
    # An event landed by an earlier version (event_types a list) is read too.
    old_shape = {"destination": local["landing"], "workspace": WORKSPACE, "event_types": []}
    events.append(SimpleNamespace(extra={**old_shape, "start": DAYS[0][0].isoformat(), "end": DAYS[0][1].isoformat()}))
    events.append(
        SimpleNamespace(extra={"destination": local["landing"], "workspace": "another-workspace", "start": "x"})
    )
    result = ocsf_operator(local).execute({"triggering_asset_events": {"asset": events}})
    assert result["ranges"] == [{"start": DAYS[0][0].isoformat(), "end": DAYS[-1][1].isoformat()}]
    assert result["events"] == len(EVENTS)


def test_memory_stays_flat_as_the_window_grows(local, simulator, clock, monkeypatch):
    """Peak memory of converting a window, and one 4x larger: it must not grow with the window."""
    monkeypatch.setattr(convert_module, "ROW_GROUP_ROWS", 200)
    landed = []
    for n, per_day in enumerate((2000, 8000)):
        events = generate_events(seed=9, start=DAY0, end=DAYS[0][1], events_per_day=per_day)
        simulator(events)
        land(clock, f"{local['landing']}-{n}", DAYS[0])
        landed.append(len(events))
    # Once untraced first: imports and caches are not the window's.
    convert({"landing": f"{local['landing']}-0", "lake": f"{local['lake']}-warm"}, *DAYS[0])
    peaks = []
    for n, count in enumerate(landed):
        tracemalloc.start()
        result = convert({"landing": f"{local['landing']}-{n}", "lake": f"{local['lake']}-{n}"}, *DAYS[0])
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert result["events"] == count
    assert peaks[1] < peaks[0] * 1.5, peaks

"""A real backfill: api-server, scheduler and dag-processor on loopback run `airflow backfill create`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.landing.layout import MANIFEST_SUFFIX
from airflow_webflow_audit.testing.deployment import Deployment, running
from tests.conftest import DAY0
from tests.e2e.conftest import DAGS_FOLDER
from tests.landing_helpers import read_events, read_manifest, sha256_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAG_ID = "example_webflow_audit_logs_to_local"
DAYS = 3
STARTUP_TIMEOUT = 180
RUN_TIMEOUT = 240


@pytest.fixture
def sim(simulator):
    """Started before the services, so their environment carries its connection."""
    return simulator(days=DAYS + 1)


@pytest.fixture
def airflow_services(sim, airflow_home: Path, tmp_path: Path) -> Iterator[Deployment]:
    """api-server + scheduler + dag-processor, all on 127.0.0.1; stopped (process groups) at teardown."""
    env = {"WEBFLOW_AUDIT_LOCAL_DESTINATION": f"file://{tmp_path}/landing"}
    with running(airflow_home, logs=tmp_path, dags_folder=DAGS_FOLDER, env=env) as deployment:
        yield deployment


@pytest.mark.timeout(STARTUP_TIMEOUT + RUN_TIMEOUT + 120)
def test_backfill_lands_one_whole_window_per_day(sim, airflow_services, tmp_path):
    deployment = airflow_services
    destination = deployment.env["WEBFLOW_AUDIT_LOCAL_DESTINATION"]

    deployment.wait_for(
        "the dag-processor to serialize the DAG", lambda: deployment.dag_is_serialized(DAG_ID), STARTUP_TIMEOUT
    )
    deployment.cli("dags", "unpause", DAG_ID)
    last_day = DAY0 + timedelta(days=DAYS - 1)
    deployment.cli(
        "backfill",
        "create",
        "--dag-id",
        DAG_ID,
        "--from-date",
        DAY0.isoformat(),
        "--to-date",
        last_day.isoformat(),
    )

    def backfill_states() -> list[str]:
        rows = deployment.query("select state from dag_run where dag_id = ? and run_type = 'backfill'", DAG_ID)
        return [state for (state,) in rows]

    deployment.wait_for(
        f"{DAYS} backfill runs to finish",
        lambda: len(backfill_states()) == DAYS and all(s in ("success", "failed") for s in backfill_states()),
        RUN_TIMEOUT,
    )
    assert backfill_states() == ["success"] * DAYS, (tmp_path / "scheduler.log").read_text()[-5000:]

    root = ObjectStoragePath(destination) / "workspace=hitchhikers-workspace"
    landed_events = []
    for day in range(DAYS):
        start, end = DAY0 + timedelta(days=day), DAY0 + timedelta(days=day + 1)
        folder = root / f"dt={start:%Y-%m-%d}"
        name = f"audit_logs_{start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}.jsonl.gz"
        assert sorted(p.name for p in folder.iterdir()) == [name, name + MANIFEST_SUFFIX]
        events = read_events(str(folder / name))
        manifest = read_manifest(str(folder / (name + MANIFEST_SUFFIX)))
        assert events == sim.events(start, end)
        assert manifest["records"] == len(events) > 0
        assert manifest["object"]["sha256"] == sha256_of(str(folder / name))
        assert manifest["airflow"]["run_id"].startswith("backfill__")
        landed_events.extend(events)
    # Together the windows hold every event of the range once: none lost, none in two windows.
    assert landed_events == sim.events(DAY0, DAY0 + timedelta(days=DAYS))

    # Each run emitted an asset event naming its window's object and count, for downstream DAGs.
    rows = deployment.query(
        "select a.uri, e.extra from asset_event e join asset a on a.id = e.asset_id "
        "where e.source_dag_id = ? and e.source_run_id like 'backfill__%'",
        DAG_ID,
    )
    extras = sorted((json.loads(extra) for _, extra in rows), key=lambda extra: extra["start"])
    assert {uri for uri, _ in rows} == {f"{destination}/workspace=hitchhikers-workspace"}
    assert [extra["records"] for extra in extras] == [
        len(sim.events(DAY0 + timedelta(days=d), DAY0 + timedelta(days=d + 1))) for d in range(DAYS)
    ]
    assert all(extra["uri"].endswith(".jsonl.gz") for extra in extras)

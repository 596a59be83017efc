"""The DAG shapes of ``dag_shapes/e2e_webflow_dag_shapes.py`` through ``airflow dags test``: every
task lands the window, whatever Airflow resolves its arguments from."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from airflow_webflow_audit.testing.simulator.generator import DEFAULT_WORKSPACE_ID
from tests.conftest import DAY0
from tests.e2e.conftest import run_airflow
from tests.landing_helpers import read_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHAPES_FOLDER = Path(__file__).parent / "dag_shapes"
WINDOW = (DAY0, DAY0 + timedelta(days=1))
NAME = "audit_logs_20261001T000000Z_20261002T000000Z"


def key(workspace: str, label: str = "") -> str:
    return f"workspace={workspace}/dt=2026-10-01/{NAME}{label}.jsonl.gz"


def test_xcom_args_mapping_task_groups_and_the_default_workspace_all_land(simulator, airflow_home, tmp_path):
    sim = simulator()
    destination = f"file://{tmp_path}/shapes"
    second = json.loads(sim.connection_json())
    second["extra"] = {}  # a second connection, no default workspace: its tasks name one
    result = run_airflow(
        airflow_home,
        "dags",
        "test",
        "e2e_webflow_dag_shapes",
        WINDOW[1].isoformat(),
        AIRFLOW__CORE__DAGS_FOLDER=str(SHAPES_FOLDER),
        WEBFLOW_E2E_DESTINATION=destination,
        AIRFLOW_CONN_WEBFLOW_SECOND_TOKEN=json.dumps(second),
    )
    truth = sim.events(*WINDOW)
    slug, wid = "hitchhikers-workspace", DEFAULT_WORKSPACE_ID
    landed = {
        "xcom": read_events(f"{destination}/xcom/{key(slug, '.event_types=custom_role')}"),
        "expand slug": read_events(f"{destination}/expand/{key(slug)}"),
        "expand id": read_events(f"{destination}/expand/{key(wid)}"),
        "kwargs slug": read_events(f"{destination}/kwargs/{key(slug)}"),
        "kwargs id (second connection)": read_events(f"{destination}/kwargs/{key(wid)}"),
        "group slug": read_events(f"{destination}/group/{key(slug)}"),
        "group id": read_events(f"{destination}/group/{key(wid)}"),
        "default workspace": read_events(f"{destination}/default/{key(slug)}"),
    }
    assert landed.pop("xcom") == sim.events(*WINDOW, "custom_role")
    for shape, events in landed.items():
        assert events == truth, shape
    logs = result.stdout + result.stderr
    assert "sense_from_xcom" in logs
    assert sim.token not in logs

"""The DAG shapes of ``dag_shapes/e2e_webflow_dag_shapes.py`` through ``airflow dags test``: every
task lands the window, whatever Airflow resolves its arguments from, and OpenLineage (its file
transport) names the final objects and never a temporary key."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_webflow_audit.testing.simulator import WebflowSimulator, generate_events
from airflow_webflow_audit.testing.simulator.generator import DEFAULT_WORKSPACE_ID
from tests.conftest import DAY0, TOKEN
from tests.e2e.conftest import run_airflow
from tests.landing_helpers import read_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHAPES_FOLDER = Path(__file__).parent / "dag_shapes"
WINDOW = (DAY0, DAY0 + timedelta(days=1))
NAME = "audit_logs_20261001T000000Z_20261002T000000Z"
SLUG = "hitchhikers-workspace"


def key(workspace: str, label: str = "", file_format: str = "jsonl.gz") -> str:
    return f"workspace={workspace}/dt=2026-10-01/{NAME}{label}.{file_format}"


@dataclass(frozen=True)
class ShapesRun:
    sim: WebflowSimulator
    folder: Path
    result: subprocess.CompletedProcess
    lineage_events: list[dict[str, Any]]

    @property
    def destination(self) -> str:
        return f"file://{self.folder}"


@pytest.fixture(scope="module")
def shapes_run(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory):
    """One ``airflow dags test`` of the shapes DAG, with OpenLineage writing its events to a file."""
    events = generate_events(seed=1, start=DAY0, end=DAY0 + timedelta(days=2), events_per_day=2000)
    sim = WebflowSimulator(events, token=TOKEN).start()
    try:
        folder = tmp_path_factory.mktemp("shapes")
        lineage_file = folder.parent / f"{folder.name}-openlineage.jsonl"
        second = json.loads(sim.connection_json())
        second["extra"] = {}  # a second connection, no default workspace: its tasks name one
        result = run_airflow(
            airflow_home,
            "dags",
            "test",
            "e2e_webflow_dag_shapes",
            WINDOW[1].isoformat(),
            AIRFLOW__CORE__DAGS_FOLDER=str(SHAPES_FOLDER),
            AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps(
                {"type": "file", "log_file_path": str(lineage_file), "append": True}
            ),
            AIRFLOW__OPENLINEAGE__NAMESPACE="webflow-e2e",
            WEBFLOW_E2E_DESTINATION=f"file://{folder}",
            AIRFLOW_CONN_WEBFLOW_DEFAULT=sim.connection_json(),
            AIRFLOW_CONN_WEBFLOW_SECOND_TOKEN=json.dumps(second),
        )
        lines = lineage_file.read_text().splitlines() if lineage_file.exists() else []
        yield ShapesRun(sim, folder, result, [json.loads(line) for line in lines if line.strip()])
    finally:
        sim.stop()


def test_xcom_args_mapping_task_groups_and_the_default_workspace_all_land(shapes_run):
    sim, destination = shapes_run.sim, shapes_run.destination
    truth = sim.events(*WINDOW)
    wid = DEFAULT_WORKSPACE_ID
    landed = {
        "xcom": read_events(f"{destination}/xcom/{key(SLUG, '.event_types=custom_role')}"),
        "expand slug": read_events(f"{destination}/expand/{key(SLUG)}"),
        "expand id": read_events(f"{destination}/expand/{key(wid)}"),
        "kwargs slug": read_events(f"{destination}/kwargs/{key(SLUG)}"),
        "kwargs id (second connection)": read_events(f"{destination}/kwargs/{key(wid)}"),
        "group slug": read_events(f"{destination}/group/{key(SLUG)}"),
        "group id": read_events(f"{destination}/group/{key(wid)}"),
        "default workspace": read_events(f"{destination}/default/{key(SLUG)}"),
    }
    assert landed.pop("xcom") == sim.events(*WINDOW, "custom_role")
    for shape, events in landed.items():
        assert events == truth, shape
    logs = shapes_run.result.stdout + shapes_run.result.stderr
    assert "sense_from_xcom" in logs
    assert sim.token not in logs


def _complete_event(run: ShapesRun, task_id: str) -> dict[str, Any]:
    (event,) = [
        e for e in run.lineage_events if e.get("eventType") == "COMPLETE" and e["job"]["name"].endswith(f".{task_id}")
    ]
    return event


def test_openlineage_names_the_endpoint_and_the_final_object_with_its_statistics(shapes_run):
    assert shapes_run.lineage_events, "the OpenLineage listener wrote no event"
    event = _complete_event(shapes_run, "land_default_workspace")
    (source,) = event["inputs"]
    assert source["namespace"] == shapes_run.sim.url.rstrip("/")
    assert source["name"] == f"/v2/workspaces/{SLUG}/audit_logs"
    (output,) = event["outputs"]
    final = shapes_run.folder / "default" / key(SLUG)
    assert (output["namespace"], output["name"]) == ("file", str(final))
    manifest = json.loads(Path(f"{final}.manifest.json").read_text())
    statistics = output["outputFacets"]["outputStatistics"]
    assert (statistics["rowCount"], statistics["size"]) == (manifest["records"], manifest["object"]["size_bytes"])
    assert statistics["rowCount"] == len(shapes_run.sim.events(*WINDOW))

    parquet = _complete_event(shapes_run, "land_parquet")
    (parquet_output,) = parquet["outputs"]
    assert parquet_output["name"] == str(shapes_run.folder / "parquet" / key(SLUG, file_format="parquet"))
    fields = {field["name"]: field["type"] for field in parquet_output["facets"]["schema"]["fields"]}
    assert fields["timestamp"].startswith("timestamp")
    assert fields["payload"] == "string"


def test_openlineage_never_names_a_temporary_key_the_write_probe_or_a_manifest(shapes_run):
    text = json.dumps(shapes_run.lineage_events)
    assert ".partial" not in text
    assert "write-probe" not in text
    assert shapes_run.sim.token not in text
    datasets = [d["name"] for e in shapes_run.lineage_events for d in e.get("inputs", []) + e.get("outputs", [])]
    assert datasets, "no dataset in any event"
    assert not [name for name in datasets if name.endswith(".manifest.json") or not name.startswith("/")]

"""A real backfill: api-server, scheduler and dag-processor on loopback run `airflow backfill create`."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.landing.layout import MANIFEST_SUFFIX
from tests.conftest import DAY0
from tests.e2e.conftest import airflow_env, run_airflow
from tests.landing_helpers import read_events, read_manifest, sha256_of
from tests.storage_servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAG_ID = "example_webflow_audit_logs_to_local"
DAYS = 3
STARTUP_TIMEOUT = 180
RUN_TIMEOUT = 240


def wait_for(what: str, check: Callable[[], bool], timeout: float, processes: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        for process in processes:
            assert process.poll() is None, f"{process.args[3]} exited early while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(1)


def query(home: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(home / "airflow.db", timeout=30) as db:
        return db.execute(sql, params).fetchall()


@pytest.fixture
def sim(simulator):
    """Started before the services, so their environment carries its connection."""
    return simulator(days=DAYS + 1)


@pytest.fixture
def airflow_services(
    sim, airflow_home: Path, tmp_path: Path
) -> Iterator[tuple[dict[str, str], list[subprocess.Popen]]]:
    """api-server + scheduler + dag-processor, all on 127.0.0.1; stopped (process groups) at teardown."""
    port = free_port()
    env = airflow_env(
        airflow_home,
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        # Task workers reach the execution API here; the default assumes port 8080.
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
        WEBFLOW_AUDIT_LOCAL_DESTINATION=f"file://{tmp_path}/landing",
    )
    commands = [
        ["api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        ["scheduler", "--skip-serve-logs"],  # the log server would listen on every interface
        ["dag-processor"],
    ]
    processes = []
    for args in commands:
        log = open(tmp_path / f"{args[0]}.log", "w")  # noqa: SIM115 - closed with the process
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "airflow", *args],
                env=env,
                cwd=airflow_home,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # so teardown also stops the executor's workers
            )
        )
    try:
        yield env, processes
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def run_while_sqlite_is_busy(home, *args: str, attempts: int = 4, **env: str) -> subprocess.CompletedProcess:
    """``run_airflow``, tried again when SQLite was locked by the running scheduler or dag-processor.

    SQLite lets one writer in at a time; a CLI write that waits past its busy timeout fails with
    "database is locked" and rolls back, so trying again is safe. Real deployments use Postgres.
    """
    for _ in range(attempts - 1):
        try:
            return run_airflow(home, *args, **env)
        except AssertionError as exc:
            if "database is locked" not in str(exc):
                raise
    return run_airflow(home, *args, **env)


@pytest.mark.timeout(STARTUP_TIMEOUT + RUN_TIMEOUT + 120)
def test_backfill_lands_one_whole_window_per_day(sim, airflow_home, airflow_services, tmp_path):
    env, processes = airflow_services
    destination = env["WEBFLOW_AUDIT_LOCAL_DESTINATION"]

    wait_for(
        "the dag-processor to serialize the DAG",
        lambda: bool(query(airflow_home, "select 1 from serialized_dag where dag_id = ?", DAG_ID)),
        STARTUP_TIMEOUT,
        processes,
    )
    run_while_sqlite_is_busy(airflow_home, "dags", "unpause", DAG_ID, **env)
    last_day = DAY0 + timedelta(days=DAYS - 1)
    run_while_sqlite_is_busy(
        airflow_home,
        "backfill",
        "create",
        "--dag-id",
        DAG_ID,
        "--from-date",
        DAY0.isoformat(),
        "--to-date",
        last_day.isoformat(),
        **env,
    )

    def backfill_states() -> list[str]:
        rows = query(airflow_home, "select state from dag_run where dag_id = ? and run_type = 'backfill'", DAG_ID)
        return [state for (state,) in rows]

    wait_for(
        f"{DAYS} backfill runs to finish",
        lambda: len(backfill_states()) == DAYS and all(s in ("success", "failed") for s in backfill_states()),
        RUN_TIMEOUT,
        processes,
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
    rows = query(
        airflow_home,
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

"""A real Airflow metadata database (SQLite, ``airflow db migrate``) for the CLI end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = ROOT / "dags"
POOL = "webflow_api"


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of an ``airflow`` command: this test's connections plus the e2e home."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        **extra,
    }
    return env


def run_airflow(home: Path, *args: str, timeout: float = 300, **extra_env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        env=airflow_env(home, **extra_env),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"airflow {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An AIRFLOW_HOME with a migrated SQLite database and the examples' pool."""
    home = tmp_path_factory.mktemp("airflow-home")
    run_airflow(home, "db", "migrate")
    run_airflow(home, "pools", "set", POOL, "2", "Caps concurrent calls on one Webflow token")
    return home

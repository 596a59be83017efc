"""A real Airflow metadata database (SQLite, ``airflow db migrate``) for the CLI end-to-end tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from airflow_webflow_audit.testing import deployment

ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = ROOT / "dags"
POOL = "webflow_api"


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of an ``airflow`` command: this test's connections plus the e2e home."""
    return deployment.airflow_env(home, DAGS_FOLDER, **extra)


def run_airflow(home: Path, *args: str, timeout: float = 300, **extra_env: str) -> subprocess.CompletedProcess:
    return deployment.run_cli(airflow_env(home, **extra_env), *args, timeout=timeout)


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An AIRFLOW_HOME with a migrated SQLite database and the examples' pool."""
    return deployment.prepare_home(tmp_path_factory.mktemp("airflow-home"), dags_folder=DAGS_FOLDER, pools={POOL: 2})
